#!/usr/bin/env bash
# Registers, spills and SASS of our kernels on this machine, with no GPU and no device time: Debian's
# non-free nvidia-cuda-toolkit (CUDA 11.8) carries ptxas, cuobjdump and nvdisasm, which run anywhere.
#
#   bash scripts/local-ptxas.sh [--sass] [DUMP-PTX ARGS...]     e.g.  --only tc --match 'f16_d128_w4x32b32'
#
# It unpacks the toolkit's .deb once into ~/.cache/flash-cuda118 (no install, nothing else of CUDA),
# runs `FlashAttention.Bench dump-ptx` into /tmp/flash-ptx, and prints ptxas -v for each kernel (sm_90 SASS);
# with --sass it also writes /tmp/flash-ptx/NAME.sass.
# Limits: CUDA 11.8 knows PTX ISA 7.8 and sm_90 but not sm_90a, so the wgmma kernels (wg_fwd_*) are
# skipped; our PTX says .version 8.x only because ILGPU writes its newest ISA, and is lowered to 7.8
# here. Checked against CUDA 13's ptxas on the H100 machine: the streaming decode kernel (f16, d 128, 4 rows,
# bounded to 4 groups per SM) gives the same 128 registers, 16-byte stack and 24 bytes of spill stores
# (docs/PERFORMANCE.md). Other kernels may differ by a few registers: confirm what you report on the GPU
# machine (scripts/gpu-tc.sh ptx).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
sass=0
if [ "${1:-}" = "--sass" ]; then sass=1; shift; fi
tools=${FLASH_CUDA118:-$HOME/.cache/flash-cuda118}
if [ ! -x "$tools/usr/bin/ptxas" ]; then
  policy=$(apt-cache policy nvidia-cuda-toolkit 2>/dev/null || true)
  if [[ "$policy" != *"Candidate: "[0-9]* ]]; then
    echo "local-ptxas: nvidia-cuda-toolkit is not in apt's lists: add 'contrib non-free' to the Components of" >&2
    echo "  /etc/apt/sources.list.d/debian.sources (the bookworm entry) and run apt-get update" >&2
    exit 2
  fi
  work=$(mktemp -d)
  (cd "$work" && apt-get download nvidia-cuda-toolkit > /dev/null)
  mkdir -p "$tools"
  dpkg -x "$work"/nvidia-cuda-toolkit_*.deb "$tools"
  rm -rf "$work"
fi
out=/tmp/flash-ptx
rm -rf "$out"
dotnet run --project FlashAttention.Bench -c Release -- dump-ptx --out "$out" "$@" > /dev/null
for f in "$out"/*.ptx; do
  name=$(basename "$f" .ptx)
  if grep -q 'target sm_90a' "$f"; then
    echo "$name: skipped (sm_90a: wgmma needs CUDA 12+, run it on the GPU machine)"
    continue
  fi
  sed -e 's/^\.version 8\.[0-9]*/.version 7.8/' -e 's/\.target sm_80/.target sm_90/' "$f" > "$out/$name.k.ptx"
  info=$("$tools/usr/bin/ptxas" -arch=sm_90 -v "$out/$name.k.ptx" -o "$out/$name.cubin" 2>&1 | grep -E 'registers|spill|error' | tr -s ' \n' ' ' || true)
  echo "$name: $info"
  if [ "$sass" = 1 ] && [ -f "$out/$name.cubin" ]; then
    "$tools/usr/bin/cuobjdump" -sass "$out/$name.cubin" > "$out/$name.sass"
  fi
done
