#!/usr/bin/env bash
# Session 13, call s13b (same .gpu as s13a): ncu of the default and the pipelined wgmma kernel at d 64 (neither spills there), then a
# bias alone on the default tile against the pipelined 12- and 8-warp tiles, float32 and float16, causal and not, two rounds.
mkdir -p "$1/ncu"
NCU_TARGETS="wg8@2:64:8192 wgp8@2:64:8192" bash scripts/gpu-tc.sh "$1/ncu" ncu
BIAS_KERNELS="tc,tc+bias,wgp12@1+bias,tc+bias16,wgp12@1+bias16,wg8@2+bias16,wgp8@2+bias16" BIAS_DIMS=64,128 BIAS_ROUNDS=2 BIAS_CAUSAL=both \
BIAS_TORCH=0 BENCH_TIMEOUT=220 bash scripts/gpu-bias.sh "$1"
