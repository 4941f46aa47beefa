# Session 11, call a: the streaming decode kernel's L2 prefetch, two steps ahead (the old default) against the
# whole split up front (FLASH_DECODE_PREFETCH=-1),
# then torch's FlashAttention-2 and cuDNN on the same shapes; 32/8 heads, d 128, fp16, seqlen_q 1.
# Run at commit 64c37e4 (the up-front mode, reverted after this call): ../shared/gpu/pack FlashAttention.Bench here,
# then there (carry .gpu): bash command.sh $OUT
set -u
OUT=$1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee $OUT/device.txt
tar -C /tmp -xJf .gpu/app.tar.xz
APP=/tmp/app/FlashAttention.Bench
summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["results"] if isinstance(d, dict) and "results" in d else d
print(sys.argv[2], " ".join(f"{r.get('batch')}x{r.get('cache_len', r.get('cache'))}={r.get('median_ms', r.get('ms')):.4f}" for r in rows), flush=True)
PY
}
bench() { # name prefetch shapes...
  local name=$1 pf=$2; shift 2
  env ${pf:+FLASH_DECODE_PREFETCH=$pf} timeout 80 $APP decode --device cuda "$@" --repeats 30 --warmup 5 \
    --out-json $OUT/$name.json > $OUT/$name.log 2>&1 || echo "$name rc=$?"
  summary $OUT/$name.json $name
}
ALL="--batches 1,2,4,8 --cache-lens 8192,16384,32768,65536"
SMALL="--batches 1,2,4 --cache-lens 8192,16384,32768"
# The automatic choice is the up-front run where K and V fit in the L2 (50 MB: batch 1 x 8K) and the two-ahead run elsewhere.
bench ahead2-1 2 $ALL
bench upfront-1 -1 $ALL
bench ahead2-2 2 $SMALL
bench upfront-2 -1 $SMALL
timeout 120 python3 FlashAttention.Bench/peers/torch_decode.py --backends flash,cudnn --repeats 30 --warmup 5 $ALL \
  --out-json $OUT/torch.json > $OUT/torch.log 2>&1 || echo "torch rc=$?"
tail -22 $OUT/torch.log
for m in ahead2 upfront; do python3 FlashAttention.Bench/peers/compare_decode.py $OUT/$m-1.json $OUT/torch.json --out-md $OUT/table-$m.md; done
cd $OUT && tar czf runs.tgz *.json *.log && rm -f *.json *.log
