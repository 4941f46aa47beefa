#!/usr/bin/env bash
# Tensor-core forward checks and timings in one GPU-machine call (carry .gpu):
#   .gpu/app.tar.xz (Bench), .gpu/tests.tar.xz (Tests), .gpu/ptx.tar.xz (folder ptx/ from dump-ptx --only tc, made here)
#   bash scripts/gpu-tc.sh $OUT [tests|ptx|bench|torch|portable|stage|ncu|ncu-source|sanitizer|sweep|variants ...]   (default: the first four)
set -u
OUT=${1:?usage: gpu-tc.sh OUTDIR [parts...]}; shift
PARTS=${*:-tests ptx bench torch}
mkdir -p "$OUT" /tmp/tests
tar -C /tmp -xJf .gpu/app.tar.xz && tar -C /tmp/tests -xJf .gpu/tests.tar.xz
APP=/tmp/app/FlashAttention.Bench
T=/tmp/tests/app/FlashAttention.Tests
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT/device.txt"
has() { [[ " $PARTS " == *" $1 "* ]]; }

if has ptx; then
  if [ -n "${PTX_MATCH:-}" ]; then
    # Compile the PTX here (the machine has more cores than the build machine); time each kernel.
    rm -rf .gpu/ptx; mkdir -p .gpu/ptx
    for m in ${PTX_MATCH}; do
      case $m in wg_*) re="^$m\$" ;; *) re="^tc_fwd_$m\$" ;; esac   # wg_fwd_...: the Hopper (wgmma) kernels
      /usr/bin/time -f "dump-ptx $m: %e s" "$APP" dump-ptx --out /tmp/ptx1 --only tc --match "$re" > /dev/null 2>> "$OUT/compile-times.txt"
    done
    mv /tmp/ptx1/*.ptx .gpu/ptx/; cat "$OUT/compile-times.txt"
  elif [ -f .gpu/ptx.tar.xz ]; then
    tar -C .gpu -xJf .gpu/ptx.tar.xz
  fi
  for f in .gpu/ptx/*.ptx; do
    sed 's/\.target sm_80/.target sm_90/' "$f" > /tmp/k.ptx
    arch=sm_90; grep -q 'target sm_90a' /tmp/k.ptx && arch=sm_90a
    echo "$(basename "$f" .ptx): $(ptxas -arch=$arch -v /tmp/k.ptx -o /tmp/k.cubin 2>&1 | grep -E 'registers|spill|stack|warn|error' | tr -s ' \n' ' ')"
    if [[ "$(basename "$f" .ptx)" == ${SASS_FILE:-tc_fwd_${SASS:-f16_d128_w4x32}} ]]; then
      cuobjdump -sass /tmp/k.cubin > "$OUT/sass.txt"
      for op in HMMA HGMMA LDSM LDGSTS LDL STL SHFL MUFU.EX2 BAR WARPGROUP IMAD ISETP; do echo "$op $(grep -c "$op" "$OUT/sass.txt")"; done > "$OUT/sass-counts.txt"
      echo "SASS instructions: $(grep -cE '^\s+/\*[0-9a-f]{4}\*/' "$OUT/sass.txt")" >> "$OUT/sass-counts.txt"
    fi
  done > "$OUT/ptxas-tc.txt" 2>&1
  cat "$OUT/sass-counts.txt" "$OUT/ptxas-tc.txt"
fi

if has tests; then
  # TEST_CLASSES: test classes to run on CUDA (default: the tensor-core ones and the entry points).
  classes=""
  for c in ${TEST_CLASSES:-TensorCoreForwardTests MmaTests LdmatrixTests ForwardAccuracyTests EntryPointTests}; do classes+=" -class FlashAttention.Tests.$c"; done
  FLASH_TEST_DEVICE=cuda timeout ${TEST_TIMEOUT:-240} "$T" $classes > "$OUT/tests-cuda.log" 2>&1
  grep -E 'Total:' "$OUT/tests-cuda.log"; grep -E '\[FAIL\]' "$OUT/tests-cuda.log" | head -20
fi

if has bench; then
  timeout 240 "$APP" bench --device cuda --kernels ${KERNELS:-tc4,tc8} --dtype float16 --headdims ${DIMS:-64,128} --seqlens ${SEQLENS:-2048,8192} --causal ${CAUSAL:-both} \
    --passes fwd --repeats 20 --warmup 3 --out-json "$OUT/flash-tc.json" > "$OUT/bench.log" 2>&1
  timeout 60 "$APP" bench --device cuda --kernels tc --dtype bfloat16 --headdims 128 --seqlens 8192 --causal no \
    --passes fwd --repeats 20 --warmup 3 --out-json "$OUT/flash-tc-bf16.json" >> "$OUT/bench.log" 2>&1
  grep -E "flash-tc" "$OUT/bench.log" | tail -20
fi

if has portable; then
  for v in v3 v4; do
    FLASH_PORTABLE_FORWARD=$v timeout 150 "$APP" bench --device cuda --kernels portable --dtype float16 --headdims 64,128 --seqlens 2048,8192 \
      --causal no --passes fwd --repeats 20 --warmup 3 --out-json "$OUT/portable-$v.json" > "$OUT/portable-$v.log" 2>&1
  done
  grep -h "flash-portable" "$OUT"/portable-v*.log | head; true
fi

if has ptx-portable; then
  "$APP" dump-ptx --out /tmp/pptx --only portable --match "${PORTABLE_MATCH:-_v4}" > /dev/null 2>&1
  for f in /tmp/pptx/*.ptx; do
    sed 's/\.target sm_80/.target sm_90/' "$f" > /tmp/k.ptx
    echo "$(basename "$f" .ptx): $(ptxas -arch=sm_90 -v /tmp/k.ptx -o /tmp/k.cubin 2>&1 | grep -E 'registers|spill|stack' | tr -s ' \n' ' ')"
  done > "$OUT/ptxas-portable.txt" 2>&1
  cat "$OUT/ptxas-portable.txt"
fi

if has stage; then
  # The v4 forward with K/V staged through registers (default) and element by element (FLASH_PORTABLE_STAGE=0), same call.
  # STAGE_RUNS: "name:stage:bounds[:app]" (app: a second published bench, e.g. the previous commit's, under .gpu/).
  for r in ${STAGE_RUNS:-stage:1:1 elements:0:1}; do
    IFS=: read -r name s b app <<< "$r"
    a=$APP; if [ -n "$app" ]; then mkdir -p /tmp/$app && tar -C /tmp/$app -xJf .gpu/$app.tar.xz && a=/tmp/$app/app/FlashAttention.Bench; fi
    FLASH_PORTABLE_STAGE=$s FLASH_PORTABLE_BOUNDS=$b timeout 150 "$a" bench --device cuda --kernels portable --dtype float16 --headdims 64,128 --seqlens 2048,8192 \
      --causal ${CAUSAL:-no} --passes fwd --repeats 20 --warmup 3 --out-json "$OUT/portable-$name.json" > "$OUT/portable-$name.log" 2>&1
  done
  tail -n 6 "$OUT"/portable-*.log
  timeout 120 python3 FlashAttention.Bench/peers/torch_sdpa.py --headdims 64,128 --seqlens 2048,8192 --causal no --passes fwd \
    --backends efficient,math --repeats 20 --out-json "$OUT/torch-portable.json" > "$OUT/torch-portable.log" 2>&1
  tail -10 "$OUT/torch-portable.log"
fi

if has ncu; then
  # NCU_TARGETS: "kernel:headdim:seqlen" entries (default the tensor-core kernel at d 128, N 8K).
  for t in ${NCU_TARGETS:-tc:128:8192}; do
    IFS=: read -r kern dim n <<< "$t"
    timeout 240 ncu -k regex:Kernel_Run --launch-skip 1 --launch-count 1 --section SpeedOfLight --section Occupancy --section LaunchStats \
      --section WarpStateStats --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis_Tables --section SchedulerStats \
      --section InstructionStats --print-details all \
      "$APP" bench --device cuda --kernels "$kern" --dtype float16 --headdims "$dim" --seqlens "$n" --causal no --passes fwd --repeats 1 --warmup 1 \
      --input-sets 1 > "$OUT/ncu-$kern-d$dim.txt" 2>&1
    echo "== ncu $t"
    grep -E "Duration|Registers Per|Achieved Occupancy|Theoretical Occupancy|Compute \(SM\) Throughput|Issue Slots Busy|Stall|Block Limit|Bank|Executed Ipc" "$OUT/ncu-$kern-d$dim.txt" | head -40
  done
fi

if has ncu-source; then
  # Executed instructions per SASS instruction of one kernel (NCU_SOURCE="kernel:headdim:seqlen").
  IFS=: read -r kern dim n <<< "${NCU_SOURCE:-wg8:128:8192}"
  timeout 240 ncu -k regex:Kernel_Run --launch-skip 1 --launch-count 1 --section SourceCounters --page source --print-source sass --csv \
    "$APP" bench --device cuda --kernels "$kern" --dtype float16 --headdims "$dim" --seqlens "$n" --causal no --passes fwd --repeats 1 --warmup 1 \
    --input-sets 1 > "$OUT/ncu-source-$kern-d$dim.csv" 2>&1
  echo "ncu-source: $(wc -l < "$OUT/ncu-source-$kern-d$dim.csv") lines"
fi

if has sanitizer; then
  # Small odd shapes (partial tiles, GQA, causal), fp16 and bf16, through the default (tensor-core) path.
  # d 128 without a mask runs 32-row warps with 32-key tiles; d 64 causal 16-row warps.
  for tool in memcheck racecheck; do
    for shape in "float16 128" "bfloat16 64 --causal"; do
      set -- $shape
      timeout 120 compute-sanitizer --tool $tool --print-limit 20 "$APP" demo --device cuda --batch 1 --seqlen 113 --heads 2 --headdim $2 \
        --dtype $1 ${3:-} --runs 1 > "$OUT/sanitizer-$tool-$1-d$2.txt" 2>&1
      echo "$tool $shape: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer-$tool-$1-d$2.txt" | tr '\n' ' ')"
    done
  done
fi

if has sweep; then
  # The published table: our default kernels and torch's, same shapes, one call.
  timeout 240 "$APP" bench --device cuda --kernels ${SWEEP_KERNELS:-tc} --dtype ${SWEEP_DTYPES:-float16,bfloat16} --headdims 64,128 --seqlens ${SWEEP_SEQLENS:-2048,4096,8192,16384} --causal both \
    --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/sweep-flash.json" > "$OUT/sweep-flash.log" 2>&1
  timeout 100 python3 FlashAttention.Bench/peers/torch_sdpa.py --dtype ${SWEEP_DTYPES:-float16,bfloat16} --headdims 64,128 --seqlens ${SWEEP_SEQLENS:-2048,4096,8192,16384} \
    --causal both --passes fwd --backends flash,cudnn,efficient --repeats 20 --out-json "$OUT/sweep-torch.json" > "$OUT/sweep-torch.log" 2>&1
  python3 FlashAttention.Bench/peers/compare.py "$OUT/sweep-flash.json" "$OUT/sweep-torch.json" --out-md "$OUT/sweep-table.md" > /dev/null 2>&1
  cat "$OUT/sweep-table.md" | head -50
fi

if has variants; then
  # Score variants on the default kernel, same call: VARIANT_KERNELS at d 128, N 8K, non-causal.
  timeout 200 "$APP" bench --device cuda --kernels ${VARIANT_KERNELS:-tc,tc+bias,tc+mask,tc+drop10,tc+w256} --dtype float16 --headdims ${VARIANT_DIMS:-128} \
    --seqlens 8192 --causal no --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/variants.json" > "$OUT/variants.log" 2>&1
  grep -E "flash-" "$OUT/variants.log" | tail -12
fi

if has torch; then
  timeout 120 python3 FlashAttention.Bench/peers/torch_sdpa.py --headdims 64,128 --seqlens 2048,8192 --causal both --passes fwd \
    --backends flash,cudnn --repeats 20 --out-json "$OUT/torch.json" > "$OUT/torch.log" 2>&1
  timeout 60 python3 FlashAttention.Bench/peers/torch_sdpa.py --dtype bfloat16 --headdims 128 --seqlens 8192 --causal no --passes fwd \
    --backends flash,cudnn --repeats 20 --out-json "$OUT/torch-bf16.json" >> "$OUT/torch.log" 2>&1
  tail -12 "$OUT/torch.log"
fi
# The device tool returns few files: pack the details into one.
tar -C "$OUT" -czf /tmp/details.tgz --exclude='*.json' . && rm -f "$OUT"/*.txt "$OUT"/*.log && mv /tmp/details.tgz "$OUT/details.tgz"
exit 0
