#!/usr/bin/env bash
# Builds wormsim (scripts/setup.sh: installs missing Debian packages, configures, builds) and runs
# the whole test suite with CTest. Extra arguments go to ctest, e.g.
#   scripts/test.sh -R 'CircularBuffer'      scripts/test.sh -E 'slow' --repeat until-fail:3
# Environment: as scripts/setup.sh (WORMSIM_BUILD_DIR, WORMSIM_BUILD_TYPE, WORMSIM_SANITIZE).
# Idempotent: a second run rebuilds only what changed. Exits non-zero if any test fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${WORMSIM_BUILD_DIR:-$root/build}"

"$root/scripts/setup.sh"

echo "test: ctest --test-dir $build_dir --output-on-failure -j2 $*"
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error -j2 "$@"
