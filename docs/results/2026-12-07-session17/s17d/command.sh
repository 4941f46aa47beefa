#!/usr/bin/env bash
# Session 17, call s17d: A/B of the staged float16 bias's copies, session 16's build (.gpu/old.tar.xz, d1e50b7) against this
# one (.gpu/app.tar.xz, unchecked copies for full tiles), alternating, three rounds, plain and float16 bias at d 64 and 128.
OUT=$1; mkdir -p "$OUT" /tmp/old
tar -C /tmp -xJf .gpu/app.tar.xz; tar -C /tmp -xJf .gpu/old.tar.xz
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT/device.txt"; cat "$OUT/device.txt"
for round in 1 2 3; do
  for build in old app; do
    timeout 100 /tmp/$build/FlashAttention.Bench bench --device cuda --kernels tc,tc+bias16 --dtype float16 --headdims 64,128 --seqlens 8192 \
      --causal no --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/flash-$build-$round.json" > /dev/null 2>&1
    python3 -c "import json,sys; print(sys.argv[2], ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open(sys.argv[1]))['results']))" "$OUT/flash-$build-$round.json" "$build $round"
  done
done
