#!/usr/bin/env bash
# The whole GPU run in one command:
#   bash gpu_run.sh APPDIR OUTDIR [quick]
# APPDIR/FlashAttention.Bench is our published bench program. Steps:
#   1. nvidia-smi info                      -> OUTDIR/nvidia-smi.txt
#   2. our bench sweep                      -> OUTDIR/flash.json, flash.csv
#   3. torch SDPA sweep (torch_sdpa.py)     -> OUTDIR/torch.json, torch.csv
#   4. verify: make_inputs + our `verify` + check_verify for two cases -> OUTDIR/verify/
#   5. compare.py                           -> OUTDIR/table.md
# Each step's output is also in OUTDIR/logs/. A failed step is reported and the
# later steps still run; the exit status is non-zero if any step failed.
# Environment:
#   BENCH_ARGS   extra arguments for `FlashAttention.Bench bench`
#   TORCH_ARGS   extra arguments for torch_sdpa.py
#   VERIFY_ARGS  extra arguments for `FlashAttention.Bench verify`
#   VERIFY_DO    auto|1|0: pass --do DIR/do.npy to verify (auto: if `verify --help` lists --do
#                and its line does not say "not implemented")
#   CHECK_ARGS   extra arguments for check_verify.py (e.g. --atol 2e-3)
#   QUICK_BENCH_ARGS / QUICK_TORCH_ARGS  replace the quick-mode sweep restriction
#   PYTHON       python interpreter (default python3)
#   SKIP         comma list of steps to skip: bench,torch,verify,compare
set -u
export PYTHONUNBUFFERED=1

if [ $# -lt 2 ]; then
  echo "usage: $0 APPDIR OUTDIR [quick]" >&2
  exit 2
fi
APPDIR=$1
OUTDIR=$2
MODE=${3:-full}
case "$MODE" in full|quick) ;; *) echo "third argument must be 'quick' (or omitted)" >&2; exit 2 ;; esac

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PYTHON:-python3}
APP="$APPDIR/FlashAttention.Bench"
mkdir -p "$OUTDIR/logs" "$OUTDIR/verify"
OUTDIR=$(cd "$OUTDIR" && pwd)
SKIP=",${SKIP:-},"

QUICK_SWEEP="--seqlens 2048,8192 --headdims 128 --passes fwd"
if [ "$MODE" = quick ]; then
  MODE_BENCH_ARGS=${QUICK_BENCH_ARGS:-$QUICK_SWEEP}
  MODE_TORCH_ARGS=${QUICK_TORCH_ARGS:-$QUICK_SWEEP}
else
  MODE_BENCH_ARGS=""
  MODE_TORCH_ARGS=""
fi

declare -a STEP_NAMES=() STEP_RCS=() STEP_SECS=()
FAILED=0

# step NAME CMD... : run CMD with its output shown and logged; record the status.
step() {
  local name=$1; shift
  local log="$OUTDIR/logs/$name.log"
  echo
  echo "=== [$name] $*"
  local t0=$SECONDS
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local dt=$((SECONDS - t0))
  STEP_NAMES+=("$name"); STEP_RCS+=("$rc"); STEP_SECS+=("$dt")
  if [ "$rc" -ne 0 ]; then
    FAILED=1
    echo "=== [$name] FAILED (exit $rc, ${dt}s; log $log)"
  else
    echo "=== [$name] ok (${dt}s)"
  fi
  return $rc
}

# skipped NAME REASON : record a step that could not run as failed.
skipped() {
  STEP_NAMES+=("$1"); STEP_RCS+=("not run: $2"); STEP_SECS+=(0)
  FAILED=1
  echo "=== [$1] NOT RUN: $2"
}

wants() { [[ "$SKIP" != *",$1,"* ]]; }

echo "gpu_run.sh: mode $MODE, app $APP, out $OUTDIR, $(date -u +%Y-%m-%dT%H:%M:%SZ)"

# 1. GPU info
{
  nvidia-smi || echo "nvidia-smi failed"
  echo
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit,persistence_mode --format=csv || true
  echo
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "device", torch.cuda.get_device_name() if torch.cuda.is_available() else None)' || echo "torch not importable"
} 2>&1 | tee "$OUTDIR/nvidia-smi.txt"

APP_OK=1
if [ ! -f "$APP" ]; then
  APP_OK=0
  echo "gpu_run.sh: $APP not found"
elif [ ! -x "$APP" ]; then
  chmod +x "$APP" 2>/dev/null || true
  [ -x "$APP" ] || { APP_OK=0; echo "gpu_run.sh: $APP is not executable"; }
fi

# 2. our bench
if wants bench; then
  if [ "$APP_OK" = 1 ]; then
    # shellcheck disable=SC2086
    step bench "$APP" bench --out-json "$OUTDIR/flash.json" --out-csv "$OUTDIR/flash.csv" $MODE_BENCH_ARGS ${BENCH_ARGS:-}
  else
    skipped bench "no runnable $APP"
  fi
fi

# 3. torch SDPA
if wants torch; then
  # shellcheck disable=SC2086
  step torch "$PY" "$HERE/torch_sdpa.py" --out-json "$OUTDIR/torch.json" --out-csv "$OUTDIR/torch.csv" $MODE_TORCH_ARGS ${TORCH_ARGS:-}
fi

# 4. verify
verify_case() {  # NAME CAUSAL(0/1) make_inputs args...
  local name=$1 causal=$2; shift 2
  local dir="$OUTDIR/verify/$name"
  rm -rf "$dir"; mkdir -p "$dir/in" "$dir/out"
  step "inputs-$name" "$PY" "$HERE/make_inputs.py" --out "$dir/in" "$@" || return 1
  local cflag=()
  [ "$causal" = 1 ] && cflag=(--causal)
  local doflag=()
  if [ "$USE_DO" = 1 ]; then doflag=(--do "$dir/in/do.npy"); fi
  if [ "$APP_OK" = 1 ]; then
    # shellcheck disable=SC2086
    step "verify-$name" "$APP" verify --q "$dir/in/q.npy" --k "$dir/in/k.npy" --v "$dir/in/v.npy" \
      ${doflag[@]+"${doflag[@]}"} --out "$dir/out" --device cuda ${cflag[@]+"${cflag[@]}"} ${VERIFY_ARGS:-} || return 1
  else
    skipped "verify-$name" "no runnable $APP"
    return 1
  fi
  # shellcheck disable=SC2086
  step "check-$name" "$PY" "$HERE/check_verify.py" --inputs "$dir/in" --outputs "$dir/out" --name "$name" \
    ${cflag[@]+"${cflag[@]}"} --out-json "$OUTDIR/verify/$name.json" ${CHECK_ARGS:-}
}

if wants verify; then
  USE_DO=0
  case "${VERIFY_DO:-auto}" in
    1|yes|true) USE_DO=1 ;;
    0|no|false) USE_DO=0 ;;
    *)
      # --do is passed only if `verify --help` lists it and its line does not say "not implemented".
      if [ "$APP_OK" = 1 ]; then
        doline=$("$APP" verify --help 2>&1 | grep -E -- '--do([^a-zA-Z_-]|$)' || true)
        if [ -n "$doline" ] && ! grep -qi 'not implemented' <<<"$doline"; then USE_DO=1; fi
      fi ;;
  esac
  echo "gpu_run.sh: verify gets dO: $USE_DO"
  verify_case gqa-causal-2x1024x16x128 1 --batch 2 --seqlen 1024 --heads 16 --heads-kv 4 --headdim 128 --dtype float16 --seed 1
  verify_case plain-1x333x8x64 0 --batch 1 --seqlen 333 --heads 8 --headdim 64 --dtype float16 --seed 2
fi

# 5. compare
if wants compare; then
  files=()
  for f in "$OUTDIR/flash.json" "$OUTDIR/torch.json"; do [ -f "$f" ] && files+=("$f"); done
  if [ ${#files[@]} -gt 0 ]; then
    step compare "$PY" "$HERE/compare.py" "${files[@]}" --out-md "$OUTDIR/table.md"
  else
    skipped compare "no result JSON in $OUTDIR"
  fi
fi

echo
echo "=== summary ($MODE, $OUTDIR)"
{
  for i in "${!STEP_NAMES[@]}"; do
    rc=${STEP_RCS[$i]}
    if [ "$rc" = 0 ]; then st=ok; else st="FAILED ($rc)"; fi
    printf '%-40s %-28s %5ss\n' "${STEP_NAMES[$i]}" "$st" "${STEP_SECS[$i]}"
  done
  if [ "$FAILED" = 0 ]; then echo "all steps ok"; else echo "some steps FAILED"; fi
} | tee "$OUTDIR/summary.txt"
exit $FAILED
