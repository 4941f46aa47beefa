#!/usr/bin/env bash
# NOT RUN in session 13: the device tool found no machine for it (four starts); the next session can run it as it is.
# Session 13, call s13c (after the default-tile change; device time was short, so one round and no torch): the new defaults
# (tc, tc+bias, tc+bias16) beside the tiles they replace (wg12@1 for a bias alone at d 128, wg8 for a float16 one at d 64);
# the CUDA tests of the pipelined kernel (its default-tile rows included) and the float16 bias.
BIAS_KERNELS="tc,tc+bias,wg12@1+bias,tc+bias16,wg12@1+bias16,wg8+bias16" BIAS_DIMS=64,128 BIAS_ROUNDS=1 BIAS_CAUSAL=no BENCH_TIMEOUT=110 BIAS_TORCH=0 \
TEST_CLASSES="WgmmaPipelinedForwardTests HalfBiasTests" TEST_TIMEOUT=120 bash scripts/gpu-bias.sh "$1"
