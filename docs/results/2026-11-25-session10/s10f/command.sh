set -u
OUT=$1
TEST_CLASSES="WgmmaForwardTests" TEST_TIMEOUT=200 bash scripts/gpu-tc.sh $OUT ptx tests
APP=/tmp/app/FlashAttention.Bench
for round in 1 2; do
  for st in 0 1; do
    FLASH_STAGED_BIAS=$st timeout 100 $APP bench --device cuda --kernels tc,tc+bias,wg12@1+bias --dtype float16 --headdims 64,128 --seqlens 8192 --causal no \
      --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json $OUT/staged$st-$round.json > $OUT/staged$st-$round.log 2>&1
    python3 -c "import json; print('staged=$st round $round', ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open('$OUT/staged$st-$round.json'))['results']))"
  done
done
for st in 0 1; do
  FLASH_STAGED_BIAS=$st timeout 100 $APP bench --device cuda --kernels tc,tc+bias --dtype float16 --headdims 128 --seqlens 8192 --causal yes \
      --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json $OUT/causal$st.json > $OUT/causal$st.log 2>&1
  python3 -c "import json; print('causal staged=$st', ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open('$OUT/causal$st.json'))['results']))"
done
cd $OUT && tar czf runs.tgz staged*.json staged*.log causal*.json causal*.log && rm -f staged*.json staged*.log causal*.json causal*.log
