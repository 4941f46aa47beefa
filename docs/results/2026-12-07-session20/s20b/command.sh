#!/usr/bin/env bash
# Session 20, call b (about 200 s on an H100): decode at 1 row per kv head (32 q / 32 kv heads) on the ring (FLASH_DECODE_RING=1)
# against the register loads, twice, alternating; ncu of the plain forward at d 64 and of the decode kernel at 1 x 8K.
# Prepare here: ../shared/gpu/pack FlashAttention.Tests && mv .gpu/app.tar.xz .gpu/tests.tar.xz && ../shared/gpu/pack FlashAttention.Bench
# Run there (carry .gpu): bash docs/results/2026-12-07-session20/s20b/command.sh $OUT
set -u
OUT=$1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee $OUT/device.txt
tar -C /tmp -xJf .gpu/app.tar.xz
APP=/tmp/app/FlashAttention.Bench
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
MHA="--heads 32 --heads-kv 32 --batches 1,2,4,8 --cache-lens 8192,16384,32768"
for i in 1 2; do
  bench mha-reg-$i X=0 -- $MHA
  bench mha-ring-$i FLASH_DECODE_RING=1 -- $MHA
done
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
prof tc X=0 -- $FWD --kernels tc
prof decode X=0 -- decode --device cuda --batches 1 --cache-lens 8192 --repeats 3 --warmup 1
cd $OUT && tar czf runs.tgz *.json *.log *.txt 2>/dev/null && rm -f *.json *.log ncu-*.txt
