#!/usr/bin/env bash
# Session 21, s21b: why a packed mask costs 1.32-1.35x the plain wgmma forward. ptxas -v and SASS of the d 64 / d 128
# wgmma kernels (plain, mask in registers, staged mask, float16 bias) from .gpu/ptx (dump-ptx, build of main at 0e8878a+),
# and ncu's executed instructions by SASS opcode for the plain and masked calls at d 64 (B 2 x N 8192, fp16).
# Run there (carry .gpu): bash docs/results/2026-12-07-session21/s21b/command.sh $OUT
set -u
OUT=$1
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee $OUT/device.txt
mkdir -p $OUT/sass
for f in .gpu/ptx/*.ptx; do
  n=$(basename $f .ptx)
  ptxas -arch=sm_90a -v $f -o /tmp/$n.cubin 2>&1 | grep -E "registers|spill" | sed "s/^/$n: /" | tee -a $OUT/ptxas.txt
  cuobjdump -sass /tmp/$n.cubin > $OUT/sass/$n.sass
done
tar -C /tmp -xJf .gpu/app.tar.xz
APP=/tmp/app/FlashAttention.Bench
FWD="bench --device cuda --dtype float16 --headdims 64 --seqlens 8192 --causal no --passes fwd --repeats 1 --warmup 0 --input-sets 1"
for k in tc tc+mask; do
  timeout 120 ncu -k regex:Kernel_Run --launch-count 4 --metrics gpu__time_duration.sum,launch__grid_size,launch__registers_per_thread,smsp__inst_executed.sum,sass__inst_executed_per_opcode \
    --print-metric-instances details $APP $FWD --kernels $k > $OUT/ncu-$k.txt 2>&1 || echo "ncu $k rc=$?"
  grep -E "grid_size|gpu__time|smsp__inst_executed.sum" $OUT/ncu-$k.txt | head -12
done
cd $OUT && tar czf sass.tgz sass && rm -rf sass
