#!/usr/bin/env bash
# Dry-run of gpu_run.sh with fake_bench.py standing in for FlashAttention.Bench (needs a GPU + torch):
#   bash testing/selftest_gpu.sh OUTDIR
# Checks that the pipeline runs end to end, that check_verify FAILs on a broken output, and
# that torch_sdpa.py records a non-ok status instead of crashing on an unsupported dtype.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-/tmp/peers-selftest}
APP=$(mktemp -d)
printf '#!/usr/bin/env bash\nexec python3 %q "$@"\n' "$HERE/fake_bench.py" > "$APP/FlashAttention.Bench"
chmod +x "$APP/FlashAttention.Bench"
rc=0
bash "$HERE/../gpu_run.sh" "$APP" "$OUT/run" quick || { echo "SELFTEST: gpu_run.sh quick failed"; rc=1; }
echo "--- broken output must FAIL:"
d="$OUT/run/verify/plain-1x333x8x64"
FAKE_BREAK=1 "$APP/FlashAttention.Bench" verify --q "$d/in/q.npy" --k "$d/in/k.npy" --v "$d/in/v.npy" --out "$OUT/broken"
python3 "$HERE/../check_verify.py" --inputs "$d/in" --outputs "$OUT/broken" --out-json "$OUT/broken.json"
[ $? -eq 1 ] && echo "SELFTEST: broken output FAILed as it should" || { echo "SELFTEST: broken output not caught"; rc=1; }
echo "--- float32 through flash must be recorded, not crash:"
python3 "$HERE/../torch_sdpa.py" --dtype float32 --seqlens 512 --headdims 64 --causal no --passes fwd \
  --repeats 3 --warmup 1 --gpu-warmup-s 0 --out-json "$OUT/f32.json" || true
python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print([(x['impl'],x['status']) for x in r])" "$OUT/f32.json" || rc=1
rm -rf "$APP"
echo "SELFTEST rc=$rc"
exit $rc
