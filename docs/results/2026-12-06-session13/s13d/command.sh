#!/usr/bin/env bash
# NOT RUN in session 13: too little device time was left to start a machine.
# Session 13, call s13d (the last minutes of device time): the CUDA tests of both wgmma forward classes on the refactored
# kernels (WgmmaGroup, 556d8b3), the default-tile rows included. .gpu/tests.tar.xz only.
mkdir -p /tmp/tests && tar -C /tmp/tests -xJf .gpu/tests.tar.xz
FLASH_TEST_DEVICE=cuda timeout 110 /tmp/tests/app/FlashAttention.Tests -class FlashAttention.Tests.WgmmaPipelinedForwardTests \
  -class FlashAttention.Tests.WgmmaForwardTests > "$1/tests-cuda.log" 2>&1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
grep -E 'Total:' "$1/tests-cuda.log"; grep -E '\[FAIL\]' "$1/tests-cuda.log" | head -20
