#!/usr/bin/env bash
# Session 17, call s17c: the staged float16 bias (FFMA form, s16's, tensor-core product reverted) with unchecked copies for
# full tiles. Our plain and float16-bias calls twice, torch SDPA with and without the same bias, causal, ncu of the d 64
# bias kernel (instruction count against s16f's 2.707 G), SASS of the default bias kernels, then the CUDA tests.
OUT=$1; mkdir -p "$OUT" /tmp/tests
tar -C /tmp -xJf .gpu/app.tar.xz; tar -C /tmp/tests -xJf .gpu/tests.tar.xz
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT/device.txt"; cat "$OUT/device.txt"
bench() { # tag, env, causal
  env $2 timeout 100 /tmp/app/FlashAttention.Bench bench --device cuda --kernels tc,tc+bias16 --dtype float16 --headdims 64,128 --seqlens 8192 \
    --causal $3 --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/flash-$1.json" > "$OUT/flash-$1.log" 2>&1
  python3 -c "import json,sys; print(sys.argv[2], ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open(sys.argv[1]))['results']))" "$OUT/flash-$1.json" "$1"
}
bench staged1 "" no
timeout 100 python3 FlashAttention.Bench/peers/torch_bias.py --headdims 64,128 --out-json "$OUT/torch-bias.json" > "$OUT/torch-bias.log" 2>&1
grep -E '^torch-cudnn' "$OUT/torch-bias.log"
bench staged2 "" no
bench causal "" yes
timeout 150 ncu -k regex:Kernel_Run --launch-skip 1 --launch-count 1 --section SpeedOfLight --section LaunchStats --section InstructionStats \
  --section SchedulerStats --print-details all /tmp/app/FlashAttention.Bench bench --device cuda --kernels tc+bias16 --dtype float16 --headdims 64 \
  --seqlens 8192 --causal no --passes fwd --repeats 1 --warmup 1 --input-sets 1 > "$OUT/ncu-bias16-d64.txt" 2>&1
grep -E "Duration|Executed Instructions |Executed Ipc A|Issue Slots Busy|Registers Per" "$OUT/ncu-bias16-d64.txt" | head
timeout 60 /tmp/app/FlashAttention.Bench dump-ptx --out /tmp/ptx --only tc --match 'wgp?_fwd_f16_d(64_w8@2|128_w12@1)_bias16s$' > /dev/null 2>&1
for f in /tmp/ptx/*.ptx; do k=$(basename $f .ptx)
  echo "$k: $(ptxas -arch=sm_90a -v $f -o /tmp/$k.cubin 2>&1 | grep -vE '^ptxas info *: (Compiling|Function properties)' | tr -s ' \n' ' ')"
  cuobjdump -sass /tmp/$k.cubin > "$OUT/sass-$k.txt"
  echo "$k SASS: $(grep -cE '^\s+/\*[0-9a-f]{4}\*/' "$OUT/sass-$k.txt") instructions"
done > "$OUT/ptxas.txt" 2>&1
sed -E 's/ptxas info *: //g' "$OUT/ptxas.txt" | cut -c1-300
FLASH_TEST_DEVICE=cuda timeout 200 /tmp/tests/app/FlashAttention.Tests -class FlashAttention.Tests.HalfBiasTests \
  -class FlashAttention.Tests.WgmmaPipelinedForwardTests -class FlashAttention.Tests.WgmmaForwardTests > "$OUT/tests-cuda.log" 2>&1
echo "tests exit $?"; grep -E 'Total:' "$OUT/tests-cuda.log"; grep -E '\[FAIL\]' "$OUT/tests-cuda.log" | head
tar -C "$OUT" -czf /tmp/details.tgz --exclude='*.json' . && rm -f "$OUT"/*.txt "$OUT"/*.log && mv /tmp/details.tgz "$OUT/details.tgz"
