#pragma once
// Parameter sweeps (`wormsim sweep SPEC.json`, docs/sweeps.md): a JSON spec names values for
// each axis (model, strategy, batch, resolution, layers, dtype, fidelity, numerics, seed,
// device, dispatch); the sweep is their cartesian product, narrowed by "include" / "exclude"
// filters. Every point is one simulation (analysis::run_named_strategy on a fresh device)
// stored as an ordinary run of the results database, with runs.config_json = the point's
// canonical JSON (SweepPoint::config()), so a point already stored by the same wormsim version
// is found again and skipped.
//
// Processes: whoever simulates a point writes its run either straight into the results DB (the
// process that owns the DB) or into a "bundle", a results DB file of its own holding that one
// run (a worker process, an MPI rank); the owner then copies the bundle's rows into the results
// DB in one transaction with a new run_id (merge_results_db). Only the owner writes the results
// DB, and the rows are those the normal writer makes whatever process simulated the point.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "analysis/results_db.hpp"

namespace wormsim::analysis {

// One simulation of a sweep.
struct SweepPoint {
  std::string model;
  std::string strategy;       // as the spec writes it: a preset, "auto" or a strategy file
  std::string strategy_file;  // that file resolved against the spec's folder ("" otherwise)
  nlohmann::json strategy_definition;  // the file's strategy (to_json()); null otherwise
  std::uint32_t batch{0};              // 0 = the model's default
  std::uint32_t resolution{0};         // 0 = the model's default
  std::uint32_t layers{0};             // 0 = full depth
  std::string dtype{"bfloat16"};
  std::string fidelity{"HiFi2"};
  bool numerics{false};
  std::uint64_t seed{0};
  std::string device{"n300"};
  std::string dispatch{"trace"};

  // The identity of the point, stored as runs.config_json: every axis value, "command":
  // "sweep" and, for a strategy file, its definition (so editing the file makes a new point).
  nlohmann::json config() const;
  // Short text for tables and messages: "vit-base block-sharded batch=1 layers=1".
  std::string label() const;
  // What a worker process needs (config() plus the resolved strategy file), and back.
  nlohmann::json to_message() const;
  static SweepPoint from_message(const nlohmann::json& message);
};

// The axes in the order the cartesian product nests them (model outermost).
const std::vector<std::string>& sweep_axis_names();

struct SweepSpec {
  std::filesystem::path file;
  std::string name;  // "name" of the spec, else the file name
  // Axes given more than one value (the columns of the summary that tell points apart).
  std::vector<std::string> varying_axes;
  std::vector<SweepPoint> points;  // after the filters, duplicates removed
};

// Reads, validates and expands a spec file. Errors are wormsim::Error naming the file and the
// field ("exclude[0].strategy", "batch[2]", ...): unknown keys, unknown models (the message
// lists the zoo), unknown strategies (lists the presets), empty axes, values of the wrong type,
// filters naming values the sweep does not have, filters that leave no point. Strategy files
// are resolved against the spec's folder and loaded.
SweepSpec load_sweep_spec(const std::filesystem::path& file);
SweepSpec parse_sweep_spec(const nlohmann::json& json, const std::filesystem::path& file);

// Builds every distinct model graph of the sweep once (cheap: no simulation), so a model option
// the model cannot take (a resolution that is not a multiple of its patch size, ...) fails
// before any point runs. The error names the point.
void check_sweep_graphs(const SweepSpec& spec);

// run_id of every sweep point already in `db` for this wormsim version, by config().dump()
// (the newest run when a point was stored twice).
std::map<std::string, std::int64_t> stored_sweep_points(ResultsDb& db,
                                                        const std::string& wormsim_version);

struct SweepPointResult {
  std::int64_t run_id{0};  // in the database the run went to
  double device_time_ns{0};
  double fps_device{0};
  std::size_t op_count{0};
  std::string note;  // auto: which plan won
};

// Simulates one point and writes it as a run into the results DB at `db` (created if missing).
SweepPointResult run_sweep_point(const SweepPoint& point, const std::filesystem::path& db,
                                 const std::string& wormsim_version);

// Copies every run of the results DB `bundle` (with its ops, tensors, core / link / bank stats,
// strategy choices: every table with a run_id column) into the results DB `db` in one
// transaction, under new run ids, in bundle order. Both must have the same schema version.
std::vector<std::int64_t> merge_results_db(
    const std::filesystem::path& db, const std::filesystem::path& bundle,
    std::chrono::milliseconds busy_timeout = std::chrono::seconds(60));

// Removes a results DB file with its -wal / -shm / -journal companions (no error if absent).
void remove_results_db_file(const std::filesystem::path& file);

}  // namespace wormsim::analysis
