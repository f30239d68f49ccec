#!/usr/bin/env python3
"""Fit named timing constants of a device spec to the silicon matmul calibration rows.

Runs `wormsim calibrate --groups matmul --format json --spec CANDIDATE` for candidate specs
(copies of the base spec with a few named constants changed), searching for the values that
minimise the matmul rows' median + p90 absolute % error, and writes the best candidate as a new
spec JSON. Fitted leaves get a source saying "fitted to calibration/matmul.csv by
scripts/fit_spec.py" with the errors before and after and the value they replace. The base spec
is never modified.

Search: a deterministic pattern search. Starting from the base values, each constant in turn is
moved one step up or down; a move is kept when it lowers the objective; when no single move
helps, every step is halved. --budget caps the candidate evaluations (the baseline run comes on
top); each evaluation simulates all 55 calibration rows (~10 s on one core).

  python3 scripts/fit_spec.py --out /tmp/fitted.json --budget 12
  python3 scripts/fit_spec.py --out /tmp/fitted.json --budget 1 --dry-run   # plan only

Constants are addressed by their JSON path in the spec, e.g. compute.unpack_tile_cycles.BFloat16;
--param PATH:MIN:MAX:STEP replaces the default set (repeat it).
"""

import argparse
import copy
import csv
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BASE = os.path.join(REPO, "arch", "specs", "wormhole_n300.json")
DEFAULT_WORMSIM = os.path.join(REPO, "build", "wormsim")
ALL_MATMUL_GROUP = "matmul (all rows)"

# (JSON path, lowest, highest, first step): the per-tile and per-step costs of the matmul compute
# kernel that the calibration rows constrain. Bounds keep candidates physically sensible.
DEFAULT_PARAMS = [
    ("compute.matmul_inner_step_overhead_cycles", 0, 80, 8),
    ("compute.dst_reload_overhead_cycles", 0, 60, 8),
    ("compute.unpack_tile_cycles.BFloat16", 16, 96, 8),
    ("compute.block_overhead_cycles", 0, 400, 50),
]


class FitError(Exception):
    pass


def calibration_dir():
    env = os.environ.get("WORMSIM_CALIBRATION_DIR")
    return env if env else os.path.join(os.path.dirname(REPO), "shared", "calibration")


def read_matmul_calibration(directory):
    path = os.path.join(directory, "matmul.csv")
    if not os.path.isfile(path):
        raise FitError(f"calibration file {path} not found; set WORMSIM_CALIBRATION_DIR to the calibration folder")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "device_kernel_cycles_derived" not in rows[0]:
        raise FitError(f"{path} has no device_kernel_cycles_derived column")
    return path, [float(r["device_kernel_cycles_derived"]) for r in rows]


def leaf(spec, path):
    node = spec
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise FitError(f"the base spec has no constant {path} (missing '{key}')")
        node = node[key]
    if not isinstance(node, dict) or "value" not in node or "source" not in node:
        raise FitError(f"{path} is not a spec leaf with a value and a source")
    if not isinstance(node["value"], int):
        raise FitError(f"{path} holds {node['value']!r}; only integer constants can be fitted")
    return node


def parse_param(text):
    parts = text.split(":")
    if len(parts) != 4:
        raise FitError(f"--param '{text}' must be PATH:MIN:MAX:STEP, e.g. compute.dst_reload_overhead_cycles:0:60:8")
    try:
        low, high, step = (int(p) for p in parts[1:])
    except ValueError:
        raise FitError(f"--param '{text}': MIN, MAX and STEP must be integers")
    if low > high or step < 1:
        raise FitError(f"--param '{text}': need MIN <= MAX and STEP >= 1")
    return (parts[0], low, high, step)


def candidate_spec(base, params, values):
    spec = copy.deepcopy(base)
    for (path, _, _, _), value in zip(params, values):
        leaf(spec, path)["value"] = int(value)
    return spec


def write_json_atomically(path, data):
    directory = os.path.dirname(os.path.abspath(path)) or "."
    fd, tmp = tempfile.mkstemp(prefix=".fit_spec_", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def evaluate(wormsim, spec_path, measured):
    """Runs calibrate on one candidate; returns (objective, groups) or raises FitError."""
    command = [wormsim, "calibrate", "--groups", "matmul", "--format", "json", "--spec", spec_path]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise FitError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    result = json.loads(done.stdout)
    got = [r["measured"] for r in result["rows"]]
    if len(got) != len(measured) or any(abs(a - b) > 0.5 for a, b in zip(got, measured)):
        raise FitError("wormsim calibrate's matmul rows do not match the rows of calibration/matmul.csv")
    groups = {g["group"]: g for g in result["groups"]}
    if ALL_MATMUL_GROUP not in groups:
        raise FitError(f"wormsim calibrate printed no '{ALL_MATMUL_GROUP}' group")
    total = groups[ALL_MATMUL_GROUP]
    return total["median_abs_pct"] + total["p90_abs_pct"], groups


def describe(groups):
    g = groups[ALL_MATMUL_GROUP]
    return f"median {g['median_abs_pct']:.1f}%  p90 {g['p90_abs_pct']:.1f}%  max {g['max_abs_pct']:.1f}%"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="where to write the fitted spec JSON")
    parser.add_argument("--budget", type=int, required=True, help="candidate evaluations (>= 1)")
    parser.add_argument("--base", default=DEFAULT_BASE, help="spec to start from (default: %(default)s)")
    parser.add_argument("--wormsim", default=DEFAULT_WORMSIM, help="wormsim binary (default: %(default)s)")
    parser.add_argument("--param", action="append", default=[], help="PATH:MIN:MAX:STEP (replaces the defaults)")
    parser.add_argument("--dry-run", action="store_true", help="check the inputs and print the plan; run nothing")
    args = parser.parse_args(argv)

    try:
        if args.budget < 1:
            raise FitError("--budget must be at least 1")
        if os.path.abspath(args.out) == os.path.abspath(args.base):
            raise FitError("--out must not be the base spec; write the fit elsewhere and review it")
        params = [parse_param(p) for p in args.param] if args.param else DEFAULT_PARAMS
        with open(args.base) as f:
            base = json.load(f)
        start = []
        for path, low, high, _ in params:
            value = leaf(base, path)["value"]
            if not low <= value <= high:
                raise FitError(f"{path} = {value} lies outside its range [{low}, {high}]")
            start.append(value)
        csv_path, measured = read_matmul_calibration(calibration_dir())
        if not (os.path.isfile(args.wormsim) and os.access(args.wormsim, os.X_OK)):
            raise FitError(f"wormsim binary {args.wormsim} not found; build it or pass --wormsim")

        print(f"base spec {args.base}; {len(measured)} matmul rows in {csv_path}")
        for (path, low, high, step), value in zip(params, start):
            print(f"  {path} = {value}  range [{low}, {high}], first step {step}")
        with tempfile.TemporaryDirectory(prefix="wormsim_fit_") as scratch:
            if args.dry_run:
                probe = os.path.join(scratch, "candidate.json")
                write_json_atomically(probe, candidate_spec(base, params, start))
                with open(probe) as f:
                    json.load(f)
                print(f"dry run: would evaluate the baseline and up to {args.budget} candidate(s) with")
                print(f"  {args.wormsim} calibrate --groups matmul --format json --spec CANDIDATE.json")
                print(f"and write the best to {args.out}; nothing was run or written")
                return 0

            seen = {}

            def score(values):
                key = tuple(values)
                if key not in seen:
                    path = os.path.join(scratch, f"candidate_{len(seen)}.json")
                    write_json_atomically(path, candidate_spec(base, params, values))
                    seen[key] = evaluate(args.wormsim, path, measured)
                    print(f"  [{len(seen) - 1:3d}] {dict(zip((p[0].split('.')[-1] for p in params), values))}: "
                          f"objective {seen[key][0]:.2f}  ({describe(seen[key][1])})", flush=True)
                return seen[key]

            best = list(start)
            best_score, best_groups = score(best)
            base_score, base_groups = best_score, best_groups
            steps = [p[3] for p in params]
            evaluations = 0
            while evaluations < args.budget:
                improved = False
                for i, (path, low, high, _) in enumerate(params):
                    for direction in (1, -1):
                        if evaluations >= args.budget:
                            break
                        trial = list(best)
                        trial[i] = min(high, max(low, best[i] + direction * steps[i]))
                        if trial[i] == best[i] or tuple(trial) in seen:
                            continue
                        evaluations += 1
                        trial_score, trial_groups = score(trial)
                        if trial_score < best_score - 1e-9:
                            best, best_score, best_groups = trial, trial_score, trial_groups
                            improved = True
                            break
                if not improved and evaluations < args.budget:
                    if all(s == 1 for s in steps):
                        print("converged: no single step of any constant improves the objective")
                        break
                    steps = [max(1, s // 2) for s in steps]

        fitted = candidate_spec(base, params, best)
        summary = (f"matmul median+p90 |error| {base_score:.1f}% -> {best_score:.1f}% "
                   f"({len(seen)} runs of wormsim calibrate)")
        for (path, _, _, _), old, new in zip(params, start, best):
            if old != new:
                node = leaf(fitted, path)
                node["source"] = (f"fitted to calibration/matmul.csv by scripts/fit_spec.py: {summary}; "
                                  f"replaces {old} ({node['source']})")
        write_json_atomically(args.out, fitted)

        print(f"\nbefore: {describe(base_groups)}  objective {base_score:.2f}")
        print(f"after:  {describe(best_groups)}  objective {best_score:.2f}")
        print("groups (median / p90 |err| %, before -> after):")
        for name in base_groups:
            b, a = base_groups[name], best_groups[name]
            print(f"  {name:36s} {b['median_abs_pct']:5.1f} / {b['p90_abs_pct']:5.1f}  ->  "
                  f"{a['median_abs_pct']:5.1f} / {a['p90_abs_pct']:5.1f}")
        print("fitted values:")
        for (path, _, _, _), old, new in zip(params, start, best):
            print(f"  {path}: {old} -> {new}" + ("" if old != new else " (unchanged)"))
        print(f"wrote {args.out}")
        return 0
    except (FitError, OSError, json.JSONDecodeError) as e:
        print(f"fit_spec.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
