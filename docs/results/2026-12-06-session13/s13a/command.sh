#!/usr/bin/env bash
# Session 13, call s13a: the pipelined wgmma forward (wgpN) against the default (tc = wg8@2 plain/mask, wg12@1 / wg8 float16 bias),
# ptxas -v of both kernels (registers, spills, C7514 warnings), then the CUDA tests of both wgmma forward classes.
# Before it, here: dump-ptx --only tc --match 'wgp?_fwd_f16_d(64|128)_w(8|8@2|12@1)(_bits|_bias16)?$' into /tmp/ptxwg, tarred to .gpu/ptx.tar.xz;
# ../shared/gpu/pack FlashAttention.Tests (renamed .gpu/tests.tar.xz), ../shared/gpu/pack FlashAttention.Bench.
BIAS_KERNELS="tc,wgp8@2,wgp8,wgp12@1,tc+mask,wgp8@2+mask,wgp8+mask,tc+bias16,wgp8+bias16,wgp12@1+bias16" BIAS_DIMS=64,128 BIAS_ROUNDS=2 \
BIAS_TORCH=0 BENCH_TIMEOUT=200 TEST_CLASSES="WgmmaPipelinedForwardTests WgmmaForwardTests" TEST_TIMEOUT=150 \
  bash scripts/gpu-bias.sh "$1"
