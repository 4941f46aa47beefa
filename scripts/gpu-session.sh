#!/usr/bin/env bash
# The measurements behind docs/PERFORMANCE.md and docs/GPU.md, in one GPU-machine call.
# Prepare here:  ../shared/gpu/pack FlashAttention.Tests && mv .gpu/app.tar.xz /tmp/t.tar.xz &&
#                ../shared/gpu/pack FlashAttention.Bench && mv /tmp/t.tar.xz .gpu/tests.tar.xz
# Run there (carry .gpu):  bash scripts/gpu-session.sh $OUT checks   (tests, ptxas, demo, long context, gradients)
#                          bash scripts/gpu-session.sh $OUT sweep    (standard sweep + torch + verify + table)
# (two calls, each inside the device tool's 10-minute limit)
set -u
OUT=${1:?usage: gpu-session.sh OUTDIR checks|sweep}
PART=${2:-checks}
mkdir -p "$OUT" /tmp/tests
tar -C /tmp -xJf .gpu/app.tar.xz && tar -C /tmp/tests -xJf .gpu/tests.tar.xz
APP=/tmp/app
T=/tmp/tests/app/FlashAttention.Tests
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$OUT/device.txt"

if [ "$PART" = sweep ]; then
  # Standard sweep side by side with torch, verify cross-checks (with gradients), table.
  BENCH_ARGS="--repeats 20 --warmup 3" bash FlashAttention.Bench/peers/gpu_run.sh "$APP" "$OUT/sweep" > "$OUT/sweep.log" 2>&1
  cp "$OUT/sweep/table.md" "$OUT/table.md" 2>/dev/null
  cat "$OUT/sweep/summary.txt" 2>/dev/null
  exit 0
fi

# 1. The test suite on CUDA and on OpenCL (PoCL), not only the CPU accelerator.
FLASH_TEST_DEVICE=cuda timeout 300 "$T" > "$OUT/tests-cuda.log" 2>&1
FLASH_TEST_DEVICE=opencl timeout 400 "$T" > "$OUT/tests-opencl.log" 2>&1
grep -h 'Total:' "$OUT"/tests-*.log

# 2. Registers and spills of every shipped specialisation.
"$APP/FlashAttention.Bench" dump-ptx --out /tmp/ptx > /dev/null
for f in /tmp/ptx/*.ptx; do
  sed 's/\.target sm_80/.target sm_90/' "$f" > /tmp/k.ptx
  echo "$(basename "$f" .ptx): $(ptxas -arch=sm_90 -v /tmp/k.ptx -o /tmp/k.cubin 2>&1 | grep -E 'registers|spill' | tr -s ' \n' ' ')"
done > "$OUT/ptxas.txt"

# 3. Demo.
"$APP/FlashAttention.Bench" demo --device cuda > "$OUT/demo.txt" 2>&1

# 4. Memory at long context: forward+backward at 8K..32K and forward at 32K..64K (batch 1, 16 heads, d 128).
"$APP/FlashAttention.Bench" bench --device cuda --seqlens 8192,16384,32768 --tokens 1 --headdims 128 --causal no \
  --passes fwd_bwd --repeats 3 --warmup 1 --input-sets 1 --out-json "$OUT/long-fwdbwd.json" > "$OUT/long.log" 2>&1
"$APP/FlashAttention.Bench" bench --device cuda --seqlens 32768,65536 --tokens 1 --headdims 128 --causal no \
  --passes fwd --repeats 3 --warmup 1 --input-sets 1 --out-json "$OUT/long-fwd.json" >> "$OUT/long.log" 2>&1
python3 FlashAttention.Bench/peers/torch_sdpa.py --seqlens 8192,16384,32768 --tokens 1 --headdims 128 --causal no \
  --passes fwd_bwd --backends flash,math --math-max-seqlen 32768 --repeats 3 --warmup 1 --out-json "$OUT/long-torch.json" >> "$OUT/long.log" 2>&1

# 5. Gradients at a realistic size against torch autograd in float32.
P=FlashAttention.Bench/peers; G=/tmp/grad
python3 $P/make_inputs.py --out $G/in --batch 2 --seqlen 4096 --heads 16 --headdim 128 --dtype float16 --seed 7 > /dev/null
"$APP/FlashAttention.Bench" verify --q $G/in/q.npy --k $G/in/k.npy --v $G/in/v.npy --do $G/in/do.npy --causal --device cuda --out $G/out > "$OUT/grad.log" 2>&1
python3 $P/check_verify.py --inputs $G/in --outputs $G/out --causal --out-json "$OUT/grad-check.json" >> "$OUT/grad.log" 2>&1
tail -n 12 "$OUT/grad.log"
exit 0
