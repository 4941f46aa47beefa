#!/usr/bin/env bash
# NOT RUN in session 20: the 192 s of device time left could not start a machine. Ready for the next session.
# Session 20, call e (the last device time, about 70 s): decode after the 2-key step lost its dead exp2s (main 34d4bcd) beside
# the transposed team sums of branch decode-transpose (cd75b9e, FLASH_DECODE_TRANSPOSE=1), 16 shapes, with torch FA2 and cuDNN.
# Prepare here: ../shared/gpu/pack FlashAttention.Bench (main, .gpu/app.tar.xz); the branch published the same way into
# .gpu/transpose.tar.xz (dotnet publish FlashAttention.Bench -c Release -r linux-x64 --self-contained true in its worktree, tar of app/).
# Run there (carry .gpu): bash docs/results/2026-12-07-session20/s20e/command.sh $OUT
set -u
OUT=$1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee $OUT/device.txt
tar -C /tmp -xJf .gpu/app.tar.xz && mkdir -p /tmp/tr && tar -C /tmp/tr -xJf .gpu/transpose.tar.xz
summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(sys.argv[2], " ".join(f"{r['batch']}x{r['cache_len']}/s{r['splits']}={r['median_ms']:.4f}" for r in d["results"]), flush=True)
PY
}
ALL="--batches 1,2,4,8 --cache-lens 8192,16384,32768,65536"
timeout 60 /tmp/app/FlashAttention.Bench decode --device cuda $ALL --repeats 30 --warmup 5 --out-json $OUT/main.json > $OUT/main.log 2>&1 || echo "main rc=$?"
summary $OUT/main.json main
FLASH_DECODE_TRANSPOSE=1 timeout 60 /tmp/tr/app/FlashAttention.Bench decode --device cuda $ALL --repeats 30 --warmup 5 --out-json $OUT/transpose.json > $OUT/transpose.log 2>&1 || echo "transpose rc=$?"
summary $OUT/transpose.json transpose
timeout 60 python3 FlashAttention.Bench/peers/torch_decode.py --backends flash,cudnn --repeats 30 --warmup 5 $ALL \
  --out-json $OUT/torch.json > $OUT/torch.log 2>&1 || echo "torch rc=$?"
for m in main transpose; do
  python3 FlashAttention.Bench/peers/compare_decode.py $OUT/$m.json $OUT/torch.json --out-md $OUT/table-$m.md > /dev/null; done
cat $OUT/table-main.md $OUT/table-transpose.md
cd $OUT && tar czf runs.tgz *.json *.log 2>/dev/null && rm -f *.json *.log
