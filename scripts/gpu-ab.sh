#!/usr/bin/env bash
# A/B of two builds of the bench in one GPU-machine call, alternating old and new twice (carry .gpu):
#   .gpu/app.tar.xz (new: ../shared/gpu/pack FlashAttention.Bench), .gpu/old.tar.xz (the build to compare with,
#   packed the same way and renamed), optionally .gpu/ptx.tar.xz (folder ptx/ from dump-ptx, compiled with ptxas -v here).
#   bash scripts/gpu-ab.sh $OUT        environment: AB_KERNELS, AB_DIMS, AB_SEQLENS, AB_CAUSAL (bench options)
set -u
OUT=${1:?usage: gpu-ab.sh OUTDIR}
mkdir -p "$OUT" /tmp/new /tmp/old
tar -C /tmp/new -xJf .gpu/app.tar.xz && tar -C /tmp/old -xJf .gpu/old.tar.xz || exit 1
if [ -f .gpu/ptx.tar.xz ]; then
  tar -C /tmp -xJf .gpu/ptx.tar.xz
  for f in /tmp/ptx/*.ptx; do
    echo "$(basename "$f" .ptx): $(ptxas -arch=sm_90a -v "$f" -o /tmp/k.cubin 2>&1 | grep -E 'registers|spill' | tr -s ' \n' ' ')"
  done > "$OUT/ptxas.txt"
  cat "$OUT/ptxas.txt"
fi
for round in 1 2; do
  for v in old new; do
    timeout 120 /tmp/$v/app/FlashAttention.Bench bench --device cuda --kernels "${AB_KERNELS:-tc,tc+bias,tc+mask}" --dtype float16 \
      --headdims "${AB_DIMS:-64,128}" --seqlens "${AB_SEQLENS:-8192}" --causal "${AB_CAUSAL:-no}" --passes fwd --repeats 20 --warmup 3 \
      --input-sets 2 --out-json "$OUT/$v-$round.json" > "$OUT/$v-$round.log" 2>&1
    python3 - "$OUT/$v-$round.json" "$v-$round" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["results"]
print(sys.argv[2], " ".join(f"{r['impl']}/d{r['headdim']}{'c' if r['causal'] else ''}={r['median_ms']:.3f}" for r in rows))
PY
  done
done
