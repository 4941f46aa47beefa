set -u
OUT=$1
tar -C /tmp -xJf .gpu/app.tar.xz
APP=/tmp/app/FlashAttention.Bench
for round in 1 2; do
  timeout 150 $APP bench --device cuda --kernels tc,tc+mask,wg8+mask,wg4+mask,wg4@4+mask,wg4@3+mask --dtype float16 --headdims 64 --seqlens 8192 --causal no \
    --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json $OUT/mask64-$round.json > $OUT/mask64-$round.log 2>&1
  python3 -c "import json; print('round $round', ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open('$OUT/mask64-$round.json'))['results']))"
done
