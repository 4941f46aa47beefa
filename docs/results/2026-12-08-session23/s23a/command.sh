#!/usr/bin/env bash
# Session 23, s23a: prepared in session 23, NOT RUN (no device machine was lent: eight starts failed, then loans were paused).
# Build: the current main (the copy-hoist commits 1a5a2a3/88a0eaa are in it); the "old" forward is 8d953c5, the commit before them.
# Pack (about 56 MB with xz -9e; the carry limit is 64 MiB with the tracked tree):
#   rm -rf .gpu && ../shared/gpu/pack FlashAttention.Tests && mv .gpu/app.tar.xz .gpu/tests.tar.xz && ../shared/gpu/pack FlashAttention.Bench
#   git worktree add --detach /tmp/wt-old 8d953c5 && (cd /tmp/wt-old && dotnet publish FlashAttention.Bench/FlashAttention.Bench.csproj -c Release
#     -r linux-x64 --self-contained true -o /tmp/oldpub -p:DebugType=None -p:InvariantGlobalization=true)
#   mkdir -p .gpu/old && cp /tmp/oldpub/FlashAttention.{Bench,Core,Kernels}.dll .gpu/old/
#   (if over the limit: re-pack each archive with XZ_OPT='-T4 -9e')
# Most important first, so a cut-off run still answers something:
#   1. the CUDA tests of the wgmma forwards, the packed mask, the float16 bias and seeding on the new build, and of decode
#      (the new defaults, then FLASH_DECODE_THREADS=256);
#   2. forwards, old (8d953c5: .gpu/old/*.dll swapped into a copy of the app) against new (copy-hoist + lazy rescale) and new
#      with FLASH_LAZY_RESCALE=0 (copy-hoist alone), two rounds alternating, plain / packed mask / float16 bias at d 64 and 128,
#      N 8192, non-causal, then plain causal old against new;
#   3. torch's flash and cuDNN forwards on the same shapes (the ratio to FA2 / cuDNN);
#   4. decode: the new default (per-lane copy cursors, lazy rescale) against the session-22 loop (FLASH_DECODE_CURSOR=0
#      FLASH_LAZY_RESCALE=0) in two alternating rounds, and 256-thread groups (FLASH_DECODE_THREADS=256), with torch's flash and
#      cuDNN decode in the same call; the new default and 256 threads at 16 / 32 / 64 splits at batch 1-2;
#   5. the ring's CUDA path with PeerCopyTransport (two contexts of GPU 0, --share-device) beside the host-staged transport;
#   6. ncu stall reasons of decode 1 x 8K (ours, then cuDNN's), for the small-batch decode gap.
# Archives: .gpu/app.tar.xz (Bench, new), .gpu/tests.tar.xz (Tests, new), .gpu/old/ (the old build's three project dlls).
# Three calls of up to 600 s each, all carrying .gpu (a warm machine keeps /tmp/app and /tmp/t between them):
#   bash docs/results/2026-12-08-session23/s23a/command.sh $OUT tests      (1: the CUDA tests; s22a's 150 s were too few for 5 classes)
#   bash docs/results/2026-12-08-session23/s23a/command.sh $OUT forward    (2-3: forwards, torch forwards)
#   bash docs/results/2026-12-08-session23/s23a/command.sh $OUT decode     (4-6: decode, ring, ncu)
set -u
OUT=$1
PART=${2:-tests}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader | tee $OUT/device.txt
mkdir -p /tmp/t && [ -x /tmp/t/app/FlashAttention.Tests ] || tar -C /tmp/t -xJf .gpu/tests.tar.xz
T=/tmp/t/app/FlashAttention.Tests
[ -x /tmp/app/FlashAttention.Bench ] || tar -C /tmp -xJf .gpu/app.tar.xz
if [ "$PART" = tests ]; then
FLASH_TEST_DEVICE=cuda timeout 300 $T -class FlashAttention.Tests.WgmmaForwardTests -class FlashAttention.Tests.WgmmaPipelinedForwardTests \
  -class FlashAttention.Tests.TensorCoreMaskBitsTests -class FlashAttention.Tests.HalfBiasTests -class FlashAttention.Tests.SeededScoresTests > $OUT/tests.log 2>&1
echo "tests: $(grep -a 'Total:' $OUT/tests.log)"; grep -a "\[FAIL\]" $OUT/tests.log | head
FLASH_TEST_DEVICE=cuda timeout 120 $T -class FlashAttention.Tests.DecodeStreamingTests -class FlashAttention.Tests.DecodeTransposeTests \
  -class FlashAttention.Tests.DecodePagedTests -class FlashAttention.Tests.DecodeAccuracyTests > $OUT/tests-decode.log 2>&1
echo "decode tests (cursors, lazy rescale): $(grep -a 'Total:' $OUT/tests-decode.log)"; grep -a "\[FAIL\]" $OUT/tests-decode.log | head
FLASH_DECODE_THREADS=256 FLASH_TEST_DEVICE=cuda timeout 120 $T -class FlashAttention.Tests.DecodeStreamingTests -class FlashAttention.Tests.DecodeTransposeTests \
  -class FlashAttention.Tests.DecodePagedTests > $OUT/tests-decode256.log 2>&1
echo "decode tests, 256 threads: $(grep -a 'Total:' $OUT/tests-decode256.log)"; grep -a "\[FAIL\]" $OUT/tests-decode256.log | head
fi
if [ "$PART" = forward ]; then
rm -rf /tmp/appold && cp -r /tmp/app /tmp/appold && cp .gpu/old/*.dll /tmp/appold/
fwd() { # name app causal kernels [VAR=value ...]
  env X=0 ${5:-} timeout 90 $2/FlashAttention.Bench bench --device cuda --kernels $4 --dtype float16 --headdims 64,128 --seqlens 8192 \
    --causal $3 --passes fwd --repeats 20 --warmup 3 --input-sets 2 --out-json "$OUT/$1.json" > "$OUT/$1.log" 2>&1 || echo "$1 rc=$?"
  python3 -c "import json,sys; print(sys.argv[2], ' '.join(f\"{r['impl']}/d{r['headdim']}={(r['median_ms'] or float('nan')):.3f}\" for r in json.load(open(sys.argv[1]))['results']))" "$OUT/$1.json" "$1"
}
K=tc,tc+mask,tc+bias16
fwd old-1 /tmp/appold no $K
fwd new-1 /tmp/app no $K
fwd eager-1 /tmp/app no $K FLASH_LAZY_RESCALE=0
fwd new-2 /tmp/app no $K
fwd eager-2 /tmp/app no $K FLASH_LAZY_RESCALE=0
fwd old-2 /tmp/appold no $K
fwd old-causal /tmp/appold yes tc
fwd new-causal /tmp/app yes tc
timeout 120 python3 FlashAttention.Bench/peers/torch_sdpa.py --seqlens 8192 --headdims 64,128 --causal both --passes fwd --backends flash,cudnn \
  --repeats 20 --out-json $OUT/torch-fwd.json > $OUT/torch-fwd.log 2>&1 || echo "torch rc=$?"
python3 -c "import json,sys; print('torch', ' '.join(f\"{r['impl']}/d{r['headdim']}/c{int(bool(r.get('causal')))}={(r['median_ms'] or float('nan')):.3f}\" for r in json.load(open(sys.argv[1]))['results']))" $OUT/torch-fwd.json
fi
if [ "$PART" = decode ]; then
summary() {
  python3 - "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(sys.argv[2], " ".join(f"{r['batch']}x{r['cache_len']}/s{r.get('splits','?')}={r['median_ms']:.4f}" for r in d["results"]), flush=True)
PY
}
decode() { # name extra-args env...
  local name=$1 extra=$2; shift 2
  env X=0 "$@" timeout 90 /tmp/app/FlashAttention.Bench decode --device cuda $extra --repeats 30 --warmup 5 \
    --out-json $OUT/$name.json > $OUT/$name.log 2>&1 || echo "$name rc=$?"
  summary $OUT/$name.json $name
}
ALL="--batches 1,2,4,8 --cache-lens 8192,16384,32768,65536"
decode decode-new-1 "$ALL"
decode decode-legacy-1 "$ALL" FLASH_DECODE_CURSOR=0 FLASH_LAZY_RESCALE=0
decode decode-256 "$ALL" FLASH_DECODE_THREADS=256
decode decode-legacy-2 "$ALL" FLASH_DECODE_CURSOR=0 FLASH_LAZY_RESCALE=0
decode decode-new-2 "$ALL"
timeout 90 python3 FlashAttention.Bench/peers/torch_decode.py --backends flash,cudnn --repeats 30 --warmup 5 --batches 1,2,4,8 \
  --cache-lens 8192,16384,32768,65536 --out-json $OUT/torch.json > $OUT/torch.log 2>&1 || echo "torch rc=$?"
for m in decode-new-1 decode-legacy-1 decode-256; do
  python3 FlashAttention.Bench/peers/compare_decode.py $OUT/$m.json $OUT/torch.json --out-md $OUT/table-$m.md > /dev/null; done
cat $OUT/table-decode-new-1.md $OUT/table-decode-legacy-1.md $OUT/table-decode-256.md
SPL="--batches 1,2 --cache-lens 8192,16384 --splits 0,16,32,64"
decode splits-256 "$SPL" FLASH_DECODE_THREADS=256
decode splits-new "$SPL"
for t in peer host; do
  timeout 120 /tmp/app/FlashAttention.Bench ring --device cuda --share-device --devices 2 --seqlens 8192 --causal --backward --repeats 2 \
    --transport $t --out-json $OUT/ring-$t.json > $OUT/ring-$t.log 2>&1 || echo "ring $t rc=$?"
  python3 -c "import json,sys; print('ring', sys.argv[2], ' '.join(f\"{r['pass']} {r['status']} {r.get('transport')} {r['median_ms']:.1f}ms diff {r['max_diff']:.2e} copy {r['copy_ms_per_device']:.1f}ms\" for r in json.load(open(sys.argv[1]))['results']))" $OUT/ring-$t.json $t
done
S="--section SpeedOfLight --section Occupancy --section WarpStateStats --section MemoryWorkloadAnalysis --section LaunchStats --section SchedulerStats"
timeout 90 ncu --launch-skip 10 --launch-count 1 $S /tmp/app/FlashAttention.Bench decode --device cuda --batches 1 --cache-lens 8192 --repeats 5 --warmup 5 \
  --out-json /tmp/ncu-ours.json > $OUT/ncu-decode-ours.txt 2>&1 || echo "ncu ours rc=$?"
timeout 90 ncu --launch-skip 20 --launch-count 2 $S python3 FlashAttention.Bench/peers/torch_decode.py --backends cudnn --repeats 5 --warmup 5 --batches 1 \
  --cache-lens 8192 --out-json /tmp/ncu-torch.json > $OUT/ncu-decode-torch.txt 2>&1 || echo "ncu torch rc=$?"
grep -E "^  [A-Za-z_]|Duration|Stall|Warp Cycles|Issued Warp|Achieved Occupancy|Theoretical Occ|DRAM Throughput|Memory Throughput|Registers|Block Limit|One or More|No Eligible|Active Warps Per" $OUT/ncu-decode-ours.txt | head -40
grep -E "^  [A-Za-z_]|Duration|Warp Cycles|Issued Warp|Achieved Occupancy|DRAM Throughput|Registers|No Eligible|Active Warps Per" $OUT/ncu-decode-torch.txt | head -40
fi
cd $OUT && tar czf runs-$PART.tgz *.json *.log ncu-*.txt 2>/dev/null && rm -f *.json *.log ncu-*.txt
