#!/usr/bin/env bash
# Session 16, call s16a: ptxas -v of the float16-bias wgmma kernels, register prefetch (_bias16) against bulk-copy
# staging (_bias16s); the plain and float16-bias calls through the engine's defaults, staged (default) and with
# FLASH_STAGED_BIAS=0 (the register prefetch), one round; then the CUDA tests of the float16 bias and both wgmma classes.
BIAS_ROUNDS=1 BIAS_ENVS="- FLASH_STAGED_BIAS=0" BIAS_TORCH=0 BENCH_TIMEOUT=100 BIAS_KERNELS=tc,tc+bias16 \
TEST_CLASSES="HalfBiasTests WgmmaForwardTests WgmmaPipelinedForwardTests" TEST_TIMEOUT=240 bash scripts/gpu-bias.sh "$1"
