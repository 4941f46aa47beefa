#!/usr/bin/env bash
# The leads session 21 left (no GPU could be had after its first call), in one GPU call (about 7-8 minutes on an H100):
#  1. ptxas -v (sm_90a) of the seeded wgmma kernels and the transposed decode kernel, from .gpu/ptx.tar.xz (see below);
#  2. seeding S (FLASH_SEED_SCORES=1: a packed mask starts S's product at -inf where it hides a score, a staged float16 bias at
#     b / scale) against the default, plain / masked / float16-bias forwards at B 2 x N 8192, twice, alternating, with the bias
#     also on the bounded 8-warp tile (wg8@2) beside the default 12-warp pipelined one at d 128;
#  3. decode with the transposed team sums (FLASH_DECODE_TRANSPOSE=1) against the default, twice, alternating, with torch FA2
#     and cuDNN on the same 16 shapes;
#  4. the CUDA tests of both experiments (SeededScoresTests, DecodeTransposeTests) and of the default paths they touch.
# Seeding is verified on the CPU emulation only: if SeededScoresTests fails on CUDA, -inf does not survive the tensor-core
# accumulators and the experiment goes. Make it the default only if it is also faster; then HalfBiasTests'
# Staged_bias_matches_the_register_prefetch_bitwise must compare against the reference instead (the seeded sum rounds differently).
# Prepare here: ../shared/gpu/pack FlashAttention.Tests && mv .gpu/app.tar.xz .gpu/tests.tar.xz && ../shared/gpu/pack FlashAttention.Bench
#   and the PTX: B=FlashAttention.Bench/bin/Release/net10.0/FlashAttention.Bench; rm -rf /tmp/ptx;
#   $B dump-ptx --out /tmp/ptx --only tc --match '^wg_fwd_f16_d(64|128)_w8@2(_bitss|_bias16s)?$';
#   $B dump-ptx --out /tmp/ptx --only decode --match 'decode_stream_f16_d128_r4';
#   for f in /tmp/ptx/*@*; do mv "$f" "${f/@/_at}"; done; tar -C /tmp -cJf .gpu/ptx.tar.xz ptx
#   (the three archives stay under the 64 MiB carry limit with about 1 MB to spare: keep nothing else in .gpu)
# Run there (carry .gpu): bash scripts/gpu-leads-s21.sh $OUT
set -u
OUT=$1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee $OUT/device.txt
tar -C /tmp -xJf .gpu/ptx.tar.xz
for f in /tmp/ptx/*.ptx; do
  n=$(basename $f .ptx)
  ptxas -arch=sm_90a -v $f -o /tmp/$n.cubin 2>&1 | grep -E "registers|spill" | sed "s/^/$n: /" | tr -s ' ' | tee -a $OUT/ptxas.txt
done
tar -C /tmp -xJf .gpu/app.tar.xz
APP=/tmp/app/FlashAttention.Bench
mask() { # name env...
  local name=$1; shift
  env X=0 "$@" timeout 120 $APP bench --device cuda --kernels tc,tc+mask,tc+bias16,wg8@2+bias16 --dtype float16 --headdims 64,128 --seqlens 8192 \
    --causal no --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/$name.json" > "$OUT/$name.log" 2>&1 || echo "$name rc=$?"
  python3 -c "import json,sys; print(sys.argv[2], ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open(sys.argv[1]))['results']))" "$OUT/$name.json" "$name"
}
mask fwd-default-1
mask fwd-seeded-1 FLASH_SEED_SCORES=1
summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(sys.argv[2], " ".join(f"{r['batch']}x{r['cache_len']}={r['median_ms']:.4f}" for r in d["results"]), flush=True)
PY
}
decode() { # name env...
  local name=$1; shift
  env X=0 "$@" timeout 100 $APP decode --device cuda --batches 1,2,4,8 --cache-lens 8192,16384,32768,65536 --repeats 30 --warmup 5 \
    --out-json $OUT/$name.json > $OUT/$name.log 2>&1 || echo "$name rc=$?"
  summary $OUT/$name.json $name
}
decode decode-default-1
decode decode-transpose-1 FLASH_DECODE_TRANSPOSE=1
decode decode-transpose-2 FLASH_DECODE_TRANSPOSE=1
decode decode-default-2
timeout 120 python3 FlashAttention.Bench/peers/torch_decode.py --backends flash,cudnn --repeats 30 --warmup 5 --batches 1,2,4,8 \
  --cache-lens 8192,16384,32768,65536 --out-json $OUT/torch.json > $OUT/torch.log 2>&1 || echo "torch rc=$?"
for m in decode-default-1 decode-transpose-1; do
  python3 FlashAttention.Bench/peers/compare_decode.py $OUT/$m.json $OUT/torch.json --out-md $OUT/table-$m.md > /dev/null; done
cat $OUT/table-decode-default-1.md $OUT/table-decode-transpose-1.md
mask fwd-seeded-2 FLASH_SEED_SCORES=1
mask fwd-default-2
mkdir -p /tmp/t && tar -C /tmp/t -xJf .gpu/tests.tar.xz
T=/tmp/t/app/FlashAttention.Tests
FLASH_TEST_DEVICE=cuda timeout 200 $T -class FlashAttention.Tests.SeededScoresTests -class FlashAttention.Tests.TensorCoreMaskBitsTests \
  -class FlashAttention.Tests.WgmmaForwardTests -class FlashAttention.Tests.HalfBiasTests > $OUT/tests-tc.log 2>&1
echo "tensor-core tests: $(grep -a 'Total:' $OUT/tests-tc.log)"; grep -a "\[FAIL\]" $OUT/tests-tc.log | head
FLASH_TEST_DEVICE=cuda timeout 150 $T -class FlashAttention.Tests.DecodeTransposeTests -class FlashAttention.Tests.DecodeAccuracyTests \
  -class FlashAttention.Tests.DecodeStreamingTests -class FlashAttention.Tests.DecodePagedTests > $OUT/tests-decode.log 2>&1
echo "decode tests: $(grep -a 'Total:' $OUT/tests-decode.log)"; grep -a "\[FAIL\]" $OUT/tests-decode.log | head
cd $OUT && tar czf runs.tgz *.json *.log 2>/dev/null && rm -f *.json *.log
