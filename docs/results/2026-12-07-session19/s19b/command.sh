# Session 19, call b: the cp.async ring as the streaming decode default (contiguous and paged caches) against the register
# loads (FLASH_DECODE_RING=0) and against an 8-stage ring (FLASH_DECODE_STAGES=8), alternating, twice, over 16 shapes;
# paged caches (pages of 256 rows, shuffled) once each; split sweeps of the ring; torch FA2 and cuDNN; ptxas -v; every
# decode test class on CUDA with the defaults. 32/8 heads, d 128, fp16, seqlen_q 1.
# Prepare here: ../shared/gpu/pack FlashAttention.Tests && mv .gpu/app.tar.xz .gpu/tests.tar.xz && ../shared/gpu/pack FlashAttention.Bench
# Run there (carry .gpu): bash docs/results/2026-12-07-session19/s19b/command.sh $OUT
set -u
OUT=$1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee $OUT/device.txt
tar -C /tmp -xJf .gpu/app.tar.xz
APP=/tmp/app/FlashAttention.Bench
for st in 4 8; do
  FLASH_DECODE_STAGES=$st $APP dump-ptx --out /tmp/ptx$st --only decode --match 'decode_stream_f16_d128_r4_ring' > /dev/null 2>&1
  sed 's/\.target sm_80/.target sm_90/' /tmp/ptx$st/*.ptx > /tmp/k.ptx
  echo "== ring, $st stages"; ptxas -arch=sm_90 -v /tmp/k.ptx -o /tmp/k.cubin 2>&1 | grep -E 'registers|spill|stack'
done | tee $OUT/ptxas.txt
# The wgmma kernels with a packed mask in fragment order (branch mask-fragment-order, PTX dumped there): does ptxas
# now test a lane's 8 bits of a word with one R2P? SASS counts beside the plain kernels.
for f in docs/results/2026-12-07-session19/ptx-mask/*.ptx; do
  n=$(basename $f .ptx); ptxas -arch=sm_90a -v $f -o /tmp/$n.cubin 2>&1 | grep -E 'registers|spill' | sed "s|^|$n: |"
  cuobjdump -sass /tmp/$n.cubin > $OUT/sass-$n.txt
  echo "$n: $(grep -cE '^ +/\*[0-9a-f]+\*/' $OUT/sass-$n.txt) instr, R2P $(grep -c 'R2P' $OUT/sass-$n.txt), SEL $(grep -cE ' SEL ' $OUT/sass-$n.txt), LOP3 $(grep -c 'LOP3' $OUT/sass-$n.txt)"
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
  env "${envs[@]}" timeout 100 $APP decode --device cuda "$@" --repeats 30 --warmup 5 \
    --out-json $OUT/$name.json > $OUT/$name.log 2>&1 || echo "$name rc=$?"
  summary $OUT/$name.json $name
}
ALL="--batches 1,2,4,8 --cache-lens 8192,16384,32768,65536"
for i in 1 2; do
  bench ring4-$i X=0 -- $ALL
  bench reg-$i FLASH_DECODE_RING=0 -- $ALL
  bench ring8-$i FLASH_DECODE_STAGES=8 -- $ALL
done
bench paged-ring4 X=0 -- $ALL --page-size 256
bench paged-reg FLASH_DECODE_RING=0 -- $ALL --page-size 256
bench sweep-ring4 X=0 -- --batches 1,2,4 --cache-lens 8192,16384,32768 --splits 8,16,32,64
bench sweep-ring8 FLASH_DECODE_STAGES=8 -- --batches 1,2 --cache-lens 8192,16384 --splits 8,16,32,64
timeout 120 python3 FlashAttention.Bench/peers/torch_decode.py --backends flash,cudnn --repeats 30 --warmup 5 $ALL \
  --out-json $OUT/torch.json > $OUT/torch.log 2>&1 || echo "torch rc=$?"
for m in ring4-1 ring4-2 reg-1 ring8-1; do
  python3 FlashAttention.Bench/peers/compare_decode.py $OUT/$m.json $OUT/torch.json --out-md $OUT/table-$m.md > /dev/null; done
cat $OUT/table-ring4-1.md
mkdir -p /tmp/t && tar -C /tmp/t -xJf .gpu/tests.tar.xz
FLASH_TEST_DEVICE=cuda timeout 120 /tmp/t/app/FlashAttention.Tests -class FlashAttention.Tests.DecodeAccuracyTests \
  -class FlashAttention.Tests.DecodeStreamingTests -class FlashAttention.Tests.DecodeAppendTests -class FlashAttention.Tests.DecodePagedTests \
  -class FlashAttention.Tests.DecodeBackendVariantTests -class FlashAttention.Tests.PartialMergeTests > $OUT/tests.log 2>&1; echo "tests rc=$?"
tail -3 $OUT/tests.log
cd $OUT && tar czf runs.tgz *.json *.log && rm -f *.json *.log && tar czf sass.tgz sass-*.txt && rm -f sass-*.txt
