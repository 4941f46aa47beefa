set -u
OUT=$1
TEST_CLASSES=WgmmaForwardTests TEST_TIMEOUT=200 VARIANT_KERNELS=tc,wg12@1,tc+bias,wg12@1+bias VARIANT_DIMS=64,128 bash scripts/gpu-tc.sh $OUT ptx tests variants
APP=/tmp/app/FlashAttention.Bench
timeout 120 $APP bench --device cuda --kernels tc,tc+bias,wg12@1+bias --dtype float16 --headdims 64,128 --seqlens 8192 --causal yes --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json $OUT/causal.json > $OUT/causal.log 2>&1
grep -E "flash-" $OUT/causal.log | tail -8
FLASH_MASK_BLOCKS=0 timeout 120 $APP bench --device cuda --kernels tc+mask,wg8+mask,wg12@1+mask --dtype float16 --headdims 64,128 --seqlens 8192 --causal no --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json $OUT/mask.json > $OUT/mask.log 2>&1
grep -E "flash-" $OUT/mask.log | tail -8
