#!/usr/bin/env bash
# Installs the Debian packages qsr builds with. Idempotent and non-interactive:
# packages already present are not touched; nothing is downloaded when all are.
#   scripts/deps.sh           build, test and benchmark dependencies
#   scripts/deps.sh --peers   also the optional peer libraries for bench/peers
#                             (oneDNN, XNNPACK, PyTorch: large)
set -euo pipefail

pkgs=(build-essential cmake ccache pkg-config python3
      libeigen3-dev libxsimd-dev catch2 liblodepng-dev libturbojpeg0-dev
      libcli11-dev libfmt-dev nlohmann-json3-dev libbenchmark-dev gnuplot-nox
      gcc-multilib   # the C export test compiles with -m32 too
      clang libomp-14-dev)  # the release build is also built and tested with clang
if [[ "${1:-}" == "--peers" ]]; then
  pkgs+=(libdnnl-dev libxnnpack-dev libpthreadpool-dev python3-torch python3-numpy)
elif [[ -n "${1:-}" ]]; then
  echo "deps.sh: unknown option '$1' (expected --peers or nothing)" >&2
  exit 2
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps: all ${#pkgs[@]} Debian packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo)
else
  echo "deps: missing Debian packages: ${missing[*]}" >&2
  echo "deps: run as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  # Package lists may be missing or stale on a fresh machine.
  "${as_root[@]}" apt-get update -q
  "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
