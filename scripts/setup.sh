#!/usr/bin/env bash
# Installs wormsim's Debian dependencies (only those missing), then configures and builds.
# Idempotent: a second run installs nothing and rebuilds only what changed.
#
# Environment:
#   WORMSIM_BUILD_DIR   build directory (default: build)
#   WORMSIM_BUILD_TYPE  CMake build type (default: Release)
#   WORMSIM_SANITIZE    ON for an AddressSanitizer + UBSan build (default: OFF)
#   WORMSIM_SKIP_BUILD  1 to install dependencies only
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Exactly the packages the build and the test suite need.
packages=(
  build-essential cmake pkg-config
  libboost-dev libsqlite3-dev nlohmann-json3-dev libcli11-dev
  libhdf5-dev zlib1g-dev libopenblas-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenmpi-dev openmpi-bin
  sqlite3 python3 python3-numpy python3-h5py
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all dependencies present"
fi

if [[ "${WORMSIM_SKIP_BUILD:-0}" == "1" ]]; then exit 0; fi

build_dir="${WORMSIM_BUILD_DIR:-$root/build}"
build_type="${WORMSIM_BUILD_TYPE:-Release}"
sanitize="${WORMSIM_SANITIZE:-OFF}"
jobs="$(nproc 2>/dev/null || echo 2)"

cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" -DWORMSIM_SANITIZE="$sanitize" >/dev/null
cmake --build "$build_dir" -j "$jobs"
