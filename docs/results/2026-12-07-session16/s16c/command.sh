#!/usr/bin/env bash
# Session 16, call s16c: the staging rewritten from bulk copies (s16a: slower) to cp.async in the K/V tile's commit
# group. ptxas -v of the float16-bias wgmma kernels (_bias16 register prefetch, _bias16s staged); the plain and
# float16-bias calls through the engine's defaults, staged (default) and FLASH_STAGED_BIAS=0, two rounds; torch SDPA
# with and without the same bias; the CUDA tests of the float16 bias and both wgmma classes.
BIAS_ROUNDS=2 BIAS_ENVS="- FLASH_STAGED_BIAS=0" BIAS_TORCH=1 BENCH_TIMEOUT=100 BIAS_KERNELS=tc,tc+bias16 \
TEST_CLASSES="HalfBiasTests WgmmaForwardTests WgmmaPipelinedForwardTests" TEST_TIMEOUT=240 bash scripts/gpu-bias.sh "$1"
