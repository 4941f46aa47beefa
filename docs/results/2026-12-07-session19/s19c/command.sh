# Session 19, call c: the final decode default (the cp.async ring, splits aimed at 2 groups per SM) against the same
# ring at the old aim of 4 (FLASH_DECODE_SPLIT_GROUPS=4), alternating, twice, over 16 shapes, with torch FA2 and cuDNN;
# then the plain call, the packed random mask (now in fragment order) and the float16 bias at B 2 x N 8192, with the
# mask's words loaded a tile ahead (FLASH_MASK_PREFETCH=1) beside them; the decode and mask test classes on CUDA
# (the mask classes with and without the prefetch).
# Prepare here: ../shared/gpu/pack FlashAttention.Tests && mv .gpu/app.tar.xz .gpu/tests.tar.xz && ../shared/gpu/pack FlashAttention.Bench
# Run there (carry .gpu): bash docs/results/2026-12-07-session19/s19c/command.sh $OUT
set -u
OUT=$1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee $OUT/device.txt
tar -C /tmp -xJf .gpu/app.tar.xz
APP=/tmp/app/FlashAttention.Bench
summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["results"] if isinstance(d, dict) and "results" in d else d
print(sys.argv[2], " ".join(f"{r.get('batch')}x{r.get('cache_len')}/s{r.get('splits')}={r.get('median_ms'):.4f}" for r in rows), flush=True)
PY
}
bench() { # name env... -- args...
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  env "${envs[@]}" timeout 100 $APP decode --device cuda "$@" --repeats 30 --warmup 5 \
    --out-json $OUT/$name.json > $OUT/$name.log 2>&1 || echo "$name rc=$?"
  summary $OUT/$name.json $name
}
ALL="--batches 1,2,4,8 --cache-lens 8192,16384,32768,65536"
for i in 1 2; do
  bench new-$i X=0 -- $ALL
  bench old-$i FLASH_DECODE_SPLIT_GROUPS=4 -- $ALL
done
timeout 120 python3 FlashAttention.Bench/peers/torch_decode.py --backends flash,cudnn --repeats 30 --warmup 5 $ALL \
  --out-json $OUT/torch.json > $OUT/torch.log 2>&1 || echo "torch rc=$?"
for m in new-1 new-2 old-1; do
  python3 FlashAttention.Bench/peers/compare_decode.py $OUT/$m.json $OUT/torch.json --out-md $OUT/table-$m.md > /dev/null; done
cat $OUT/table-new-1.md
mask() { # name kernels env...
  local name=$1 kernels=$2; shift 2
  env X=0 "$@" timeout 120 $APP bench --device cuda --kernels $kernels --dtype float16 --headdims 64,128 --seqlens 8192 \
    --causal no --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/$name.json" > "$OUT/$name.log" 2>&1 || echo "$name rc=$?"
  python3 -c "import json,sys; print(sys.argv[2], ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open(sys.argv[1]))['results']))" "$OUT/$name.json" "$name"
}
mask bias-1 tc,tc+mask,tc+bias16
mask ahead-1 tc,tc+mask FLASH_MASK_PREFETCH=1
mask bias-2 tc,tc+mask
mask ahead-2 tc,tc+mask FLASH_MASK_PREFETCH=1
mkdir -p /tmp/t && tar -C /tmp/t -xJf .gpu/tests.tar.xz
T=/tmp/t/app/FlashAttention.Tests
FLASH_TEST_DEVICE=cuda timeout 100 $T -class FlashAttention.Tests.DecodeAccuracyTests -class FlashAttention.Tests.DecodeStreamingTests \
  -class FlashAttention.Tests.DecodeAppendTests -class FlashAttention.Tests.DecodePagedTests -class FlashAttention.Tests.PartialMergeTests > $OUT/tests-decode.log 2>&1
echo "decode tests: $(grep -a 'Total:' $OUT/tests-decode.log)"
MASKT="-class FlashAttention.Tests.MaskBitsTests -class FlashAttention.Tests.TensorCoreMaskBitsTests -class FlashAttention.Tests.BlockMaskTests -class FlashAttention.Tests.WgmmaForwardTests"
FLASH_TEST_DEVICE=cuda timeout 100 $T $MASKT > $OUT/tests-mask.log 2>&1
echo "mask tests: $(grep -a 'Total:' $OUT/tests-mask.log)"
FLASH_MASK_PREFETCH=1 FLASH_TEST_DEVICE=cuda timeout 100 $T $MASKT > $OUT/tests-mask-ahead.log 2>&1
echo "mask tests, words ahead: $(grep -a 'Total:' $OUT/tests-mask-ahead.log)"
cd $OUT && tar czf runs.tgz *.json *.log && rm -f *.json *.log
