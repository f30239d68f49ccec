#pragma once
// The host-mode options `run` and `compare` share: --dispatch / --trace / --eager, --cq 1|2 and
// --io-cq, resolved into one analysis::HostMode (docs/outputs.md, "Host execution modes").
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "analysis/run_profile.hpp"
#include "sim/error.hpp"
#include "workloads/executor.hpp"

namespace wormsim::cli {

struct HostModeFlags {
  std::string dispatch = "trace";
  bool trace = false;  // --trace / --eager: shorthands for --dispatch
  bool eager = false;
  std::uint32_t cq = 1;
  bool io_cq = false;
  CLI::Option* dispatch_option = nullptr;  // set by add_host_mode_flags
};

inline void add_host_mode_flags(CLI::App* cmd, HostModeFlags& f) {
  f.dispatch_option = cmd->add_option("--dispatch", f.dispatch,
                                      "Op-to-op gaps of a captured trace or of eager dispatch")
                          ->check(CLI::IsMember({"trace", "eager"}))
                          ->capture_default_str();
  cmd->add_flag("--trace", f.trace, "Same as --dispatch trace (the default)");
  cmd->add_flag("--eager", f.eager, "Same as --dispatch eager: the host dispatches every op");
  cmd->add_option("--cq", f.cq,
                  "Command queues: 1 (nothing overlaps) or 2 (input writes of the next "
                  "inference overlap this one's compute)")
      ->capture_default_str();
  cmd->add_flag("--io-cq", f.io_cq,
                "With --cq 2: queue 1 also reads the outputs, queue 0 only computes (TT-CNN's "
                "pipelined-IO executor)");
}

// --trace / --eager / --dispatch resolved into one dispatch mode (written back to `dispatch`);
// the host mode checked. Call before anything is loaded, so a wrong combination fails at once.
inline analysis::HostMode resolve_host_mode(HostModeFlags& f) {
  if (f.trace && f.eager) {
    throw Error(
        "--trace and --eager exclude each other: --trace replays a captured trace (the default), "
        "--eager dispatches every op from the host");
  }
  const bool dispatch_given = f.dispatch_option != nullptr && f.dispatch_option->count() > 0;
  if ((f.trace || f.eager) && dispatch_given) {
    throw Error(std::string(f.trace ? "--trace" : "--eager") + " is short for --dispatch " +
                (f.trace ? "trace" : "eager") + "; give one of them, not both");
  }
  if (f.trace) f.dispatch = "trace";
  if (f.eager) f.dispatch = "eager";
  const auto dispatch = workloads::parse_dispatch_mode(f.dispatch);
  if (!dispatch) throw Error("--dispatch must be trace or eager, got '" + f.dispatch + "'");
  const analysis::HostMode mode{*dispatch, f.cq, f.io_cq};
  analysis::check_host_mode(mode);
  return mode;
}

}  // namespace wormsim::cli
