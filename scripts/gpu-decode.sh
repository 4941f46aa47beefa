#!/usr/bin/env bash
# The decode benchmark (issue 6) in one GPU-machine call: our `decode` bench and torch SDPA on
# the same shapes (batch 1,2,4,8 x cache 8K..64K, 32 query heads, 8 kv heads, d 128, fp16,
# seqlen_q 1), then a side-by-side table.
# Prepare here:   ../shared/gpu/pack FlashAttention.Bench          (-> .gpu/app.tar.xz)
#                 for the tests part also: ../shared/gpu/pack FlashAttention.Tests, its .gpu/app.tar.xz
#                 moved to .gpu/tests.tar.xz (pack the Bench last)
# Run there:      bash scripts/gpu-decode.sh $OUT [tests] [bench] [torch] [ncu]   (carry .gpu; default: bench torch;
#                 the device tool allows 10 minutes a call: tests take one call, bench + torch another)
# Environment:    DECODE_ARGS  extra arguments for both (e.g. "--batches 1 --cache-lens 8192")
#                 FLASH_ARGS   extra arguments for ours only (e.g. "--splits 0,16,32,64" or "--page-size 16")
#                 TORCH_ARGS   extra arguments for torch_decode.py only (e.g. "--backends flash,cudnn")
#                 DEVICE (cuda), REPEATS (30), WARMUP (5): set these instead of passing the options
#                 above (our command refuses an option given twice)
#                 TEST_DEVICE  FLASH_TEST_DEVICE for the tests part (default cuda; opencl runs them on PoCL)
#                 PYTHON       python interpreter (default python3)
#                 NCU_ARGS     the decode shape the ncu part profiles (default "--batches 8 --cache-lens 65536 --splits 0");
#                              it profiles one call of the attention kernel (Kernel_Run) and one of the merge
#                              (Kernel_Merge): registers, shared memory, occupancy, instructions, DRAM throughput
set -u
OUT=${1:?usage: gpu-decode.sh OUTDIR [tests] [bench] [torch]}
shift
PARTS=" ${*:-bench torch} "
has() { [[ "$PARTS" == *" $1 "* ]]; }
PY=${PYTHON:-python3}
PEERS=FlashAttention.Bench/peers
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
FAILED=0

# run NAME TIMEOUT CMD...: prints the command, runs it with its output logged and shown, records a failure.
run() {
  local name=$1 limit=$2; shift 2
  echo "+ $*"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 40 "$OUT/$name.log"
  if [ "$rc" -ne 0 ]; then
    echo "gpu-decode.sh: step $name exited with $rc (log $OUT/$name.log)"
    FAILED=1
  fi
}

echo "gpu-decode.sh: out $OUT, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/device.txt"

APP=/tmp/app/FlashAttention.Bench
if [ -f .gpu/app.tar.xz ]; then
  echo "+ tar -C /tmp -xJf .gpu/app.tar.xz"
  tar -C /tmp -xJf .gpu/app.tar.xz || { echo "gpu-decode.sh: cannot unpack .gpu/app.tar.xz"; FAILED=1; }
else
  echo "gpu-decode.sh: .gpu/app.tar.xz is missing (run ../shared/gpu/pack FlashAttention.Bench here, carry .gpu)"
  FAILED=1
fi

if has tests; then
  if [ -f .gpu/tests.tar.xz ]; then
    mkdir -p /tmp/decode-tests
    echo "+ tar -C /tmp/decode-tests -xJf .gpu/tests.tar.xz"
    tar -C /tmp/decode-tests -xJf .gpu/tests.tar.xz
    T=/tmp/decode-tests/app/FlashAttention.Tests
    classes=()
    for c in DecodeAccuracyTests DecodeStreamingTests DecodePagedTests DecodeAppendTests DecodeValidationTests PartialMergeTests; do
      classes+=(-class "FlashAttention.Tests.$c")
    done
    run tests-cuda 400 env FLASH_TEST_DEVICE="${TEST_DEVICE:-cuda}" "$T" "${classes[@]}"
  else
    echo "gpu-decode.sh: tests asked for but .gpu/tests.tar.xz is missing"
    FAILED=1
  fi
fi

if has bench && [ -x "$APP" ] && command -v ptxas > /dev/null; then
  # Registers, spills and stack of the decode kernel the sweep runs (fp16, d 128), for the record.
  echo "+ $APP dump-ptx --out /tmp/decode-ptx --only decode --match 'decode_f16_d128|decode_stream_f16_d128|merge_f16'"
  "$APP" dump-ptx --out /tmp/decode-ptx --only decode --match 'decode_f16_d128|decode_stream_f16_d128|merge_f16' > /dev/null 2>&1
  for f in /tmp/decode-ptx/*.ptx; do
    [ -f "$f" ] || continue
    sed 's/\.target sm_80/.target sm_90/' "$f" > /tmp/decode-k.ptx
    echo "$(basename "$f" .ptx): $(ptxas -arch=sm_90 -v /tmp/decode-k.ptx -o /tmp/decode-k.cubin 2>&1 | grep -E 'registers|spill|stack' | tr -s ' \n' ' ')"
  done | tee "$OUT/ptxas-decode.txt"
fi

if ! has bench; then
  :
elif [ -x "$APP" ]; then
  # shellcheck disable=SC2086
  run flash 300 "$APP" decode --device "${DEVICE:-cuda}" --repeats "${REPEATS:-30}" --warmup "${WARMUP:-5}" --out-json "$OUT/flash-decode.json" --out-csv "$OUT/flash-decode.csv" \
    ${DECODE_ARGS:-} ${FLASH_ARGS:-}
else
  echo "gpu-decode.sh: no runnable $APP; skipping ours"
  FAILED=1
fi

if has ncu && [ -x "$APP" ] && command -v ncu > /dev/null; then
  # Short runs (no queue-ahead spin, a 16 MiB bandwidth copy, one timed call) keep ncu's replays quick.
  for k in Kernel_Run Kernel_Merge; do
    # shellcheck disable=SC2086
    run "ncu-$k" 300 ncu --kernel-name "$k" --launch-skip 2 --launch-count 1 \
      --section LaunchStats --section Occupancy --section SpeedOfLight --section MemoryWorkloadAnalysis \
      --section SchedulerStats --section WarpStateStats --metrics smsp__inst_executed.sum,dram__bytes_read.sum \
      "$APP" decode --device cuda --repeats 1 --warmup 2 --queue-ahead 0 --copy-mib 16 ${NCU_ARGS:---batches 8 --cache-lens 65536 --splits 0}
  done
elif has ncu; then
  echo "gpu-decode.sh: ncu asked for but ncu or $APP is missing"
  FAILED=1
fi

if has torch; then
# shellcheck disable=SC2086
run torch 240 "$PY" "$PEERS/torch_decode.py" --backends flash,cudnn,efficient --repeats "${REPEATS:-30}" --warmup "${WARMUP:-5}" \
  --out-json "$OUT/torch-decode.json" --out-csv "$OUT/torch-decode.csv" ${DECODE_ARGS:-} ${TORCH_ARGS:-}
fi

files=()
for f in "$OUT/flash-decode.json" "$OUT/torch-decode.json"; do [ -f "$f" ] && files+=("$f"); done
if [ ${#files[@]} -gt 0 ]; then
  echo "+ $PY $PEERS/compare_decode.py ${files[*]} --out-md $OUT/decode-table.md"
  "$PY" "$PEERS/compare_decode.py" "${files[@]}" --out-md "$OUT/decode-table.md" || FAILED=1
elif has bench || has torch; then
  echo "gpu-decode.sh: no result JSON to compare"
  FAILED=1
fi
echo "gpu-decode.sh: $([ "$FAILED" = 0 ] && echo 'all steps ok' || echo 'some steps FAILED')"
exit $FAILED
