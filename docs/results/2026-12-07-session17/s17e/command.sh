#!/usr/bin/env bash
# Session 17, call s17e (the .gpu of s17c/s17d): the random packed mask and the float16 bias on the wgmma defaults against the
# plain call, two rounds, fp16, B 2 x N 8192, d 64 (32 heads) and d 128 (16 heads).
OUT=$1; mkdir -p "$OUT"
tar -C /tmp -xJf .gpu/app.tar.xz
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT/device.txt"; cat "$OUT/device.txt"
for round in 1 2; do
  timeout 150 /tmp/app/FlashAttention.Bench bench --device cuda --kernels tc,tc+mask,tc+bias16 --dtype float16 --headdims 64,128 --seqlens 8192 \
    --causal no --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/flash-$round.json" > "$OUT/flash-$round.log" 2>&1
  python3 -c "import json,sys; print(sys.argv[2], ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open(sys.argv[1]))['results']))" "$OUT/flash-$round.json" "round $round"
done
tail -3 "$OUT/flash-1.log"
