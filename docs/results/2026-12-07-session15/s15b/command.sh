#!/usr/bin/env bash
# Session 15, call s15b (the same warm H100 right after s15a): a second round of the plain and float16-bias calls
# through the engine's defaults, then torch SDPA with and without the same bias (peers/torch_bias.py).
OUT=$1; mkdir -p "$OUT"; tar -C /tmp -xJf .gpu/app.tar.xz
timeout 60 /tmp/app/FlashAttention.Bench bench --device cuda --kernels tc,tc+bias16 --dtype float16 --headdims 64,128 --seqlens 8192 \
  --causal no --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/flash-2.json" > "$OUT/flash-2.log" 2>&1
timeout 150 python3 FlashAttention.Bench/peers/torch_bias.py --headdims 64,128 --out-json "$OUT/torch-bias.json" > "$OUT/torch-bias.log" 2>&1
