#!/usr/bin/env bash
# Session 16, call s16f (the .gpu of s16e, kernels of 9c68797): ncu of the kept staged float16-bias kernel at d 64 and of
# the plain call beside it, for the instruction counts the next step (the bias added by the tensor cores) would remove.
NCU_TARGETS="tc+bias16:64:8192 tc:64:8192" bash scripts/gpu-tc.sh "$1" ncu
