# Session 18, call a: the streaming decode kernel through a per-lane cp.async ring (FLASH_DECODE_RING=1, 4 stages)
# against the shipped register loads with L2 prefetch two steps ahead; ring variants (launch bounds, unroll);
# then torch's FlashAttention-2 and cuDNN on the same shapes; ptxas -v of both kernels; the decode tests on CUDA
# with the ring on. 32/8 heads, d 128, fp16, seqlen_q 1. Then the float16 bias and random mask against the plain call
# (B 2 x N 8192, d 64 / 32 heads and d 128 / 16 heads), one round, with the bias unit 1/scale now set on the host.
# Prepare here: ../shared/gpu/pack FlashAttention.Tests && mv .gpu/app.tar.xz .gpu/tests.tar.xz && ../shared/gpu/pack FlashAttention.Bench
# Run there (carry .gpu): bash docs/results/2026-12-07-session18/s18a/command.sh $OUT
set -u
OUT=$1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee $OUT/device.txt
tar -C /tmp -xJf .gpu/app.tar.xz
APP=/tmp/app/FlashAttention.Bench
$APP dump-ptx --out /tmp/ptx --only decode --match 'decode_stream_f16_d128_r4' > /dev/null 2>&1

for f in /tmp/ptx/*.ptx; do
  case $f in *decode*) sed 's/\.target sm_80/.target sm_90/' "$f" > /tmp/k.ptx; arch=sm_90;; *) cp "$f" /tmp/k.ptx; arch=sm_90a;; esac
  echo "== $(basename $f .ptx)"; ptxas -arch=$arch -v /tmp/k.ptx -o /tmp/k.cubin 2>&1 | grep -E 'registers|spill|stack|C75'
done | tee $OUT/ptxas.txt
summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["results"] if isinstance(d, dict) and "results" in d else d
print(sys.argv[2], " ".join(f"{r.get('batch')}x{r.get('cache_len', r.get('cache'))}={r.get('median_ms', r.get('ms')):.4f}" for r in rows), flush=True)
PY
}
bench() { # name env... -- shapes...
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  env "${envs[@]}" timeout 80 $APP decode --device cuda "$@" --repeats 30 --warmup 5 \
    --out-json $OUT/$name.json > $OUT/$name.log 2>&1 || echo "$name rc=$?"
  summary $OUT/$name.json $name
}
ALL="--batches 1,2,4,8 --cache-lens 8192,16384,32768,65536"
SMALL="--batches 1,2,4 --cache-lens 8192,16384,32768"
bench base-1 X=0 -- $ALL
bench ring-1 FLASH_DECODE_RING=1 -- $ALL
bench ring-g0 FLASH_DECODE_RING=1 FLASH_DECODE_MIN_GROUPS=0 -- $SMALL

bench base-2 X=0 -- $SMALL
bench ring-2 FLASH_DECODE_RING=1 -- $SMALL
timeout 120 python3 FlashAttention.Bench/peers/torch_decode.py --backends flash,cudnn --repeats 30 --warmup 5 $ALL \
  --out-json $OUT/torch.json > $OUT/torch.log 2>&1 || echo "torch rc=$?"
tail -20 $OUT/torch.log
for m in base ring; do python3 FlashAttention.Bench/peers/compare_decode.py $OUT/$m-1.json $OUT/torch.json --out-md $OUT/table-$m.md > /dev/null; done
cat $OUT/table-ring.md
for round in 1; do
  timeout 100 $APP bench --device cuda --kernels tc,tc+mask,tc+bias16 --dtype float16 --headdims 64,128 --seqlens 8192 \
    --causal no --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/bias-$round.json" > "$OUT/bias-$round.log" 2>&1
  python3 -c "import json,sys; print(sys.argv[2], ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open(sys.argv[1]))['results']))" "$OUT/bias-$round.json" "bias round $round"
done
mkdir -p /tmp/t && tar -C /tmp/t -xJf .gpu/tests.tar.xz
FLASH_DECODE_RING=1 FLASH_TEST_DEVICE=cuda timeout 60 /tmp/t/app/FlashAttention.Tests -class FlashAttention.Tests.DecodeAccuracyTests \
  -class FlashAttention.Tests.DecodeStreamingTests -class FlashAttention.Tests.DecodeAppendTests > $OUT/tests-ring.log 2>&1; echo "tests rc=$?"
tail -5 $OUT/tests-ring.log
cd $OUT && tar czf runs.tgz *.json *.log && rm -f *.json *.log
