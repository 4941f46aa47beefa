#!/usr/bin/env bash
# Session 15, call s15a (H100, at the .gpu packed from a5e0bd0: kernels of 8892762; the PTX of this session's
# WarpExchange commit is identical): session 14's s14a, without torch and with shorter limits to fit the device time
# left after eight failed starts. Carry .gpu: app.tar.xz (../shared/gpu/pack FlashAttention.Bench) and tests.tar.xz
# (pack FlashAttention.Tests, renamed).
BIAS_KERNELS="tc,tc+bias,tc+bias16" BIAS_DIMS=64,128 BIAS_ROUNDS=1 BIAS_CAUSAL=no BENCH_TIMEOUT=60 BIAS_TORCH=0 \
TEST_CLASSES="WgmmaPipelinedForwardTests WgmmaForwardTests HalfBiasTests" TEST_TIMEOUT=170 bash scripts/gpu-bias.sh "$1"
