#!/usr/bin/env bash
# The leads session 20 left, in one GPU call (about 150 s on an H100; 230 s with step 4):
#  1. decode after the 2-key step lost its dead exp2s (commit 34d4bcd, not timed): contiguous and paged caches, 16 shapes, with
#     torch FA2 and cuDNN in the same call (the figures before it: docs/results/2026-12-07-session20/s20d);
#  2. the plain, staged-mask and float16-bias forwards at B 2 x N 8192, two rounds;
#  3. the CUDA decode test classes;
#  4. where .gpu/transpose.tar.xz is carried too: the transposed team sums of branch decode-transpose (FLASH_DECODE_TRANSPOSE=1)
#     on the same shapes, beside main, twice, alternating. Publish the branch in its worktree with
#     `dotnet publish FlashAttention.Bench/FlashAttention.Bench.csproj -c Release -r linux-x64 --self-contained true -o /tmp/tpub/app
#     -p:DebugType=None -p:InvariantGlobalization=true` and `tar -C /tmp/tpub -cJf <main>/.gpu/transpose.tar.xz app`; move
#     .gpu/tests.tar.xz aside for that call if the three archives pass the 64 MiB carry limit (and skip step 3).
# Prepare here: ../shared/gpu/pack FlashAttention.Tests && mv .gpu/app.tar.xz .gpu/tests.tar.xz && ../shared/gpu/pack FlashAttention.Bench
# Run there (carry .gpu): bash scripts/gpu-leads-s20.sh $OUT
set -u
OUT=$1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee $OUT/device.txt
tar -C /tmp -xJf .gpu/app.tar.xz
APP=/tmp/app/FlashAttention.Bench
summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(sys.argv[2], " ".join(f"{r['batch']}x{r['cache_len']}/s{r['splits']}={r['median_ms']:.4f}" for r in d["results"]), flush=True)
PY
}
bench() { # name env... -- args...
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  env "${envs[@]}" timeout 100 $APP decode --device cuda "$@" --repeats 30 --warmup 5 \
    --out-json $OUT/$name.json > $OUT/$name.log 2>&1 || echo "$name rc=$?"
  summary $OUT/$name.json $name
}
ALL="--batches 1,2,4,8 --cache-lens 8192,16384,32768,65536"
bench contiguous X=0 -- $ALL
bench paged X=0 -- $ALL --page-size 256
timeout 120 python3 FlashAttention.Bench/peers/torch_decode.py --backends flash,cudnn --repeats 30 --warmup 5 $ALL \
  --out-json $OUT/torch.json > $OUT/torch.log 2>&1 || echo "torch rc=$?"
for m in contiguous paged; do
  python3 FlashAttention.Bench/peers/compare_decode.py $OUT/$m.json $OUT/torch.json --out-md $OUT/table-$m.md > /dev/null; done
cat $OUT/table-contiguous.md $OUT/table-paged.md
if [ -f .gpu/transpose.tar.xz ]; then
  mkdir -p /tmp/tr && tar -C /tmp/tr -xJf .gpu/transpose.tar.xz
  for i in 1 2; do
    env FLASH_DECODE_TRANSPOSE=1 timeout 100 /tmp/tr/app/FlashAttention.Bench decode --device cuda $ALL --repeats 30 --warmup 5 \
      --out-json $OUT/transpose-$i.json > $OUT/transpose-$i.log 2>&1 || echo "transpose-$i rc=$?"
    summary $OUT/transpose-$i.json transpose-$i
    bench main-$i X=0 -- $ALL
  done
  python3 FlashAttention.Bench/peers/compare_decode.py $OUT/transpose-1.json $OUT/torch.json --out-md $OUT/table-transpose.md > /dev/null
  cat $OUT/table-transpose.md
fi
mask() { # name kernels env...
  local name=$1 kernels=$2; shift 2
  env X=0 "$@" timeout 120 $APP bench --device cuda --kernels $kernels --dtype float16 --headdims 64,128 --seqlens 8192 \
    --causal no --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/$name.json" > "$OUT/$name.log" 2>&1 || echo "$name rc=$?"
  python3 -c "import json,sys; print(sys.argv[2], ' '.join(f\"{r['impl']}/d{r['headdim']}={r['median_ms']:.3f}\" for r in json.load(open(sys.argv[1]))['results']))" "$OUT/$name.json" "$name"
}
mask fwd-1 tc,tc+mask,tc+bias16
mask fwd-2 tc,tc+mask,tc+bias16
[ -f .gpu/tests.tar.xz ] || { cd $OUT && tar czf runs.tgz *.json *.log 2>/dev/null && rm -f *.json *.log; exit 0; }
mkdir -p /tmp/t && tar -C /tmp/t -xJf .gpu/tests.tar.xz
T=/tmp/t/app/FlashAttention.Tests
FLASH_TEST_DEVICE=cuda timeout 150 $T -class FlashAttention.Tests.DecodeAccuracyTests -class FlashAttention.Tests.DecodeStreamingTests \
  -class FlashAttention.Tests.DecodeAppendTests -class FlashAttention.Tests.DecodePagedTests -class FlashAttention.Tests.PartialMergeTests > $OUT/tests-decode.log 2>&1
echo "decode tests: $(grep -a 'Total:' $OUT/tests-decode.log)"; grep -a "\[FAIL\]" $OUT/tests-decode.log | head
cd $OUT && tar czf runs.tgz *.json *.log 2>/dev/null && rm -f *.json *.log
