set -u
OUT=$1
TEST_CLASSES="WgmmaForwardTests WgmmaTests TensorCoreMaskBitsTests MaskBitsTests BlockMaskTests BlockMaskValidationTests BiasMaskForwardTests TensorCoreForwardTests EntryPointTests VarLenForwardTests ScoreVariantForwardTests" \
  TEST_TIMEOUT=420 bash scripts/gpu-tc.sh $OUT tests
APP=/tmp/app/FlashAttention.Bench
timeout 100 $APP bench --device cuda --kernels tc,tc+bias,tc+mask --dtype float16 --headdims 64,128 --seqlens 8192 --causal no \
  --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json $OUT/final.json > $OUT/final.log 2>&1
python3 -c "import json; print('final', ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open('$OUT/final.json'))['results']))"
