#!/usr/bin/env bash
# Session 16, call s16e: the staged float16 bias with fewer instructions (row addresses computed once a block, read by
# ldmatrix instead of 16 ld.shared). First the CUDA tests of the float16 bias and both wgmma classes, then ptxas -v, then
# the plain and float16-bias calls through the defaults, staged and FLASH_STAGED_BIAS=0, then torch SDPA with and
# without the same bias. Whatever ran comes back if the call is cut short.
OUT=$1; mkdir -p "$OUT" /tmp/tests /tmp/ptx
tar -C /tmp -xJf .gpu/app.tar.xz; tar -C /tmp/tests -xJf .gpu/tests.tar.xz; tar -C /tmp/ptx -xJf .gpu/ptx.tar.xz
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv > "$OUT/device.txt"
FLASH_TEST_DEVICE=cuda timeout 170 /tmp/tests/app/FlashAttention.Tests -class FlashAttention.Tests.HalfBiasTests \
  -class FlashAttention.Tests.WgmmaPipelinedForwardTests -class FlashAttention.Tests.WgmmaForwardTests > "$OUT/tests-cuda.log" 2>&1
grep -E 'Total:' "$OUT/tests-cuda.log"; grep -E '\[FAIL\]' "$OUT/tests-cuda.log" | head
for f in /tmp/ptx/ptxwg/*.ptx; do echo "$(basename $f .ptx): $(ptxas -arch=sm_90a -v $f -o /tmp/k.cubin 2>&1 | grep -E 'registers|spill' | tr -s ' \n' ' ')"; done > "$OUT/ptxas.txt"
sed -E 's/ptxas info *: //g' "$OUT/ptxas.txt" | cut -c1-200
for e in - FLASH_STAGED_BIAS=0; do
  tag=${e//[^A-Z0-9]/}; [ "$e" = "-" ] && e=""
  env $e timeout 90 /tmp/app/FlashAttention.Bench bench --device cuda --kernels tc,tc+bias16 --dtype float16 --headdims 64,128 --seqlens 8192 \
    --causal no --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/flash-$tag.json" > "$OUT/flash-$tag.log" 2>&1
  python3 -c "import json,sys; print(sys.argv[2], ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open(sys.argv[1]))['results']))" "$OUT/flash-$tag.json" "${e:-staged}"
done
timeout 100 python3 FlashAttention.Bench/peers/torch_bias.py --headdims 64,128 --out-json "$OUT/torch-bias.json" > "$OUT/torch-bias.log" 2>&1
grep -E '^torch-cudnn' "$OUT/torch-bias.log"
