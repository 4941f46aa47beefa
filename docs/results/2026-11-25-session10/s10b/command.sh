set -u
OUT=$1
AB_KERNELS="tc,tc+bias,tc+mask,tc+docs1024,tc+causalmask" AB_DIMS=64,128 AB_SEQLENS=8192 AB_CAUSAL=no bash scripts/gpu-ab.sh $OUT
for v in old new; do
  timeout 100 /tmp/$v/app/FlashAttention.Bench bench --device cuda --kernels tc,tc+bias --dtype float16 --headdims 128 --seqlens 8192 --causal yes \
    --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json $OUT/causal-$v.json > $OUT/causal-$v.log 2>&1
  python3 -c "import json,sys; print('$v causal', ' '.join(f\"{r['impl']}={r['median_ms']:.3f}\" for r in json.load(open('$OUT/causal-$v.json'))['results']))"
done
for v in old new; do
  timeout 200 ncu -k regex:Kernel_Run --launch-skip 1 --launch-count 1 --metrics dram__bytes_read.sum,lts__t_sector_hit_rate.pct,gpu__time_duration.sum,launch__block_size,launch__registers_per_thread \
    /tmp/$v/app/FlashAttention.Bench bench --device cuda --kernels tc+bias --dtype float16 --headdims 128 --seqlens 8192 --causal no --passes fwd --repeats 1 --warmup 1 --input-sets 1 > $OUT/ncu-bias-$v.txt 2>&1
  echo "== ncu $v"; grep -E "Kernel_Run|dram__|lts__|gpu__time|launch__" $OUT/ncu-bias-$v.txt | head -12
done
