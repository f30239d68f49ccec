#!/usr/bin/env bash
# Builds wormsim (scripts/setup.sh) and runs the most complete job the binary offers today:
#   `wormsim run --model dpt-large`            once a `run` subcommand exists, else
#   `wormsim spec show n300` + `wormsim microbench`   (each only if it exists).
# Commands are discovered from `wormsim --help` at run time, so the demo follows the CLI as it
# grows. Idempotent. Environment: as scripts/setup.sh (WORMSIM_BUILD_DIR, ...).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${WORMSIM_BUILD_DIR:-$root/build}"

"$root/scripts/setup.sh"

wormsim="$build_dir/wormsim"
if [[ ! -x "$wormsim" ]]; then
  echo "demo: $wormsim was not built" >&2
  exit 1
fi

# Subcommand names listed under "Subcommands:" in `wormsim [cmd...] --help`.
subcommands() {
  "$wormsim" "$@" --help | awk '/^Subcommands:/ {in_list = 1; next}
                                in_list && /^  [^ ]/ {print $1}
                                in_list && /^[^ ]/ {in_list = 0}'
}

has() {  # has CMD [SUBCMD]: true if `wormsim CMD [SUBCMD]` exists
  local parent=() name="$1"
  if (($# == 2)); then
    parent=("$1")
    name="$2"
    has "$1" || return 1
  fi
  local list
  list="$(subcommands "${parent[@]}")"
  grep -qx -- "$name" <<<"$list"
}

run() {
  echo
  echo "demo: \$ wormsim $*"
  "$wormsim" "$@"
}

run --version
ran_main_job=0
if has run; then
  run run --model dpt-large
  ran_main_job=1
else
  if has spec show; then
    run spec show n300
    ran_main_job=1
  fi
  if has microbench; then
    run microbench
    ran_main_job=1
  fi
fi

if ((ran_main_job == 0)); then
  echo
  echo "demo: this build has none of run / microbench / spec show yet; its commands are:"
  "$wormsim" --help
fi
