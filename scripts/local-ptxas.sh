#!/usr/bin/env bash
# Registers, spills and SASS of our kernels on this machine, with no GPU and no device time: Debian's non-free
# nvidia-cuda-toolkit carries ptxas, cuobjdump and nvdisasm, which run anywhere. Trixie's (CUDA 12.4) knows sm_90a, so the
# wgmma kernels (wg_fwd_*, wgp_fwd_*) compile here too; bookworm's (11.8) does not.
#
#   bash scripts/local-ptxas.sh [--sass] [DUMP-PTX ARGS...]     e.g.  --only tc --match '^wg_fwd_f16_d64_w8@2(_bitss)?$'
#
# It unpacks the toolkit's .deb once into ~/.cache/flash-cuda124 (no install, nothing else of CUDA), runs
# `FlashAttention.Bench dump-ptx` into /tmp/flash-ptx and prints ptxas -v for each kernel (sm_90a for wgmma, else sm_90);
# with --sass it also writes /tmp/flash-ptx/NAME.sass.
# apt must list trixie's non-free component, pinned low so nothing else comes from it (session 21 set this up):
#   /etc/apt/sources.list.d/trixie.sources: Types: deb / URIs: http://deb.debian.org/debian / Suites: trixie /
#     Components: main contrib non-free / Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
#   /etc/apt/preferences.d/trixie-low: Package: * / Pin: release n=trixie / Pin-Priority: 100
#   then apt-get update.
# Checked against CUDA 13's ptxas on the H100 machine in session 20 with 11.8 (the streaming decode kernel: the same 128
# registers and 24 bytes of spill stores); 12.4 is not yet checked against 13: confirm what you report on the GPU machine.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
sass=0
if [ "${1:-}" = "--sass" ]; then sass=1; shift; fi
tools=${FLASH_CUDA124:-$HOME/.cache/flash-cuda124}
if [ ! -x "$tools/usr/bin/ptxas" ]; then
  version=$(apt-cache madison nvidia-cuda-toolkit 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}' | grep '^12\.' | head -1 || true)
  if [ -z "$version" ]; then
    echo "local-ptxas: no CUDA 12 nvidia-cuda-toolkit in apt's lists: add trixie's non-free component as this script's header says" >&2
    exit 2
  fi
  work=$(mktemp -d)
  (cd "$work" && apt-get download "nvidia-cuda-toolkit=$version" > /dev/null 2>&1)
  mkdir -p "$tools"
  dpkg -x "$work"/nvidia-cuda-toolkit_*.deb "$tools"
  rm -rf "$work"
fi
out=/tmp/flash-ptx
rm -rf "$out"
dotnet run --project FlashAttention.Bench -c Release -- dump-ptx --out "$out" "$@" > /dev/null
for f in "$out"/*.ptx; do
  name=$(basename "$f" .ptx)
  # ILGPU writes its newest PTX ISA; 12.4 reads up to 8.4 and our kernels need no more than 8.0. SASS for the H100 (sm_90).
  arch=sm_90
  if grep -q 'target sm_90a' "$f"; then arch=sm_90a; fi
  sed -e 's/^\.version [0-9]*\.[0-9]*/.version 8.0/' -e 's/\.target sm_80/.target sm_90/' "$f" > "$out/$name.k.ptx"
  info=$("$tools/usr/bin/ptxas" -arch=$arch -v "$out/$name.k.ptx" -o "$out/$name.cubin" 2>&1 | grep -E 'registers|spill|error|C75' | tr -s ' \n' ' ' || true)
  echo "$name: $info"
  if [ "$sass" = 1 ] && [ -f "$out/$name.cubin" ]; then
    "$tools/usr/bin/cuobjdump" -sass "$out/$name.cubin" > "$out/$name.sass"
  fi
done
