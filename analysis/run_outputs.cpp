#include "analysis/run_outputs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <map>
#include <vector>

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

namespace {

volatile std::sig_atomic_t g_output_interrupt = 0;

extern "C" void note_output_interrupt(int signal_number) { g_output_interrupt = signal_number; }

// A run leaves all of its output files or none. While they are written, SIGINT and SIGTERM only
// note the signal; between two outputs (and before the database row) a noted signal removes the
// files this run already wrote and then takes its usual effect. Each file is also written
// atomically (write_file_atomically), so none is ever partial.
class OutputGroup {
 public:
  OutputGroup() {
    g_output_interrupt = 0;
    struct sigaction note {};
    note.sa_handler = note_output_interrupt;
    sigemptyset(&note.sa_mask);
    for (std::size_t i = 0; i < kSignals.size(); ++i) {
      ::sigaction(kSignals[i], nullptr, &previous_[i]);
      // A signal the process ignores (nohup, a background job) stays ignored.
      if (previous_[i].sa_handler != SIG_IGN) ::sigaction(kSignals[i], &note, nullptr);
    }
  }
  ~OutputGroup() { restore(); }
  OutputGroup(const OutputGroup&) = delete;
  OutputGroup& operator=(const OutputGroup&) = delete;

  void wrote(const std::filesystem::path& path) { written_.push_back(path); }
  // A report folder this run created: removed (if empty) after its files.
  void created_folder(const std::filesystem::path& path) { folders_.push_back(path); }

  // After the last output: a signal noted since then takes its effect now, the run complete.
  void finish() {
    restore();
    if (g_output_interrupt != 0) ::raise(g_output_interrupt);
  }

  // Called between outputs: an interrupted run rolls back and dies of its signal.
  void stop_if_interrupted(const std::function<void()>& after_output = {}) {
    if (after_output) after_output();
    const int signal_number = g_output_interrupt;
    if (signal_number == 0) return;
    std::error_code ignored;
    for (const std::filesystem::path& path : written_) std::filesystem::remove(path, ignored);
    for (const std::filesystem::path& folder : folders_) std::filesystem::remove(folder, ignored);
    restore();
    ::raise(signal_number);
  }

 private:
  static constexpr std::array<int, 2> kSignals = {SIGINT, SIGTERM};

  void restore() {
    if (restored_) return;
    restored_ = true;
    for (std::size_t i = 0; i < kSignals.size(); ++i)
      ::sigaction(kSignals[i], &previous_[i], nullptr);
  }

  std::array<struct sigaction, 2> previous_{};
  std::vector<std::filesystem::path> written_;
  std::vector<std::filesystem::path> folders_;
  bool restored_{false};
};

}  // namespace

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

  OutputGroup outputs;
  if (!request.csv_path.empty()) {
    write_ops_perf_csv(request.csv_path, profile);
    outputs.wrote(request.csv_path);
    outputs.stop_if_interrupted(request.after_each_output);
  }
  if (!request.trace_json_path.empty()) {
    TraceOptions trace = request.trace_options;
    if (request.engine != nullptr) trace.whole_run_stats = &whole_run;
    write_perfetto_trace(request.trace_json_path, profile, trace);
    outputs.wrote(request.trace_json_path);
    outputs.stop_if_interrupted(request.after_each_output);
  }
  if (!request.ttnn_report_dir.empty()) {
    const bool existed = std::filesystem::exists(request.ttnn_report_dir);
    write_ttnn_report(request.ttnn_report_dir, profile, request.info, request.graph,
                      request.ttnn_options);
    outputs.wrote(request.ttnn_report_dir / "db.sqlite");
    outputs.wrote(request.ttnn_report_dir / "config.json");
    if (!existed) outputs.created_folder(request.ttnn_report_dir);
    outputs.stop_if_interrupted(request.after_each_output);
  }
  outputs.stop_if_interrupted();
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
  outputs.finish();
  if (request.report != nullptr) print_run_report(*request.report, profile, request.report_options);
  return result;
}

}  // namespace wormsim::analysis
