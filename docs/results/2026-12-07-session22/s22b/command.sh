#!/usr/bin/env bash
# Session 22, s22b (same .gpu as s22a, build 4e7df79): small-batch decode with the transposed sums (FLASH_DECODE_TRANSPOSE=1),
# the ring at 4 stages (default) against 8 (FLASH_DECODE_STAGES=8: 6 more steps in flight a lane, 64 KB a group), two rounds
# alternating. Run there (carry .gpu): bash docs/results/2026-12-07-session22/s22b/command.sh $OUT
set -u
OUT=$1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee $OUT/device.txt
tar -C /tmp -xJf .gpu/app.tar.xz
APP=/tmp/app/FlashAttention.Bench
decode() { # name env...
  local name=$1; shift
  env FLASH_DECODE_TRANSPOSE=1 "$@" timeout 40 $APP decode --device cuda --batches 1,2 --cache-lens 8192,16384,32768,65536 --repeats 30 --warmup 5 \
    --out-json $OUT/$name.json > $OUT/$name.log 2>&1 || echo "$name rc=$?"
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[2], ' '.join(f\"{r['batch']}x{r['cache_len']}={r['median_ms']:.4f}\" for r in d['results']))" $OUT/$name.json $name
}
decode stages4-1
decode stages8-1 FLASH_DECODE_STAGES=8
decode stages8-2 FLASH_DECODE_STAGES=8
decode stages4-2
cd $OUT && tar czf runs.tgz *.json *.log && rm -f *.json *.log
