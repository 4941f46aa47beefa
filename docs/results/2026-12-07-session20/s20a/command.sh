#!/usr/bin/env bash
# Session 20, call a (about 450 s on an H100):
#  1. the packed mask with its words staged through shared memory by cp.async (the new default, StagedBitMaskScores) against the
#     register loads (FLASH_STAGED_MASK=0), plain and float16 bias beside them, B 2 x N 8192, d 64 and 128, twice, alternating;
#  2. the CUDA tests of the wgmma and mask classes (the staged words) and of the decode classes (the paged lookup by PageDivision);
#  3. paged caches (pages of 256, shuffled) after PageDivision beside the contiguous cache, 32/8 heads, with torch FA2 and cuDNN;
#  4. ncu of the masked call at d 64, staged and in registers.
# Prepare here: ../shared/gpu/pack FlashAttention.Tests && mv .gpu/app.tar.xz .gpu/tests.tar.xz && ../shared/gpu/pack FlashAttention.Bench
# Run there (carry .gpu): bash docs/results/2026-12-07-session20/s20a/command.sh $OUT
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
timeout 120 python3 FlashAttention.Bench/peers/torch_decode.py --backends flash,cudnn --repeats 30 --warmup 5 $ALL \
  --out-json $OUT/torch.json > $OUT/torch.log 2>&1 || echo "torch rc=$?"
for m in contiguous paged; do
  python3 FlashAttention.Bench/peers/compare_decode.py $OUT/$m.json $OUT/torch.json --out-md $OUT/table-$m.md > /dev/null; done
cat $OUT/table-contiguous.md $OUT/table-paged.md
# Every kernel is named Kernel_Run (the mask call also packs its bits and derives its blocks first), so profile the first
# launches of each call and read the attention kernel off by its grid and duration.
prof() { # name env... -- app args...
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  env "${envs[@]}" timeout 90 ncu -k regex:Kernel_Run --launch-count 6 --section SpeedOfLight --section Occupancy --section LaunchStats \
    --section WarpStateStats --section SchedulerStats --section InstructionStats --section MemoryWorkloadAnalysis --print-details all \
    $APP "$@" > $OUT/ncu-$name.txt 2>&1 || echo "ncu $name rc=$?"
  echo "== ncu $name"; grep -E "Grid Size|Duration|Registers Per|Issue Slots Busy|Executed Ipc A|Memory Throughput|Stall (Long|Barrier|Wait|Math|Short|Not|MIO|LG|Dispatch|Branch|No)" $OUT/ncu-$name.txt | head -40
}
FWD="bench --device cuda --dtype float16 --headdims 64 --seqlens 8192 --causal no --passes fwd --repeats 1 --warmup 1 --input-sets 1"
prof mask-staged X=0 -- $FWD --kernels tc+mask
prof mask-regs FLASH_STAGED_MASK=0 -- $FWD --kernels tc+mask
cd $OUT && tar czf runs.tgz *.json *.log *.txt 2>/dev/null && rm -f *.json *.log ncu-*.txt
