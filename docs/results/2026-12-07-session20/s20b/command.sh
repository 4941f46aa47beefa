#!/usr/bin/env bash
# Session 20, call b: the CUDA tests of what changed (the staged mask words on wgmma, the paged lookup by PageDivision).
# Prepare here: ../shared/gpu/pack FlashAttention.Tests && mv .gpu/app.tar.xz .gpu/tests.tar.xz && ../shared/gpu/pack FlashAttention.Bench
# Run there (carry .gpu): bash docs/results/2026-12-07-session20/s20b/command.sh $OUT
set -u
OUT=$1
nvidia-smi --query-gpu=name,driver_version --format=csv | tee $OUT/device.txt
mkdir -p /tmp/t && tar -C /tmp/t -xJf .gpu/tests.tar.xz
T=/tmp/t/app/FlashAttention.Tests
FLASH_TEST_DEVICE=cuda timeout 200 $T -class FlashAttention.Tests.WgmmaForwardTests -class FlashAttention.Tests.WgmmaPipelinedForwardTests \
  -class FlashAttention.Tests.TensorCoreMaskBitsTests -class FlashAttention.Tests.BlockMaskTests > $OUT/tests-mask.log 2>&1
echo "mask tests: $(grep -a 'Total:' $OUT/tests-mask.log)"; grep -a "\[FAIL\]" $OUT/tests-mask.log | head
FLASH_TEST_DEVICE=cuda timeout 150 $T -class FlashAttention.Tests.DecodeAccuracyTests -class FlashAttention.Tests.DecodeStreamingTests \
  -class FlashAttention.Tests.DecodeAppendTests -class FlashAttention.Tests.DecodePagedTests -class FlashAttention.Tests.PartialMergeTests > $OUT/tests-decode.log 2>&1
echo "decode tests: $(grep -a 'Total:' $OUT/tests-decode.log)"; grep -a "\[FAIL\]" $OUT/tests-decode.log | head
cd $OUT && tar czf runs.tgz *.log && rm -f *.log
