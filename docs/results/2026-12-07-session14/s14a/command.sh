#!/usr/bin/env bash
# NOT RUN in session 14: the device tool found no machine (eight failed starts on H100 and H200 between 01:08 and 03:05 UTC,
# one machine taken back before the call finished, six calls refused in cool-downs); they used 1606 of the 1800 s. The next session can run it as it is
# after repacking (.gpu/tests.tar.xz and .gpu/app.tar.xz of any commit since 8892762: the kernels have not changed since).
# Session 14, call s14a (session 13's s13c + s13d cut to fit what failed starts left of the device time; at 3a9cf41 =
# code of 8892762): the CUDA tests of both wgmma forward classes on the refactored kernels (WgmmaGroup; Accumulate =
# Issue + WaitAll), the pipelined kernel's default-tile rows and the float16 bias; then the new defaults' bias calls
# (tc+bias, tc+bias16 through the engine's own tile choice) beside the plain call, one round, no torch.
# Carry .gpu: app.tar.xz (../shared/gpu/pack FlashAttention.Bench), tests.tar.xz (pack FlashAttention.Tests, renamed).
BIAS_KERNELS="tc,tc+bias,tc+bias16" BIAS_DIMS=64,128 BIAS_ROUNDS=1 BIAS_CAUSAL=no BENCH_TIMEOUT=90 BIAS_TORCH=0 \
TEST_CLASSES="WgmmaPipelinedForwardTests WgmmaForwardTests HalfBiasTests" TEST_TIMEOUT=200 bash scripts/gpu-bias.sh "$1"
