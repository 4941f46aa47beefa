set -u
OUT=$1
TEST_CLASSES="WgmmaForwardTests WgmmaTests TensorCoreMaskBitsTests MaskBitsTests BlockMaskTests BlockMaskValidationTests BiasMaskForwardTests TensorCoreForwardTests EntryPointTests" \
  TEST_TIMEOUT=300 bash scripts/gpu-tc.sh $OUT tests
APP=/tmp/app/FlashAttention.Bench
for round in 1 2; do
  for pf in 0 1; do
    FLASH_BIAS_PREFETCH=$pf timeout 100 $APP bench --device cuda --kernels tc,tc+bias --dtype float16 --headdims 64,128 --seqlens 8192 --causal no \
      --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json $OUT/bias-pf$pf-$round.json > $OUT/bias-pf$pf-$round.log 2>&1
    python3 -c "import json; print('prefetch=$pf round $round', ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open('$OUT/bias-pf$pf-$round.json'))['results']))"
  done
done
FLASH_BIAS_PREFETCH=1 timeout 100 $APP bench --device cuda --kernels tc,tc+bias --dtype float16 --headdims 128 --seqlens 8192 --causal yes \
      --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json $OUT/bias-causal.json > $OUT/bias-causal.log 2>&1
python3 -c "import json; print('causal', ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open('$OUT/bias-causal.json'))['results']))"
cd $OUT && tar czf logs.tgz *.log *.json && rm -f bias-*.log bias-*.json
