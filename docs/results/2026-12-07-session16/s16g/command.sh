#!/usr/bin/env bash
# Session 16, call s16g (the .gpu of s16e, kernels of 9c68797): the causal plain and float16-bias calls through the
# defaults, staged (default) and FLASH_STAGED_BIAS=0, one round.
BIAS_ROUNDS=1 BIAS_CAUSAL=yes BIAS_ENVS="- FLASH_STAGED_BIAS=0" BIAS_TORCH=0 BENCH_TIMEOUT=80 BIAS_KERNELS=tc,tc+bias16 bash scripts/gpu-bias.sh "$1"
