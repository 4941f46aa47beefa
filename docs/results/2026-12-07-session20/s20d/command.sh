#!/usr/bin/env bash
# Session 20, call d (the rest of the device time, about 110 s): the staged mask against the register loads once more, then the
# contiguous and paged decode shapes with torch FA2 and cuDNN in the same call.
# Prepare here: ../shared/gpu/pack FlashAttention.Tests && mv .gpu/app.tar.xz .gpu/tests.tar.xz && ../shared/gpu/pack FlashAttention.Bench
# Run there (carry .gpu): bash docs/results/2026-12-07-session20/s20d/command.sh $OUT
set -u
OUT=$1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee $OUT/device.txt
tar -C /tmp -xJf .gpu/app.tar.xz
APP=/tmp/app/FlashAttention.Bench
mask() { # name kernels env...
  local name=$1 kernels=$2; shift 2
  env X=0 "$@" timeout 120 $APP bench --device cuda --kernels $kernels --dtype float16 --headdims 64,128 --seqlens 8192 \
    --causal no --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/$name.json" > "$OUT/$name.log" 2>&1 || echo "$name rc=$?"
  python3 -c "import json,sys; print(sys.argv[2], ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open(sys.argv[1]))['results']))" "$OUT/$name.json" "$name"
}
mask staged-3 tc,tc+mask
mask regs-3 tc,tc+mask FLASH_STAGED_MASK=0
summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(sys.argv[2], " ".join(f"{r['batch']}x{r['cache_len']}/s{r['splits']}={r['median_ms']:.4f}" for r in d["results"]), flush=True)
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
bench contiguous X=0 -- $ALL
bench paged X=0 -- $ALL --page-size 256
timeout 120 python3 FlashAttention.Bench/peers/torch_decode.py --backends flash,cudnn --repeats 30 --warmup 5 $ALL \
  --out-json $OUT/torch.json > $OUT/torch.log 2>&1 || echo "torch rc=$?"
for m in contiguous paged; do
  python3 FlashAttention.Bench/peers/compare_decode.py $OUT/$m.json $OUT/torch.json --out-md $OUT/table-$m.md > /dev/null; done
cat $OUT/table-contiguous.md $OUT/table-paged.md
cd $OUT && tar czf runs.tgz *.json *.log *.md 2>/dev/null && rm -f *.json *.log
