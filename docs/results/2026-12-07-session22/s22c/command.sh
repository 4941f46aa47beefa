#!/usr/bin/env bash
# Session 22, s22c (same .gpu as s22a, build 4e7df79): the CUDA tests of the default paths with both experiments switched on as
# the new defaults would be (FLASH_SEED_SCORES=1, FLASH_DECODE_TRANSPOSE=1). Run there (carry .gpu), as one line:
mkdir -p /tmp/t && tar -C /tmp/t -xJf .gpu/tests.tar.xz && FLASH_SEED_SCORES=1 FLASH_DECODE_TRANSPOSE=1 FLASH_TEST_DEVICE=cuda timeout 115 /tmp/t/app/FlashAttention.Tests -class FlashAttention.Tests.TensorCoreMaskBitsTests -class FlashAttention.Tests.DecodeStreamingTests -class FlashAttention.Tests.DecodePagedTests > $OUT/tests-newdefaults.log 2>&1; echo "rc=$?"; grep -a "Total:" $OUT/tests-newdefaults.log; grep -ac "FAIL" $OUT/tests-newdefaults.log; grep -a "\[FAIL\]" $OUT/tests-newdefaults.log | head
