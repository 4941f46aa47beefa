#!/usr/bin/env bash
# Session 20, call c (s20a was cut off when the machine was taken back; this is its core, about 300 s on an H100):
#  1. the packed mask with its words staged through shared memory (default) against the register loads (FLASH_STAGED_MASK=0),
#     plain and float16 bias beside them, B 2 x N 8192, d 64 and 128, twice, alternating;
#  2. the CUDA tests of the wgmma and mask classes and of the decode classes (the paged lookup by PageDivision);
#  3. paged caches (pages of 256, shuffled) beside the contiguous cache, 32/8 heads.
# Prepare here: ../shared/gpu/pack FlashAttention.Tests && mv .gpu/app.tar.xz .gpu/tests.tar.xz && ../shared/gpu/pack FlashAttention.Bench
# Run there (carry .gpu): bash docs/results/2026-12-07-session20/s20c/command.sh $OUT
set -u
OUT=$1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee $OUT/device.txt
tar -C /tmp -xJf .gpu/app.tar.xz
APP=/tmp/app/FlashAttention.Bench
mask() { # name kernels env...
  local name=$1 kernels=$2; shift 2
  env X=0 "$@" timeout 120 $APP bench --device cuda --kernels $kernels --dtype float16 --headdims 64,128 --seqlens 8192 \
    --causal no --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/$name.json" > "$OUT/$name.log" 2>&1 || echo "$name rc=$?"
  python3 -c "import json,sys; print(sys.argv[2], ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open(sys.argv[1]))['results']))" "$OUT/$name.json" "$name"
}
mask staged-1 tc,tc+mask,tc+bias16
mask regs-1 tc,tc+mask FLASH_STAGED_MASK=0
mask staged-2 tc,tc+mask
mask regs-2 tc,tc+mask FLASH_STAGED_MASK=0
mkdir -p /tmp/t && tar -C /tmp/t -xJf .gpu/tests.tar.xz
T=/tmp/t/app/FlashAttention.Tests
FLASH_TEST_DEVICE=cuda timeout 200 $T -class FlashAttention.Tests.WgmmaForwardTests -class FlashAttention.Tests.WgmmaPipelinedForwardTests \
  -class FlashAttention.Tests.TensorCoreMaskBitsTests -class FlashAttention.Tests.BlockMaskTests > $OUT/tests-mask.log 2>&1
echo "mask tests: $(grep -a 'Total:' $OUT/tests-mask.log)"; grep -a "\[FAIL\]" $OUT/tests-mask.log | head
FLASH_TEST_DEVICE=cuda timeout 150 $T -class FlashAttention.Tests.DecodeAccuracyTests -class FlashAttention.Tests.DecodeStreamingTests \
  -class FlashAttention.Tests.DecodeAppendTests -class FlashAttention.Tests.DecodePagedTests -class FlashAttention.Tests.PartialMergeTests > $OUT/tests-decode.log 2>&1
echo "decode tests: $(grep -a 'Total:' $OUT/tests-decode.log)"; grep -a "\[FAIL\]" $OUT/tests-decode.log | head
summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(sys.argv[2], " ".join(f"{r['batch']}x{r['cache_len']}/s{r['splits']}={r['median_ms']:.4f}" for r in d["results"]), flush=True)
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
bench contiguous X=0 -- $ALL
bench paged X=0 -- $ALL --page-size 256
cd $OUT && tar czf runs.tgz *.json *.log 2>/dev/null && rm -f *.json *.log
