set -u
OUT=$1
tar -C /tmp -xJf .gpu/app.tar.xz
APP=/tmp/app/FlashAttention.Bench
for round in 1 2; do
  for v in "default::" "u4-unbounded:4:0" "u4-b2:4:2" "u2-b2:2:2"; do
    IFS=: read -r name u g <<< "$v"
    env ${u:+FLASH_DECODE_UNROLL=$u} ${g:+FLASH_DECODE_MIN_GROUPS=$g} timeout 120 $APP decode --device cuda --batches 1,2,4 --cache-lens 8192,16384,32768 \
      --repeats 30 --warmup 5 --out-json $OUT/$name-$round.json > $OUT/$name-$round.log 2>&1
    python3 - $OUT/$name-$round.json $name-$round <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["results"] if isinstance(d, dict) and "results" in d else d
def f(r):
    return f"{r.get('batch')}x{r.get('cache_len', r.get('cache'))}={r.get('median_ms', r.get('ms')):.4f}"
print(sys.argv[2], " ".join(f(r) for r in rows))
PY
  done
done
cd $OUT && tar czf runs.tgz *.json *.log && rm -f *.json *.log
