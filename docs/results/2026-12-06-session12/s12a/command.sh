# Session 12, call s12a (H200, 2026-12-06). Build: commit 9e0fc40 plus an uncommitted experiment, since removed: a score mode
# HalfBiasAheadScores (FLASH_BIAS_AHEAD=1) that loaded each tile's float16 bias one tile ahead in the wgmma kernel
# (the ..._bias16a kernels in ptxas.txt). PTX made locally with
#   dotnet FlashAttention.Bench/bin/Release/net10.0/FlashAttention.Bench.dll dump-ptx --out /tmp/ptxwg --only tc \
#     --match '^wg_fwd_f16_d(64|128)_w(8|12)(@[12])?(_bias|_bias16|_bias16a)?$'
# and packed as .gpu/ptx.tar.xz; bench and tests packed with ../shared/gpu/pack (tests renamed to .gpu/tests.tar.xz).
BIAS_KERNELS=tc,tc+bias,tc+bias16,wg8@2+bias16 BIAS_ENVS="- FLASH_BIAS_AHEAD=1" TEST_CLASSES="HalfBiasTests" \
  TEST_ENV=FLASH_BIAS_AHEAD=1 TEST_TIMEOUT=120 bash scripts/gpu-bias.sh $OUT/s12a
