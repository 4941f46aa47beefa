#!/usr/bin/env bash
# Session 21, s21d (build 83ebea0): the short form of scripts/gpu-leads-s21.sh for the 629 s left. CUDA tests of both
# experiments first (SeededScoresTests, DecodeTransposeTests), then seeded (FLASH_SEED_SCORES=1) against default forwards,
# two rounds alternating, then transposed (FLASH_DECODE_TRANSPOSE=1) against default decode once each, with torch.
# Run there (carry .gpu): bash docs/results/2026-12-07-session21/s21d/command.sh $OUT
set -u
OUT=$1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee $OUT/device.txt
mkdir -p /tmp/t && tar -C /tmp/t -xJf .gpu/tests.tar.xz
T=/tmp/t/app/FlashAttention.Tests
FLASH_TEST_DEVICE=cuda timeout 90 $T -class FlashAttention.Tests.SeededScoresTests -class FlashAttention.Tests.DecodeTransposeTests > $OUT/tests.log 2>&1
echo "tests: $(grep -a 'Total:' $OUT/tests.log)"; grep -a "\[FAIL\]" $OUT/tests.log | head
tar -C /tmp -xJf .gpu/app.tar.xz
APP=/tmp/app/FlashAttention.Bench
mask() { # name env...
  local name=$1; shift
  env X=0 "$@" timeout 90 $APP bench --device cuda --kernels tc,tc+mask,tc+bias16 --dtype float16 --headdims 64,128 --seqlens 8192 \
    --causal no --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/$name.json" > "$OUT/$name.log" 2>&1 || echo "$name rc=$?"
  python3 -c "import json,sys; print(sys.argv[2], ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open(sys.argv[1]))['results']))" "$OUT/$name.json" "$name"
}
mask fwd-default-1
mask fwd-seeded-1 FLASH_SEED_SCORES=1
mask fwd-seeded-2 FLASH_SEED_SCORES=1
mask fwd-default-2
summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(sys.argv[2], " ".join(f"{r['batch']}x{r['cache_len']}={r['median_ms']:.4f}" for r in d["results"]), flush=True)
PY
}
decode() { # name env...
  local name=$1; shift
  env X=0 "$@" timeout 60 $APP decode --device cuda --batches 1,2,4,8 --cache-lens 8192,16384,32768,65536 --repeats 30 --warmup 5 \
    --out-json $OUT/$name.json > $OUT/$name.log 2>&1 || echo "$name rc=$?"
  summary $OUT/$name.json $name
}
decode decode-default-1
decode decode-transpose-1 FLASH_DECODE_TRANSPOSE=1
timeout 60 python3 FlashAttention.Bench/peers/torch_decode.py --backends flash,cudnn --repeats 30 --warmup 5 --batches 1,2,4,8 \
  --cache-lens 8192,16384,32768,65536 --out-json $OUT/torch.json > $OUT/torch.log 2>&1 || echo "torch rc=$?"
for m in decode-default-1 decode-transpose-1; do
  python3 FlashAttention.Bench/peers/compare_decode.py $OUT/$m.json $OUT/torch.json --out-md $OUT/table-$m.md > /dev/null; done
cat $OUT/table-decode-default-1.md $OUT/table-decode-transpose-1.md
cd $OUT && tar czf runs.tgz *.json *.log 2>/dev/null && rm -f *.json *.log
