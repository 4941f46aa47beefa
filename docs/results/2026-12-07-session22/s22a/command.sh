#!/usr/bin/env bash
# Session 22, s22a (build 4e7df79: seeding compile-time, SeededScores): session 21's two experiments in one call, most important first, so a cut-off run still
# answers something: ptxas -v of the seeded / transposed kernels; the CUDA tests of both experiments; seeded
# (FLASH_SEED_SCORES=1) against default forwards, two rounds alternating; transposed (FLASH_DECODE_TRANSPOSE=1) against default
# decode with torch; ncu's kernel time of decode 1 x 8K (ours and torch's cuDNN) against the event time; then the CUDA tests of the
# default paths the experiments touch. Archives: .gpu/app.tar.xz (Bench), .gpu/tests.tar.xz (Tests), .gpu/ptx.tar.xz (see
# scripts/gpu-leads-s21.sh's header). Run there (carry .gpu): bash docs/results/2026-12-07-session22/s22a/command.sh $OUT
set -u
OUT=$1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee $OUT/device.txt
tar -C /tmp -xJf .gpu/ptx.tar.xz
for f in /tmp/ptx/*.ptx; do
  n=$(basename $f .ptx)
  ptxas -arch=sm_90a -v $f -o /tmp/$n.cubin 2>&1 | grep -E "registers|spill" | sed "s/^/$n: /" | tr -s ' ' >> $OUT/ptxas.txt
done
grep -E "registers" $OUT/ptxas.txt | sed 's/ptxas info : //'
mkdir -p /tmp/t && tar -C /tmp/t -xJf .gpu/tests.tar.xz
T=/tmp/t/app/FlashAttention.Tests
FLASH_TEST_DEVICE=cuda timeout 100 $T -class FlashAttention.Tests.SeededScoresTests -class FlashAttention.Tests.DecodeTransposeTests > $OUT/tests-exp.log 2>&1
echo "experiment tests: $(grep -a 'Total:' $OUT/tests-exp.log)"; grep -a "\[FAIL\]" $OUT/tests-exp.log | head
tar -C /tmp -xJf .gpu/app.tar.xz
APP=/tmp/app/FlashAttention.Bench
mask() { # name env...
  local name=$1; shift
  env X=0 "$@" timeout 60 $APP bench --device cuda --kernels tc,tc+mask,tc+bias16 --dtype float16 --headdims 64,128 --seqlens 8192 \
    --causal no --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/$name.json" > "$OUT/$name.log" 2>&1 || echo "$name rc=$?"
  python3 -c "import json,sys; print(sys.argv[2], ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open(sys.argv[1]))['results']))" "$OUT/$name.json" "$name"
}
mask fwd-default-1
mask fwd-seeded-1 FLASH_SEED_SCORES=1
mask fwd-seeded-2 FLASH_SEED_SCORES=1
mask fwd-default-2
summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(sys.argv[2], " ".join(f"{r['batch']}x{r['cache_len']}={r['median_ms']:.4f}" for r in d["results"]), flush=True)
PY
}
decode() { # name env...
  local name=$1; shift
  env X=0 "$@" timeout 60 $APP decode --device cuda --batches 1,2,4,8 --cache-lens 8192,16384,32768,65536 --repeats 30 --warmup 5 \
    --out-json $OUT/$name.json > $OUT/$name.log 2>&1 || echo "$name rc=$?"
  summary $OUT/$name.json $name
}
decode decode-default-1
decode decode-transpose-1 FLASH_DECODE_TRANSPOSE=1
timeout 60 python3 FlashAttention.Bench/peers/torch_decode.py --backends flash,cudnn --repeats 30 --warmup 5 --batches 1,2,4,8 \
  --cache-lens 8192,16384,32768,65536 --out-json $OUT/torch.json > $OUT/torch.log 2>&1 || echo "torch rc=$?"
for m in decode-default-1 decode-transpose-1; do
  python3 FlashAttention.Bench/peers/compare_decode.py $OUT/$m.json $OUT/torch.json --out-md $OUT/table-$m.md > /dev/null; done
cat $OUT/table-decode-default-1.md $OUT/table-decode-transpose-1.md
# Kernel time against event time at the smallest shape: is 1 x 8K's gap in the kernel or around it?
timeout 60 ncu --launch-skip 10 --launch-count 6 --metrics gpu__time_duration.sum,launch__grid_size,launch__registers_per_thread \
  $APP decode --device cuda --batches 1 --cache-lens 8192 --repeats 5 --warmup 5 --out-json /tmp/ncu-ours.json > $OUT/ncu-decode-ours.txt 2>&1
grep -E "^\s+[A-Za-z_]|gpu__time|grid_size|registers" $OUT/ncu-decode-ours.txt | head -40
timeout 60 ncu --launch-skip 20 --launch-count 6 --metrics gpu__time_duration.sum,launch__grid_size \
  python3 FlashAttention.Bench/peers/torch_decode.py --backends cudnn --repeats 5 --warmup 5 --batches 1 --cache-lens 8192 --out-json /tmp/ncu-torch.json \
  > $OUT/ncu-decode-torch.txt 2>&1
grep -E "^\s+[A-Za-z_]|gpu__time|grid_size" $OUT/ncu-decode-torch.txt | head -40
FLASH_TEST_DEVICE=cuda timeout 150 $T -class FlashAttention.Tests.TensorCoreMaskBitsTests -class FlashAttention.Tests.WgmmaForwardTests \
  -class FlashAttention.Tests.HalfBiasTests -class FlashAttention.Tests.DecodeStreamingTests -class FlashAttention.Tests.DecodePagedTests > $OUT/tests-default.log 2>&1
echo "default-path tests: $(grep -a 'Total:' $OUT/tests-default.log)"; grep -a "\[FAIL\]" $OUT/tests-default.log | head
cd $OUT && tar czf runs.tgz *.json *.log ncu-*.txt 2>/dev/null && rm -f *.json *.log ncu-*.txt
