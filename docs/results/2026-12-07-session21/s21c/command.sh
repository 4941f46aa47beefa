#!/usr/bin/env bash
# Session 21, s21c (build 5a981e0): three questions in one call.
#  1. ptxas -v (sm_90a) of the seeded wgmma kernels (plain, staged mask, staged float16 bias; d 64 and d 128, 8 warps bounded to
#     2 groups per SM) and of the streaming decode kernel at d 128, 4 rows, with and without the transposed team sums (_tr);
#  2. the packed mask and the staged float16 bias seeding S (commits 3e8e729, a70fa55): plain, masked and float16-bias forwards at
#     B 2 x N 8192, twice, with the bias also on the bounded 8-warp tile (wg8@2) beside the default 12-warp pipelined one at d 128
#     (the masked call before the change: s21a);
#  3. decode, transposed team sums (FLASH_DECODE_TRANSPOSE=1, branch decode-transpose ae7a5db, merged) against the default, twice,
#     alternating, with torch FA2 and cuDNN;
#  then the CUDA test classes of the tensor-core mask and bias paths and of decode (DecodeTransposeTests included), and ncu's
#  executed instructions by opcode of the plain and masked forwards at d 64.
# Prepare here: ../shared/gpu/pack FlashAttention.Tests && mv .gpu/app.tar.xz .gpu/tests.tar.xz && ../shared/gpu/pack FlashAttention.Bench
#   and the PTX: dump-ptx --only tc --match '^wg_fwd_f16_d(64|128)_w8@2(_bitss|_bias16s)?$' and --only decode --match
#   'decode_stream_f16_d128_r4' into /tmp/ptx ('@' renamed '_at'), tar -C /tmp -cJf .gpu/ptx.tar.xz ptx
# Run there (carry .gpu): bash docs/results/2026-12-07-session21/s21c/command.sh $OUT
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
mask() { # name kernels env...
  local name=$1 kernels=$2; shift 2
  env X=0 "$@" timeout 120 $APP bench --device cuda --kernels $kernels --dtype float16 --headdims 64,128 --seqlens 8192 \
    --causal no --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/$name.json" > "$OUT/$name.log" 2>&1 || echo "$name rc=$?"
  python3 -c "import json,sys; print(sys.argv[2], ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open(sys.argv[1]))['results']))" "$OUT/$name.json" "$name"
}
mask fwd-1 tc,tc+mask,tc+bias16,wg8@2+bias16
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
decode main-1
decode transpose-1 FLASH_DECODE_TRANSPOSE=1
decode transpose-2 FLASH_DECODE_TRANSPOSE=1
decode main-2
timeout 120 python3 FlashAttention.Bench/peers/torch_decode.py --backends flash,cudnn --repeats 30 --warmup 5 --batches 1,2,4,8 \
  --cache-lens 8192,16384,32768,65536 --out-json $OUT/torch.json > $OUT/torch.log 2>&1 || echo "torch rc=$?"
for m in main-1 transpose-1; do
  python3 FlashAttention.Bench/peers/compare_decode.py $OUT/$m.json $OUT/torch.json --out-md $OUT/table-$m.md > /dev/null; done
cat $OUT/table-main-1.md $OUT/table-transpose-1.md
mask fwd-2 tc,tc+mask,tc+bias16,wg8@2+bias16
mkdir -p /tmp/t && tar -C /tmp/t -xJf .gpu/tests.tar.xz
T=/tmp/t/app/FlashAttention.Tests
FLASH_TEST_DEVICE=cuda timeout 200 $T -class FlashAttention.Tests.TensorCoreMaskBitsTests -class FlashAttention.Tests.WgmmaForwardTests \
  > $OUT/tests-mask.log 2>&1
echo "mask tests: $(grep -a 'Total:' $OUT/tests-mask.log)"; grep -a "\[FAIL\]" $OUT/tests-mask.log | head
FLASH_TEST_DEVICE=cuda timeout 150 $T -class FlashAttention.Tests.DecodeTransposeTests -class FlashAttention.Tests.DecodeAccuracyTests \
  -class FlashAttention.Tests.DecodeStreamingTests -class FlashAttention.Tests.DecodePagedTests > $OUT/tests-decode.log 2>&1
echo "decode tests: $(grep -a 'Total:' $OUT/tests-decode.log)"; grep -a "\[FAIL\]" $OUT/tests-decode.log | head
FWD="bench --device cuda --dtype float16 --headdims 64 --seqlens 8192 --causal no --passes fwd --repeats 1 --warmup 0 --input-sets 1"
for k in tc tc+mask; do
  timeout 100 ncu -k regex:Kernel_Run --launch-count 4 --metrics gpu__time_duration.sum,launch__grid_size,launch__registers_per_thread,smsp__inst_executed.sum,sass__inst_executed_per_opcode \
    --print-metric-instances details $APP $FWD --kernels $k > $OUT/ncu-$k.txt 2>&1 || echo "ncu $k rc=$?"
  grep -E "grid_size|gpu__time|smsp__inst_executed.sum" $OUT/ncu-$k.txt | head -12
done
cd $OUT && tar czf runs.tgz *.json *.log ncu-*.txt 2>/dev/null && rm -f *.json *.log ncu-*.txt
