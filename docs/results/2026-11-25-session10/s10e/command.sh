NCU_TARGETS="tc+bias:128:8192 tc:128:8192" bash scripts/gpu-tc.sh $OUT ncu   # .gpu/app.tar.xz = the final Bench
