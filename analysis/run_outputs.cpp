#include "analysis/run_outputs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>

#include "analysis/ops_perf_csv.hpp"
#include "sim/error.hpp"

namespace wormsim::analysis {
namespace {

namespace fs = std::filesystem;

struct OutputPath {
  fs::path path;
  const char* what;    // "the ops_perf CSV"
  const char* option;  // "--csv FILE"
};

fs::path directory_of(const fs::path& path) {
  return path.has_parent_path() ? path.parent_path() : fs::path(".");
}

void check_writable_directory(const fs::path& dir, const OutputPath& out) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error("cannot write " + std::string(out.what) + " " + out.path.string() + ": directory " +
                dir.string() + " does not exist; create it or choose another " + out.option);
  }
  // access() also reports a read-only file system (EROFS).
  if (::access(dir.c_str(), W_OK) != 0) {
    throw Error("cannot write " + std::string(out.what) + " " + out.path.string() + ": directory " +
                dir.string() + " is not writable (" + std::strerror(errno) + "); choose another " +
                out.option);
  }
  // access() trusts the permission bits, which root bypasses, and knows nothing of pseudo file
  // systems (/proc, /sys) that refuse new files: create (and remove) a probe file the way the
  // outputs' temporary files are created.
  static std::atomic<unsigned> probes{0};
  const fs::path probe =
      dir / (".wormsim-write-check." + std::to_string(::getpid()) + "." + std::to_string(probes++));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int error = errno;
    throw Error("cannot write " + std::string(out.what) + " " + out.path.string() +
                ": no file can be created in directory " + dir.string() + " (" +
                std::strerror(error) + "); choose another " + out.option);
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

// A file output: written as a temporary file beside it and renamed, so its directory must be
// writable and the name must not be a directory.
void check_file_output(const OutputPath& out) {
  std::error_code ec;
  if (fs::is_directory(out.path, ec)) {
    throw Error("cannot write " + std::string(out.what) + " " + out.path.string() +
                ": it is a directory; give a file name to " + out.option);
  }
  check_writable_directory(directory_of(out.path), out);
}

// The ttnn report folder is created with its parents: the nearest existing ancestor decides.
void check_folder_output(const OutputPath& out) {
  std::error_code ec;
  fs::path existing = out.path;
  while (!existing.empty() && !fs::exists(existing, ec)) {
    existing = existing.has_parent_path() && existing.parent_path() != existing
                   ? existing.parent_path()
                   : fs::path();
  }
  if (existing.empty()) existing = ".";
  if (existing == out.path && !fs::is_directory(out.path, ec)) {
    throw Error("cannot write " + std::string(out.what) + " " + out.path.string() +
                ": a file of that name exists; choose another " + out.option);
  }
  if (!fs::is_directory(existing, ec)) {
    throw Error("cannot write " + std::string(out.what) + " " + out.path.string() + ": " +
                existing.string() + " is a file, not a directory; choose another " + out.option);
  }
  check_writable_directory(existing, out);
}

}  // namespace

void check_run_outputs(const RunOutputRequest& request) {
  std::vector<OutputPath> files;
  if (!request.csv_path.empty())
    files.push_back({request.csv_path, "the ops_perf CSV", "--csv FILE"});
  if (!request.trace_json_path.empty()) {
    files.push_back({request.trace_json_path, "the trace", "--trace-json FILE"});
  }
  if (request.db_path) {
    files.push_back({*request.db_path, "the results database", "--db PATH (or --no-db)"});
  }
  const OutputPath folder{request.ttnn_report_dir, "the ttnn report folder", "--ttnn-report DIR"};

  // Two outputs on one path would overwrite each other.
  std::map<fs::path, const OutputPath*> seen;
  for (const OutputPath& f : files) {
    const fs::path key = fs::absolute(f.path).lexically_normal();
    const auto [it, added] = seen.emplace(key, &f);
    if (!added) {
      throw Error(std::string(it->second->option) + " and " + f.option + " both name " +
                  f.path.string() + "; give each output its own file");
    }
  }
  if (!request.ttnn_report_dir.empty()) {
    const fs::path dir = fs::absolute(request.ttnn_report_dir).lexically_normal();
    for (const auto& [path, f] : seen) {
      if (path == dir) {
        throw Error(std::string(f->option) + " and --ttnn-report DIR both name " +
                    request.ttnn_report_dir.string() + "; give each output its own path");
      }
    }
  }

  for (const OutputPath& f : files) check_file_output(f);
  if (!request.ttnn_report_dir.empty()) check_folder_output(folder);
  // An existing database is opened (and migrated) now: a foreign or newer file, or one that
  // stays locked, is reported before the simulation rather than after it.
  std::error_code ec;
  if (request.db_path && fs::exists(*request.db_path, ec)) {
    ResultsDb::open_for_write(*request.db_path, request.db_busy_timeout);
  }
}

RunOutputResult write_run_outputs(const RunOutputRequest& request) {
  if (request.spec == nullptr) throw Error("run outputs: the request names no device spec");
  if (request.runs.empty()) throw Error("run outputs: the request has no GraphRun");
  RunOutputResult result;
  result.profile = build_profile(*request.spec, request.runs);
  const RunProfile& profile = result.profile;

  std::vector<const workloads::GraphRun*> runs;
  for (const ChipRun& c : request.runs) runs.push_back(c.run);
  const HostMode mode{runs.front()->dispatch, request.info.command_queues, request.info.io_queue};
  result.summary = summarise_runs(runs, request.info.batch, request.spec->host, mode);

  std::vector<sim::BusyStats> whole_run;
  if (request.engine != nullptr) {
    whole_run.assign(request.engine->all_stats().begin(), request.engine->all_stats().end());
  }

  if (!request.csv_path.empty()) write_ops_perf_csv(request.csv_path, profile);
  if (!request.trace_json_path.empty()) {
    TraceOptions trace = request.trace_options;
    if (request.engine != nullptr) trace.whole_run_stats = &whole_run;
    write_perfetto_trace(request.trace_json_path, profile, trace);
  }
  if (!request.ttnn_report_dir.empty()) {
    write_ttnn_report(request.ttnn_report_dir, profile, request.info, request.graph,
                      request.ttnn_options);
  }
  if (request.db_path) {
    ResultsDb db = ResultsDb::open_for_write(*request.db_path, request.db_busy_timeout);
    RunRecord record;
    record.info = &request.info;
    record.profile = &profile;
    record.summary = result.summary;
    record.dispatch = std::string(workloads::to_string(runs.front()->dispatch));
    record.whole_run_stats = std::move(whole_run);
    record.whole_run_cycles = request.engine != nullptr ? request.engine->now() : 0;
    record.graph = request.graph;
    result.run_id = db.insert_run(record);
  }
  if (request.report != nullptr) print_run_report(*request.report, profile, request.report_options);
  return result;
}

}  // namespace wormsim::analysis
