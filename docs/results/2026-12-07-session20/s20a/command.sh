#!/usr/bin/env bash
# The leads session 19 left, in one GPU call (about 200 s on an H100):
#  1. decode at 1 row per kv head (32 q / 32 kv heads, MHA) on the ring against the register loads, which 1 row keeps by
#     default (FLASH_DECODE_RING=1 / unset), twice, alternating: if the ring wins, delete the register path;
#  2. paged caches (pages of 256, shuffled) after PageDivision, beside the contiguous cache, 32/8 heads;
#  3. ncu of the plain and packed-mask calls at d 64 (what holds the mask, now that its bit tests are known not to).
# Prepare here: ../shared/gpu/pack FlashAttention.Tests && mv .gpu/app.tar.xz .gpu/tests.tar.xz && ../shared/gpu/pack FlashAttention.Bench
# Run there (carry .gpu): bash docs/results/2026-12-07-session20/s20a/command.sh $OUT
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
# Session 20 adds: torch FA2 and cuDNN on the 16 shapes beside the contiguous and paged runs, the decode test classes on
# CUDA (the paged lookup changed), and the plain, masked and biased calls at B 2 x N 8192.
timeout 120 python3 FlashAttention.Bench/peers/torch_decode.py --backends flash,cudnn --repeats 30 --warmup 5 $ALL \
  --out-json $OUT/torch.json > $OUT/torch.log 2>&1 || echo "torch rc=$?"
for m in contiguous paged; do
  python3 FlashAttention.Bench/peers/compare_decode.py $OUT/$m.json $OUT/torch.json --out-md $OUT/table-$m.md > /dev/null; done
cat $OUT/table-contiguous.md $OUT/table-paged.md
env X=0 timeout 120 $APP bench --device cuda --kernels tc,tc+mask,tc+bias16 --dtype float16 --headdims 64,128 --seqlens 8192 \
  --causal no --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/bias.json" > "$OUT/bias.log" 2>&1 || echo "bias rc=$?"
python3 -c "import json,sys; print('bias', ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open(sys.argv[1]))['results']))" "$OUT/bias.json"
mkdir -p /tmp/t && tar -C /tmp/t -xJf .gpu/tests.tar.xz
T=/tmp/t/app/FlashAttention.Tests
FLASH_TEST_DEVICE=cuda timeout 100 $T -class FlashAttention.Tests.DecodeAccuracyTests -class FlashAttention.Tests.DecodeStreamingTests \
  -class FlashAttention.Tests.DecodeAppendTests -class FlashAttention.Tests.DecodePagedTests -class FlashAttention.Tests.PartialMergeTests > $OUT/tests-decode.log 2>&1
echo "decode tests: $(grep -a 'Total:' $OUT/tests-decode.log)"
# Every kernel is named Kernel_Run (the mask call also packs its bits and derives its blocks first), so profile the first
# six launches of each call and read the attention kernel off by its grid and duration.
for kern in tc tc+mask; do
  timeout 100 ncu -k regex:Kernel_Run --launch-count 6 --section SpeedOfLight --section Occupancy --section LaunchStats \
    --section WarpStateStats --section SchedulerStats --section InstructionStats --print-details all \
    $APP bench --device cuda --kernels $kern --dtype float16 --headdims 64 --seqlens 8192 --causal no --passes fwd \
    --repeats 1 --warmup 1 --input-sets 1 > $OUT/ncu-$kern.txt 2>&1 || echo "ncu $kern rc=$?"
  echo "== ncu $kern"; grep -E "Grid Size|Duration|Registers Per|Issue Slots Busy|Executed Ipc|Stall" $OUT/ncu-$kern.txt | head -60
done
# The decode kernel alone at 1 x 8K (27 us a call against cuDNN's 22): its own duration, stall reasons and memory throughput.
timeout 100 ncu -k regex:Kernel_Run --launch-count 8 --section SpeedOfLight --section Occupancy --section LaunchStats \
  --section WarpStateStats --section SchedulerStats --section MemoryWorkloadAnalysis --print-details all \
  $APP decode --device cuda --batches 1 --cache-lens 8192 --repeats 3 --warmup 1 > $OUT/ncu-decode.txt 2>&1 || echo "ncu decode rc=$?"
echo "== ncu decode"; grep -E "Grid Size|Duration|Registers Per|Issue Slots Busy|Memory Throughput|DRAM Throughput|Achieved Occupancy|Stall" $OUT/ncu-decode.txt | head -60
cd $OUT && tar czf runs.tgz *.json *.log *.txt 2>/dev/null && rm -f *.json *.log ncu-*.txt
