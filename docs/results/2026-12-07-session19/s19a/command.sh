# Session 19, call a: the streaming decode kernel through the interleaved per-lane cp.async ring (FLASH_DECODE_RING=1,
# vector i of lane t at i * 128 + t) against the shipped register loads with L2 prefetch, alternating, twice each over
# 16 shapes, and the register loads on a [B, Hkv, N, D] cache (torch SDPA's layout, the one the peers read); a split sweep of both at the small shapes; torch FA2 and cuDNN on the same shapes; ptxas -v of both
# kernels; the CUDA decode tests with the ring on. 32/8 heads, d 128, fp16, seqlen_q 1.
# Prepare here: ../shared/gpu/pack FlashAttention.Tests && mv .gpu/app.tar.xz .gpu/tests.tar.xz && ../shared/gpu/pack FlashAttention.Bench
# Run there (carry .gpu): bash docs/results/2026-12-07-session19/s19a/command.sh $OUT
set -u
OUT=$1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee $OUT/device.txt
tar -C /tmp -xJf .gpu/app.tar.xz
APP=/tmp/app/FlashAttention.Bench
$APP dump-ptx --out /tmp/ptx --only decode --match 'decode_stream_f16_d128_r4' > /dev/null 2>&1
for f in /tmp/ptx/*.ptx; do
  sed 's/\.target sm_80/.target sm_90/' "$f" > /tmp/k.ptx
  echo "== $(basename $f .ptx)"; ptxas -arch=sm_90 -v /tmp/k.ptx -o /tmp/k.cubin 2>&1 | grep -E 'registers|spill|stack'
done | tee $OUT/ptxas.txt
# SASS of the plain and packed-mask wgmma kernels at d 64 (does ptxas test the mask bits with R2P or one LOP3 each?)
$APP dump-ptx --out /tmp/ptxm --only tc --match 'wg_fwd_f16_d64_w8@2(_bits)?$' > /dev/null 2>&1
for f in /tmp/ptxm/*.ptx; do
  n=$(basename $f .ptx); ptxas -arch=sm_90a -v $f -o /tmp/$n.cubin 2>&1 | grep -E 'registers|spill' | sed "s|^|$n: |"
  cuobjdump -sass /tmp/$n.cubin > $OUT/sass-$n.txt
  echo "$n: $(grep -cE '^ +/\*[0-9a-f]+\*/' $OUT/sass-$n.txt) instr, R2P $(grep -c 'R2P' $OUT/sass-$n.txt), FSEL $(grep -c 'FSEL' $OUT/sass-$n.txt), LOP3 $(grep -c 'LOP3' $OUT/sass-$n.txt)"
done | tee -a $OUT/ptxas.txt
summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["results"] if isinstance(d, dict) and "results" in d else d
print(sys.argv[2], " ".join(f"{r.get('batch')}x{r.get('cache_len')}/s{r.get('splits')}={r.get('median_ms'):.4f}" for r in rows), flush=True)
PY
}
bench() { # name env... -- args...
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  env "${envs[@]}" timeout 90 $APP decode --device cuda "$@" --repeats 30 --warmup 5 \
    --out-json $OUT/$name.json > $OUT/$name.log 2>&1 || echo "$name rc=$?"
  summary $OUT/$name.json $name
}
ALL="--batches 1,2,4,8 --cache-lens 8192,16384,32768,65536"
bench base-1 X=0 -- $ALL
bench ring-1 FLASH_DECODE_RING=1 -- $ALL
bench bhsd-1 X=0 -- $ALL --cache-layout bhsd
bench base-2 X=0 -- $ALL
bench ring-2 FLASH_DECODE_RING=1 -- $ALL
bench bhsd-2 X=0 -- $ALL --cache-layout bhsd
SWEEP="--batches 1,2 --cache-lens 8192,16384 --splits 16,32,64,128"
bench base-sweep X=0 -- $SWEEP
bench ring-sweep FLASH_DECODE_RING=1 -- $SWEEP
timeout 120 python3 FlashAttention.Bench/peers/torch_decode.py --backends flash,cudnn --repeats 30 --warmup 5 $ALL \
  --out-json $OUT/torch.json > $OUT/torch.log 2>&1 || echo "torch rc=$?"
for m in base ring bhsd; do for i in 1 2; do
  python3 FlashAttention.Bench/peers/compare_decode.py $OUT/$m-$i.json $OUT/torch.json --out-md $OUT/table-$m-$i.md > /dev/null; done; done
cat $OUT/table-ring-1.md $OUT/table-bhsd-1.md
mkdir -p /tmp/t && tar -C /tmp/t -xJf .gpu/tests.tar.xz
FLASH_DECODE_RING=1 FLASH_TEST_DEVICE=cuda timeout 60 /tmp/t/app/FlashAttention.Tests -class FlashAttention.Tests.DecodeAccuracyTests \
  -class FlashAttention.Tests.DecodeStreamingTests -class FlashAttention.Tests.DecodeAppendTests > $OUT/tests-ring.log 2>&1; echo "tests rc=$?"
tail -3 $OUT/tests-ring.log
cd $OUT && tar czf runs.tgz *.json *.log && rm -f *.json *.log && tar czf sass.tgz sass-*.txt && rm -f sass-*.txt
