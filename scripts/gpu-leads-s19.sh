#!/usr/bin/env bash
# The leads session 19 left, in one GPU call (about 200 s on an H100):
#  1. decode at 1 row per kv head (32 q / 32 kv heads, MHA) on the ring against the register loads, which 1 row keeps by
#     default (FLASH_DECODE_RING=1 / unset), twice, alternating: if the ring wins, delete the register path;
#  2. paged caches (pages of 256, shuffled) after PageDivision, beside the contiguous cache, 32/8 heads;
#  3. ncu of the plain and packed-mask calls at d 64 (what holds the mask, now that its bit tests are known not to).
# Prepare here: ../shared/gpu/pack FlashAttention.Tests && mv .gpu/app.tar.xz .gpu/tests.tar.xz && ../shared/gpu/pack FlashAttention.Bench
# Run there (carry .gpu): bash scripts/gpu-leads-s19.sh $OUT
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
ALL="--batches 1,2,4,8 --cache-lens 8192,16384,32768,65536"
bench contiguous X=0 -- $ALL
bench paged X=0 -- $ALL --page-size 256
# Every kernel is named Kernel_Run (the mask call also packs its bits and derives its blocks first), so profile the first
# six launches of each call and read the attention kernel off by its grid and duration.
for kern in tc tc+mask; do
  timeout 240 ncu -k regex:Kernel_Run --launch-count 6 --section SpeedOfLight --section Occupancy --section LaunchStats \
    --section WarpStateStats --section SchedulerStats --section InstructionStats --print-details all \
    $APP bench --device cuda --kernels $kern --dtype float16 --headdims 64 --seqlens 8192 --causal no --passes fwd \
    --repeats 1 --warmup 1 --input-sets 1 > $OUT/ncu-$kern.txt 2>&1 || echo "ncu $kern rc=$?"
  echo "== ncu $kern"; grep -E "Grid Size|Duration|Registers Per|Issue Slots Busy|Executed Ipc|Stall" $OUT/ncu-$kern.txt | head -60
done
cd $OUT && tar czf runs.tgz *.json *.log *.txt 2>/dev/null && rm -f *.json *.log ncu-*.txt
