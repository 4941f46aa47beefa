#!/usr/bin/env bash
# A bias's cost on the tensor-core forward, float32 against float16, with torch SDPA's own bias cost, in one
# GPU-machine call (carry .gpu):
#   .gpu/app.tar.xz (Bench), optionally .gpu/ptx.tar.xz (a folder of dump-ptx output, e.g. ptxwg/: ptxas -v here),
#   optionally .gpu/tests.tar.xz (the Tests program: TEST_CLASSES run on CUDA).
#   bash scripts/gpu-bias.sh $OUT      environment: BIAS_KERNELS, BIAS_DIMS, BIAS_ROUNDS, BIAS_ENVS, BIAS_TORCH (0: no torch),
#                                      BENCH_TIMEOUT, TEST_CLASSES, TEST_TIMEOUT, TEST_ENV
set -u
OUT=${1:?usage: gpu-bias.sh OUTDIR}
mkdir -p "$OUT"
tar -C /tmp -xJf .gpu/app.tar.xz || exit 1
APP=/tmp/app/FlashAttention.Bench
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT/device.txt"; cat "$OUT/device.txt"
if [ -f .gpu/ptx.tar.xz ]; then
  mkdir -p /tmp/ptx && tar -C /tmp/ptx -xJf .gpu/ptx.tar.xz
  # In parallel, one ptxas per file; each line names its kernel.
  find /tmp/ptx -name '*.ptx' | sort | xargs -P "$(nproc)" -I{} bash -c 'f={}; arch=sm_90; grep -q "target sm_90a" "$f" && arch=sm_90a
    echo "$(basename "$f" .ptx): $(ptxas -arch=$arch -v "$f" -o /tmp/$(basename "$f").cubin 2>&1 | grep -E "registers|spill|arning" | tr -s " \n" " ")"' \
    | sort > "$OUT/ptxas.txt"
  sed -E 's/ptxas info *: //g' "$OUT/ptxas.txt" | cut -c1-220
fi
# BIAS_ENVS: space-separated environments, each timed once a round ("-" for none), e.g. "- FLASH_BIAS_AHEAD=1".
for round in $(seq 1 "${BIAS_ROUNDS:-2}"); do
 for e in ${BIAS_ENVS:--}; do
  tag=$round${e//[^A-Z0-9]/}; [ "$e" = "-" ] && e=""
  env $e timeout "${BENCH_TIMEOUT:-240}" "$APP" bench --device cuda --kernels "${BIAS_KERNELS:-tc,tc+bias,tc+bias16}" --dtype float16 --headdims "${BIAS_DIMS:-64,128}" \
    --seqlens 8192 --causal "${BIAS_CAUSAL:-no}" --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/flash-$tag.json" > "$OUT/flash-$tag.log" 2>&1
  python3 - "$OUT/flash-$tag.json" "round $round ${e:-default}" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["results"]
print(sys.argv[2], " ".join(f"{r['impl']}/d{r['headdim']}{'c' if r['causal'] else ''}={r['median_ms']:.3f}" for r in rows))
for r in rows:
    if r["status"] != "ok": print("  ", r["impl"], r["headdim"], r["status"])
PY
 done
done
if [ "${BIAS_TORCH:-1}" = 1 ]; then
  timeout 150 python3 FlashAttention.Bench/peers/torch_bias.py --headdims "${BIAS_DIMS:-64,128}" --out-json "$OUT/torch-bias.json" > "$OUT/torch-bias.log" 2>&1
  grep -E '^torch-' "$OUT/torch-bias.log"
fi
if [ -f .gpu/tests.tar.xz ]; then
  mkdir -p /tmp/tests && tar -C /tmp/tests -xJf .gpu/tests.tar.xz
  classes=""
  for c in ${TEST_CLASSES:-HalfBiasTests}; do classes+=" -class FlashAttention.Tests.$c"; done
  FLASH_TEST_DEVICE=cuda timeout "${TEST_TIMEOUT:-240}" /tmp/tests/app/FlashAttention.Tests $classes > "$OUT/tests-cuda.log" 2>&1
  grep -E 'Total:' "$OUT/tests-cuda.log"; grep -E '\[FAIL\]' "$OUT/tests-cuda.log" | head -20
  if [ -n "${TEST_ENV:-}" ]; then # the same classes again under an experiment's environment
    env $TEST_ENV FLASH_TEST_DEVICE=cuda timeout "${TEST_TIMEOUT:-240}" /tmp/tests/app/FlashAttention.Tests $classes > "$OUT/tests-cuda-env.log" 2>&1
    echo "with $TEST_ENV:"; grep -E 'Total:' "$OUT/tests-cuda-env.log"; grep -E '\[FAIL\]' "$OUT/tests-cuda-env.log" | head -20
  fi
fi
# The device tool returns few files: the logs and text go back as one archive, the JSON beside it.
tar -C "$OUT" -czf /tmp/details.tgz --exclude='*.json' . && rm -f "$OUT"/*.txt "$OUT"/*.log && mv /tmp/details.tgz "$OUT/details.tgz"
exit 0
