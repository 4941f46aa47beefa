#!/usr/bin/env bash
# Session 13, call s13c (commit after the default-tile change): the defaults timed plain / float32 bias / float16 bias, causal and not,
# two rounds; torch SDPA with and without its fp16 bias; the CUDA tests of the pipelined kernel (its default-tile rows included) and the float16 bias.
BIAS_KERNELS="tc,tc+bias,tc+bias16" BIAS_DIMS=64,128 BIAS_ROUNDS=2 BIAS_CAUSAL=both BENCH_TIMEOUT=150 \
TEST_CLASSES="WgmmaPipelinedForwardTests HalfBiasTests WgmmaTests" TEST_TIMEOUT=150 bash scripts/gpu-bias.sh "$1"
