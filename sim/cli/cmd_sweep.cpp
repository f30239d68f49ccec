// `wormsim sweep SPEC.json [-j N] [--db PATH] [--dry-run] [--format table|json]`: a cartesian
// sweep of simulations (analysis/sweep.hpp has the spec and the point rules, docs/sweeps.md the
// format), stored as runs of the results database plus one sweep row (table comparisons, label
// "sweep <spec>").
//
// Execution modes, all giving the same rows:
//   -j 1 (default)  points run one after the other in this process, which writes the DB.
//   -j N            N worker processes (this binary re-executed as the hidden `sweep-worker`,
//                   fed points as JSON lines on stdin, answering on fd 3); each worker writes
//                   a point's run into a bundle file (a results DB of its own) and the parent,
//                   the only writer of the results DB, merges it in one transaction. A worker
//                   that dies is reported with its point and replaced; the exit code is 1.
//   mpirun -n R     (a build with MPI) rank 0 reads the DB and broadcasts the points to run;
//                   rank r takes every R-th of them (with -j N through its own workers), and
//                   ranks > 0 send each point's bundle bytes to rank 0, which merges them. A
//                   build without MPI refuses to run under mpirun.
// A point whose configuration (SweepPoint::config() + wormsim version) is already stored is
// skipped, so an interrupted sweep resumes where it stopped.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "analysis/results_db.hpp"
#include "analysis/run_outputs.hpp"
#include "analysis/sweep.hpp"
#include "analysis/text_table.hpp"
#include "sim/cli/allocator.hpp"
#include "sim/cli/command_registry.hpp"
#include "sim/error.hpp"

#if WORMSIM_HAVE_MPI
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

extern char** environ;

namespace wormsim::cli {
namespace {

namespace fs = std::filesystem;
using analysis::SweepPoint;
using nlohmann::json;

struct SweepOptions {
  std::string spec;
  std::size_t jobs = 1;
  std::string db = analysis::kDefaultResultsDb;
  bool dry_run = false;
  std::string format = "table";
};

#if WORMSIM_HAVE_MPI
constexpr bool kMpiSupport = true;
#else
constexpr bool kMpiSupport = false;
#endif

// The launcher variables of Open MPI, PMIx and PMI (MPICH / Hydra, Slurm).
std::optional<std::string> mpi_launcher_variable() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"}) {
    if (const char* value = std::getenv(name)) return std::string(name) + "=" + value;
  }
  return std::nullopt;
}

// A failure already reported (by another rank): exit 2 without a message.
struct QuietFailure {};

// ---- ranks: MPI when launched by mpirun, else one rank ----

class Cluster {
 public:
  Cluster() {
    const std::optional<std::string> launcher = mpi_launcher_variable();
    if (!launcher) return;
#if WORMSIM_HAVE_MPI
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised == 0) MPI_Init(nullptr, nullptr);
    mpi_ = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
#else
    throw Error(
        "this wormsim was built without MPI, but it was started by an MPI launcher (" + *launcher +
        "): every rank would run the whole sweep and write the database. Run `wormsim sweep "
        "SPEC.json -j N` without mpirun for N local worker processes, or rebuild with MPI "
        "(install libopenmpi-dev, re-run cmake: it then finds MPI and defines WORMSIM_HAVE_MPI)");
#endif
  }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;
  ~Cluster() {
#if WORMSIM_HAVE_MPI
    if (mpi_) {
      flush_sends();
      // Ranks that finish early wait here asleep: MPI_Finalize and MPI_Wait spin a core that a
      // rank still simulating may need.
      MPI_Request barrier;
      MPI_Ibarrier(MPI_COMM_WORLD, &barrier);
      wait_asleep(barrier);
      MPI_Finalize();
    }
#endif
  }

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool mpi() const { return mpi_; }

  // Collective: continues when no rank has an error. Otherwise rank 0's error is thrown on rank
  // 0 (or, when rank 0 had none, each failing rank throws its own) and the other ranks stop
  // quietly.
  void checkpoint(const std::string& error) {
    if (!mpi_) {
      if (!error.empty()) throw Error(error);
      return;
    }
#if WORMSIM_HAVE_MPI
    int ok = error.empty() ? 1 : 0;
    int all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    if (all != 0) return;
    int root_ok = ok;
    MPI_Bcast(&root_ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!error.empty() && (rank_ == 0 || root_ok != 0)) {
      throw Error(rank_ == 0 ? error : "rank " + std::to_string(rank_) + ": " + error);
    }
    throw QuietFailure{};
#endif
  }

  // After the points are shared out a failing rank cannot leave alone (the others would wait
  // for it): the error is printed and the whole job stopped.
  [[noreturn]] void abort_job(const std::string& error) {
#if WORMSIM_HAVE_MPI
    std::cerr << "wormsim: error: " << (rank_ > 0 ? "rank " + std::to_string(rank_) + ": " : "")
              << error << "\n"
              << std::flush;
    MPI_Abort(MPI_COMM_WORLD, 2);
#endif
    throw Error(error);
  }

  // Rank 0's text to every rank.
  void broadcast(std::string& text) {
#if WORMSIM_HAVE_MPI
    if (!mpi_) return;
    unsigned long long size = text.size();
    MPI_Bcast(&size, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
    text.resize(size);
    MPI_Bcast(text.data(), static_cast<int>(size), MPI_BYTE, 0, MPI_COMM_WORLD);
#else
    (void)text;
#endif
  }

  // Ranks > 0: one message to rank 0, sent in the background (the buffer is kept until sent).
  void send_to_root(std::string message) {
#if WORMSIM_HAVE_MPI
    auto s = std::make_unique<Send>();
    s->data = std::move(message);
    MPI_Isend(s->data.data(), static_cast<int>(s->data.size()), MPI_BYTE, 0, kTag, MPI_COMM_WORLD,
              &s->request);
    sends_.push_back(std::move(s));
    progress_sends();
#else
    (void)message;
#endif
  }
  void progress_sends() {
#if WORMSIM_HAVE_MPI
    std::erase_if(sends_, [](const std::unique_ptr<Send>& s) {
      int done = 0;
      MPI_Test(&s->request, &done, MPI_STATUS_IGNORE);
      return done != 0;
    });
#endif
  }
  void flush_sends() {
#if WORMSIM_HAVE_MPI
    for (auto& s : sends_) wait_asleep(s->request);
    sends_.clear();
#endif
  }

  // Rank 0: a message of any rank if one has come (the caller sleeps between calls: a blocking
  // MPI_Probe would spin a core that the simulating ranks need).
  std::optional<std::string> receive() {
#if WORMSIM_HAVE_MPI
    if (!mpi_) return std::nullopt;
    int flag = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, kTag, MPI_COMM_WORLD, &flag, &status);
    if (flag == 0) return std::nullopt;
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    std::string data(static_cast<std::size_t>(count), '\0');
    MPI_Recv(data.data(), count, MPI_BYTE, status.MPI_SOURCE, kTag, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    return data;
#else
    return std::nullopt;
#endif
  }

 private:
#if WORMSIM_HAVE_MPI
  static void wait_asleep(MPI_Request& request) {
    while (true) {
      int done = 0;
      MPI_Test(&request, &done, MPI_STATUS_IGNORE);
      if (done != 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  static constexpr int kTag = 7;
  struct Send {
    std::string data;
    MPI_Request request{};
  };
  std::vector<std::unique_ptr<Send>> sends_;
#endif
  bool mpi_{false};
  int rank_{0};
  int size_{1};
};

// ---- what became of a point ----

struct Outcome {
  std::size_t index{0};  // into the spec's points
  bool ok{false};
  std::string error;
  std::string note;
  double seconds{0};                   // wall time of the simulation and its write
  std::optional<std::int64_t> run_id;  // written straight into the results DB
  fs::path bundle;                     // or a bundle file to merge
  std::string bundle_bytes;            // or a bundle's bytes from another rank
};

json outcome_header(const Outcome& o) {
  return {{"index", o.index},
          {"ok", o.ok},
          {"error", o.error},
          {"note", o.note},
          {"seconds", o.seconds}};
}

Outcome outcome_from_header(const json& j) {
  Outcome o;
  o.index = j.at("index").get<std::size_t>();
  o.ok = j.at("ok").get<bool>();
  o.error = j.value("error", std::string());
  o.note = j.value("note", std::string());
  o.seconds = j.value("seconds", 0.0);
  return o;
}

std::string read_file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read run bundle " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A folder for run bundles (made when the first is needed), removed with everything in it at
// the end.
class BundleDir {
 public:
  explicit BundleDir(int rank)
      : path_(fs::temp_directory_path() /
              ("wormsim-sweep-" + std::to_string(::getpid()) + "-" + std::to_string(rank))) {}
  BundleDir(const BundleDir&) = delete;
  BundleDir& operator=(const BundleDir&) = delete;
  ~BundleDir() {
    std::error_code ec;
    if (created_) fs::remove_all(path_, ec);
  }
  fs::path bundle(std::size_t index) const {
    if (!created_) {
      fs::remove_all(path_);
      fs::create_directories(path_);
      created_ = true;
    }
    return path_ / ("point-" + std::to_string(index) + ".db");
  }

 private:
  fs::path path_;
  mutable bool created_{false};
};

// ---- progress on stderr (a terminal only) ----

std::string clock_text(double seconds) {
  const long s = std::lround(seconds);
  char buffer[32];
  if (s >= 3600) {
    std::snprintf(buffer, sizeof(buffer), "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%ld:%02ld", s / 60, s % 60);
  }
  return buffer;
}

class Progress {
 public:
  Progress(std::size_t total, bool enabled)
      : total_(total),
        enabled_(enabled && isatty(fileno(stderr)) != 0),
        start_(std::chrono::steady_clock::now()) {}
  ~Progress() { finish(); }

  void done(const std::string& label) {
    ++done_;
    last_ = label;
    draw();
  }
  // A line that must not be overdrawn (a failure).
  void message(const std::string& text) {
    if (drawn_) std::cerr << "\r\033[K";
    std::cerr << text << "\n";
    if (drawn_) draw();
  }
  // Redraws (the elapsed time) at most once a second.
  void tick() {
    if (drawn_ && std::chrono::steady_clock::now() - last_draw_ >= std::chrono::seconds(1)) draw();
  }
  void draw() {
    if (!enabled_ || total_ == 0) return;
    last_draw_ = std::chrono::steady_clock::now();
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    constexpr std::size_t kWidth = 24;
    const std::size_t filled = done_ * kWidth / total_;
    std::string line = "sweep [" + std::string(filled, '#') + std::string(kWidth - filled, ' ') +
                       "] " + std::to_string(done_) + "/" + std::to_string(total_) + " points, " +
                       clock_text(elapsed);
    if (done_ > 0 && done_ < total_) {
      line += ", ETA " + clock_text(elapsed / static_cast<double>(done_) *
                                    static_cast<double>(total_ - done_));
    }
    if (!last_.empty()) line += " (last: " + last_ + ")";
    std::cerr << "\r\033[K" << line << std::flush;
    drawn_ = true;
  }
  void finish() {
    if (drawn_) std::cerr << "\n";
    drawn_ = false;
  }

 private:
  std::size_t total_;
  std::size_t done_{0};
  bool enabled_;
  bool drawn_{false};
  std::string last_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

// ---- in this process ----

// Names the point on stderr if the process dies on a signal while simulating it.
char g_crash_text[1024];
std::size_t g_crash_length = 0;
volatile sig_atomic_t g_crash_armed = 0;

void on_crash_signal(int signal_number) {
  if (g_crash_armed != 0) {
    ssize_t ignored = ::write(STDERR_FILENO, g_crash_text, g_crash_length);
    (void)ignored;
  }
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

class CrashContext {
 public:
  CrashContext() {
    struct sigaction action {};
    action.sa_handler = on_crash_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND | SA_NODEFER;
    for (std::size_t k = 0; k < kSignals.size(); ++k) sigaction(kSignals[k], &action, &old_[k]);
  }
  CrashContext(const CrashContext&) = delete;
  CrashContext& operator=(const CrashContext&) = delete;
  ~CrashContext() {
    g_crash_armed = 0;
    for (std::size_t k = 0; k < kSignals.size(); ++k) sigaction(kSignals[k], &old_[k], nullptr);
  }
  void arm(const std::string& text) {
    g_crash_armed = 0;
    g_crash_length = std::min(text.size(), sizeof(g_crash_text));
    std::memcpy(g_crash_text, text.data(), g_crash_length);
    g_crash_armed = 1;
  }
  void disarm() { g_crash_armed = 0; }

 private:
  static constexpr std::array<int, 5> kSignals = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
  std::array<struct sigaction, 5> old_{};
};

// Tests: WORMSIM_SWEEP_TEST_CRASH=model/strategy makes the process simulating that point abort,
// as a crash would.
std::string test_crash_point() {
  const char* value = std::getenv("WORMSIM_SWEEP_TEST_CRASH");
  return value != nullptr ? value : "";
}

std::string point_text(std::size_t index, const SweepPoint& p) {
  return "point #" + std::to_string(index) + " (" + p.label() + ")";
}

// Runs the points one after the other; `db` = the results DB (the caller owns it) or, when
// empty, a bundle per point in `bundles`.
void run_in_process(const std::vector<SweepPoint>& points, const std::vector<std::size_t>& mine,
                    const std::optional<fs::path>& db, const BundleDir& bundles, int rank,
                    const std::function<void(Outcome)>& sink, const std::function<void()>& idle) {
  CrashContext crash;
  for (const std::size_t index : mine) {
    const SweepPoint& p = points[index];
    crash.arm(
        "wormsim sweep: " + std::string(rank > 0 ? "rank " + std::to_string(rank) + ": " : "") +
        "crashed while simulating " + point_text(index, p) + "\n");
    Outcome o;
    o.index = index;
    if (test_crash_point() == p.model + "/" + p.strategy) std::abort();
    const auto begin = std::chrono::steady_clock::now();
    try {
      const fs::path target = db ? *db : bundles.bundle(index);
      if (!db) analysis::remove_results_db_file(target);
      const analysis::SweepPointResult r = analysis::run_sweep_point(p, target, WORMSIM_VERSION);
      o.ok = true;
      o.note = r.note;
      if (db) {
        o.run_id = r.run_id;
      } else {
        o.bundle = target;
      }
    } catch (const std::exception& e) {
      o.error = e.what();
    }
    o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    crash.disarm();
    sink(std::move(o));
    idle();
  }
}

// ---- worker processes ----

void write_all(int fd, const std::string& text) {
  std::size_t sent = 0;
  while (sent < text.size()) {
    const ssize_t n = ::write(fd, text.data() + sent, text.size() - sent);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(std::string("pipe write failed: ") + std::strerror(errno));
    sent += static_cast<std::size_t>(n);
  }
}

// A descriptor at 10 or above, close-on-exec, so that dup2 onto 0 / 1 / 3 in the child never
// meets it.
int high_fd(int fd) {
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
  ::close(fd);
  if (moved < 0) throw Error(std::string("fcntl failed: ") + std::strerror(errno));
  return moved;
}

std::string exit_text(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return "was killed by signal " + std::to_string(sig) +
           (name ? std::string(" (") + name + ")" : "");
  }
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  return "stopped (status " + std::to_string(status) + ")";
}

class WorkerPool {
 public:
  WorkerPool(const std::vector<SweepPoint>& points, const BundleDir& bundles)
      : points_(points), bundles_(bundles) {
    char path[4096];
    const ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n <= 0) throw Error("cannot find the wormsim executable (/proc/self/exe) to start workers");
    exe_.assign(path, static_cast<std::size_t>(n));
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, &old_pipe_);  // a dead worker's pipe: EPIPE, not death
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool() {
    for (Worker& w : workers_) {
      if (w.to >= 0) ::close(w.to);
      if (w.current) ::kill(w.pid, SIGTERM);  // leaving early (an error in the parent)
    }
    for (Worker& w : workers_) {
      if (w.from >= 0) ::close(w.from);
      int status = 0;
      if (!w.reaped) ::waitpid(w.pid, &status, 0);
    }
    sigaction(SIGPIPE, &old_pipe_, nullptr);
  }

  void run(const std::vector<std::size_t>& mine, std::size_t jobs,
           const std::function<void(Outcome)>& sink, const std::function<void()>& idle) {
    std::deque<std::size_t> pending(mine.begin(), mine.end());
    const std::size_t count = std::min(jobs, pending.size());
    for (std::size_t k = 0; k < count; ++k) workers_.push_back(spawn());
    for (Worker& w : workers_) assign(w, pending);
    while (std::any_of(workers_.begin(), workers_.end(),
                       [](const Worker& w) { return w.current.has_value(); })) {
      std::vector<pollfd> fds;
      std::vector<std::size_t> owners;
      for (std::size_t k = 0; k < workers_.size(); ++k) {
        if (!workers_[k].current) continue;
        fds.push_back({workers_[k].from, POLLIN, 0});
        owners.push_back(k);
      }
      const int ready = ::poll(fds.data(), fds.size(), 100);
      idle();
      if (ready < 0) {
        if (errno == EINTR) continue;
        throw Error(std::string("poll failed: ") + std::strerror(errno));
      }
      for (std::size_t f = 0; f < fds.size(); ++f) {
        if (fds[f].revents == 0) continue;
        Worker& w = workers_[owners[f]];
        char buffer[4096];
        const ssize_t n = ::read(w.from, buffer, sizeof(buffer));
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) {
          w.buffer.append(buffer, static_cast<std::size_t>(n));
          std::size_t end;
          while ((end = w.buffer.find('\n')) != std::string::npos) {
            const std::string line = w.buffer.substr(0, end);
            w.buffer.erase(0, end + 1);
            finished(w, line, sink);
            assign(w, pending);
          }
          continue;
        }
        // EOF: the worker died with a point in hand.
        died(w, sink);
        if (!pending.empty()) {
          w = spawn();
          assign(w, pending);
        }
      }
    }
  }

 private:
  struct Worker {
    pid_t pid{-1};
    int to{-1};    // its stdin
    int from{-1};  // its fd 3
    std::string buffer;
    std::optional<std::size_t> current;
    bool reaped{false};
  };

  Worker spawn() {
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) {
      throw Error(std::string("cannot create a pipe for a sweep worker: ") + std::strerror(errno));
    }
    in[0] = high_fd(in[0]);
    in[1] = high_fd(in[1]);
    out[0] = high_fd(out[0]);
    out[1] = high_fd(out[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 3);
    posix_spawn_file_actions_adddup2(&actions, 2, 1);  // stdout stays clean for --format json
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);
    std::string arg0 = exe_, arg1 = "sweep-worker", arg2 = "--result-fd", arg3 = "3";
    char* argv[] = {arg0.data(), arg1.data(), arg2.data(), arg3.data(), nullptr};
    Worker w;
    const int rc = ::posix_spawn(&w.pid, exe_.c_str(), &actions, &attributes, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    ::close(in[0]);
    ::close(out[1]);
    if (rc != 0) {
      ::close(in[1]);
      ::close(out[0]);
      throw Error("cannot start a sweep worker (" + exe_ + "): " + std::strerror(rc));
    }
    w.to = in[1];
    w.from = out[0];
    return w;
  }

  void assign(Worker& w, std::deque<std::size_t>& pending) {
    while (!w.current && !pending.empty()) {
      const std::size_t index = pending.front();
      pending.pop_front();
      const fs::path bundle = bundles_.bundle(index);
      const json request = {
          {"index", index}, {"point", points_[index].to_message()}, {"bundle", bundle.string()}};
      w.current = index;
      try {
        write_all(w.to, request.dump() + "\n");
        return;
      } catch (const Error&) {
        // The worker is gone: its EOF is reported by run() (with this point).
        return;
      }
    }
    if (!w.current && w.to >= 0) {
      ::close(w.to);  // nothing left: the worker exits at EOF
      w.to = -1;
    }
  }

  void finished(Worker& w, const std::string& line, const std::function<void(Outcome)>& sink) {
    Outcome o;
    try {
      const json j = json::parse(line);
      o = outcome_from_header(j);
    } catch (const std::exception& e) {
      o.index = w.current.value_or(0);
      o.error = std::string("unreadable answer from worker: ") + e.what();
    }
    if (w.current) o.index = *w.current;
    if (o.ok) o.bundle = bundles_.bundle(o.index);
    w.current.reset();
    sink(std::move(o));
  }

  void died(Worker& w, const std::function<void(Outcome)>& sink) {
    int status = 0;
    ::waitpid(w.pid, &status, 0);
    w.reaped = true;
    if (w.to >= 0) ::close(w.to);
    ::close(w.from);
    w.to = w.from = -1;
    if (w.current) {
      Outcome o;
      o.index = *w.current;
      o.error = "the worker process (pid " + std::to_string(w.pid) + ") " + exit_text(status) +
                " while simulating it";
      w.current.reset();
      sink(std::move(o));
    }
  }

  const std::vector<SweepPoint>& points_;
  const BundleDir& bundles_;
  std::string exe_;
  std::vector<Worker> workers_;
  struct sigaction old_pipe_ {};
};

// ---- rank 0: storing outcomes ----

struct PointStatus {
  std::string status = "pending";  // ran, skipped, failed (dry run: stored, to-run)
  std::optional<std::int64_t> run_id;
  std::string error;
  std::string note;
  double seconds{0};  // simulation wall time (ran points)
};

class Collector {
 public:
  Collector(const analysis::SweepSpec& spec, fs::path db, std::vector<PointStatus>& status,
            Progress& progress, const BundleDir& bundles)
      : spec_(spec), db_(std::move(db)), status_(status), progress_(progress), bundles_(bundles) {}

  void accept(Outcome o) {
    ++received_;
    PointStatus& s = status_.at(o.index);
    const SweepPoint& p = spec_.points.at(o.index);
    if (o.ok) {
      try {
        if (!o.bundle_bytes.empty()) {
          o.bundle = bundles_.bundle(o.index);
          analysis::remove_results_db_file(o.bundle);
          std::ofstream out(o.bundle, std::ios::binary);
          out.write(o.bundle_bytes.data(), static_cast<std::streamsize>(o.bundle_bytes.size()));
          if (!out.flush()) throw Error("cannot write run bundle " + o.bundle.string());
        }
        if (!o.bundle.empty()) {
          const std::vector<std::int64_t> ids = analysis::merge_results_db(db_, o.bundle);
          analysis::remove_results_db_file(o.bundle);
          if (ids.size() != 1) {
            throw Error("run bundle of the point held " + std::to_string(ids.size()) +
                        " runs, expected 1");
          }
          o.run_id = ids.front();
        }
        s.status = "ran";
        s.run_id = o.run_id;
        s.note = o.note;
        s.seconds = o.seconds;
      } catch (const std::exception& e) {
        o.ok = false;
        o.error = std::string("storing the run failed: ") + e.what();
      }
    }
    if (!o.ok) {
      s.status = "failed";
      s.error = o.error;
      progress_.message("wormsim sweep: " + point_text(o.index, p) + " failed: " + o.error);
    }
    progress_.done(p.label());
  }
  std::size_t received() const { return received_; }

 private:
  const analysis::SweepSpec& spec_;
  fs::path db_;
  std::vector<PointStatus>& status_;
  Progress& progress_;
  const BundleDir& bundles_;
  std::size_t received_{0};
};

// Wire form of an outcome between ranks: header JSON, a NUL, the bundle's bytes.
std::string outcome_message(const Outcome& o, const std::string& bundle_bytes) {
  std::string message = outcome_header(o).dump();
  message.push_back('\0');
  message += bundle_bytes;
  return message;
}

Outcome outcome_from_message(const std::string& message) {
  const std::size_t split = message.find('\0');
  Outcome o = outcome_from_header(json::parse(message.substr(0, split)));
  if (split != std::string::npos) o.bundle_bytes = message.substr(split + 1);
  if (o.ok && o.bundle_bytes.empty()) {
    o.ok = false;
    o.error = "the rank sent no run bundle";
  }
  return o;
}

// ---- reporting ----

struct RunFigures {
  double device_time_ns{0};
  double fps_device{0};
  std::int64_t op_count{0};
};

std::map<std::int64_t, RunFigures> run_figures(analysis::ResultsDb& db,
                                               const std::vector<PointStatus>& status) {
  std::map<std::int64_t, RunFigures> figures;
  for (const PointStatus& s : status) {
    if (!s.run_id) continue;
    const analysis::QueryResult r = db.query(
        "SELECT device_time_ns, fps_device, op_count FROM runs WHERE run_id = ?1", {*s.run_id});
    if (r.rows.empty()) continue;
    RunFigures f;
    if (const auto* d = std::get_if<double>(&r.rows[0][0])) f.device_time_ns = *d;
    if (const auto* d = std::get_if<double>(&r.rows[0][1])) f.fps_device = *d;
    if (const auto* i = std::get_if<std::int64_t>(&r.rows[0][2])) f.op_count = *i;
    figures[*s.run_id] = f;
  }
  return figures;
}

std::string axis_cell(const SweepPoint& p, const std::string& axis) {
  const json v = p.config().at(axis);
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string mode_text(std::size_t jobs, const Cluster& cluster) {
  std::string mode = jobs > 1 ? std::to_string(jobs) + " worker processes" : "in process";
  if (cluster.mpi()) mode = "MPI, " + std::to_string(cluster.size()) + " ranks, each " + mode;
  return mode;
}

void print_report(const SweepOptions& o, const analysis::SweepSpec& spec,
                  const std::vector<PointStatus>& status,
                  const std::map<std::int64_t, RunFigures>& figures, const std::string& mode,
                  std::optional<std::int64_t> sweep_id, double wall_s) {
  std::size_t ran = 0, skipped = 0, failed = 0, to_run = 0;
  for (const PointStatus& s : status) {
    ran += s.status == "ran";
    skipped += s.status == "skipped" || s.status == "stored";
    failed += s.status == "failed";
    to_run += s.status == "to-run";
  }
  if (o.format == "json") {
    json points = json::array();
    for (std::size_t k = 0; k < spec.points.size(); ++k) {
      const PointStatus& s = status[k];
      json entry = {{"index", k},
                    {"label", spec.points[k].label()},
                    {"config", spec.points[k].config()},
                    {"status", s.status},
                    {"run_id", s.run_id ? json(*s.run_id) : json(nullptr)}};
      if (s.run_id && figures.count(*s.run_id)) {
        const RunFigures& f = figures.at(*s.run_id);
        entry["device_time_ns"] = f.device_time_ns;
        entry["fps_device"] = f.fps_device;
        entry["op_count"] = f.op_count;
      }
      if (!s.error.empty()) entry["error"] = s.error;
      if (!s.note.empty()) entry["note"] = s.note;
      if (s.status == "ran") entry["sim_s"] = s.seconds;
      points.push_back(std::move(entry));
    }
    const json out = {{"spec", spec.file.string()},
                      {"name", spec.name},
                      {"db", o.db},
                      {"dry_run", o.dry_run},
                      {"mode", mode},
                      {"mpi_support", kMpiSupport},
                      {"points", points},
                      {"ran", ran},
                      {"skipped", skipped},
                      {"failed", failed},
                      {"to_run", to_run},
                      {"sweep_id", sweep_id ? json(*sweep_id) : json(nullptr)},
                      {"wall_s", wall_s}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::vector<std::string> header = {"#", "model", "strategy"};
  for (const std::string& axis : spec.varying_axes) {
    if (axis != "model" && axis != "strategy") header.push_back(axis);
  }
  for (const char* h : {"device ms", "device FPS", "ops", "run", "sim s"}) header.emplace_back(h);
  analysis::TextTable table(header);
  for (std::size_t k = 0; k < spec.points.size(); ++k) {
    const SweepPoint& p = spec.points[k];
    const PointStatus& s = status[k];
    std::vector<std::string> row = {std::to_string(k), p.model, p.strategy};
    for (const std::string& axis : spec.varying_axes) {
      if (axis != "model" && axis != "strategy") row.push_back(axis_cell(p, axis));
    }
    const RunFigures* f = s.run_id && figures.count(*s.run_id) ? &figures.at(*s.run_id) : nullptr;
    row.push_back(f ? analysis::format_fixed(f->device_time_ns / 1e6, 3) : "");
    row.push_back(f ? analysis::format_fixed(f->fps_device, 1) : "");
    row.push_back(f ? std::to_string(f->op_count) : "");
    std::string run;
    if (s.status == "ran") {
      run = std::to_string(*s.run_id);
    } else if (s.status == "skipped") {
      run = "skipped (" + std::to_string(*s.run_id) + ")";
    } else if (s.status == "stored") {
      run = "stored (" + std::to_string(*s.run_id) + ")";
    } else if (s.status == "to-run") {
      run = "would run";
    } else {
      run = "FAILED";
    }
    row.push_back(run);
    row.push_back(s.status == "ran" ? analysis::format_fixed(s.seconds, 2) : "");
    table.add_row(std::move(row));
  }
  std::cout << "sweep " << spec.name << ": " << spec.points.size() << " points ("
            << (o.dry_run ? "dry run" : mode) << ")\n\n";
  table.print(std::cout);
  std::cout << "\n";
  if (o.dry_run) {
    std::cout << to_run << " to run, " << skipped << " already in " << o.db
              << "; nothing was run (--dry-run)\n";
    return;
  }
  if (ran == 0 && failed == 0) {
    std::cout << "all " << skipped << " points are already in " << o.db
              << " (same configuration and wormsim version); nothing to run\n";
  } else {
    std::cout << ran << " ran, " << skipped << " skipped (already in " << o.db << "), " << failed
              << " failed, in " << analysis::format_fixed(wall_s, 1) << " s\n";
  }
  for (std::size_t k = 0; k < spec.points.size(); ++k) {
    if (status[k].status == "failed") {
      std::cout << "  #" << k << " " << spec.points[k].label() << ": " << status[k].error << "\n";
    }
  }
  if (sweep_id) {
    std::cout << "results database: " << o.db << " (sweep row: comparison " << *sweep_id
              << "; `wormsim query runs`)\n";
  }
}

// The sweep row: comparisons(label "sweep <spec>", run_ids of every stored point in point
// order). Not added again when an identical row exists (a re-run that ran nothing).
std::optional<std::int64_t> record_sweep(analysis::ResultsDb& db, const SweepOptions& o,
                                         const analysis::SweepSpec& spec,
                                         const std::vector<PointStatus>& status,
                                         const std::string& mode) {
  std::vector<std::int64_t> run_ids;
  json points = json::array();
  std::vector<std::string> models;
  for (std::size_t k = 0; k < spec.points.size(); ++k) {
    const PointStatus& s = status[k];
    if (s.run_id) run_ids.push_back(*s.run_id);
    points.push_back({{"index", k},
                      {"config", spec.points[k].config()},
                      {"status", s.status},
                      {"run_id", s.run_id ? json(*s.run_id) : json(nullptr)}});
    if (std::find(models.begin(), models.end(), spec.points[k].model) == models.end()) {
      models.push_back(spec.points[k].model);
    }
  }
  if (run_ids.empty()) return std::nullopt;
  const std::string label = "sweep " + o.spec;
  const analysis::QueryResult same = db.query(
      "SELECT comparison_id FROM comparisons WHERE label = ?1 AND run_ids = ?2 ORDER BY "
      "comparison_id DESC LIMIT 1",
      {label, json(run_ids).dump()});
  if (!same.rows.empty()) {
    if (const auto* id = std::get_if<std::int64_t>(&same.rows[0][0])) return *id;
  }
  analysis::ComparisonRecord record;
  std::string model_list;
  for (const std::string& m : models) model_list += (model_list.empty() ? "" : ",") + m;
  record.model = model_list;
  record.label = label;
  record.run_ids = run_ids;
  record.summary = {{"kind", "sweep"},
                    {"spec", o.spec},
                    {"name", spec.name},
                    {"mode", mode},
                    {"wormsim_version", WORMSIM_VERSION},
                    {"points", points}};
  return db.insert_comparison(record);
}

// ---- the command ----

void execute(const SweepOptions& o, const analysis::SweepSpec& spec,
             std::vector<PointStatus>& status, const std::string& to_run_text, Cluster& cluster,
             std::chrono::steady_clock::time_point start);

void sweep(const SweepOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  Cluster cluster;
  const bool root = cluster.rank() == 0;
  if (o.jobs < 1) throw Error("-j must be at least 1");

  // Every rank reads the spec and builds the graphs (cheap), so a bad spec fails everywhere
  // before anything runs.
  analysis::SweepSpec spec;
  std::string error;
  try {
    spec = analysis::load_sweep_spec(o.spec);
    analysis::check_sweep_graphs(spec);
  } catch (const Error& e) {
    error = e.what();
  }
  cluster.checkpoint(error);

  // Rank 0: the database, and which points it already holds.
  std::vector<PointStatus> status(spec.points.size());
  std::string to_run_text;
  if (root) {
    try {
      std::map<std::string, std::int64_t> stored;
      if (o.dry_run) {
        std::error_code ec;
        if (fs::exists(o.db, ec)) {
          analysis::ResultsDb db = analysis::ResultsDb::open_read_only(o.db);
          stored = analysis::stored_sweep_points(db, WORMSIM_VERSION);
        }
      } else {
        analysis::RunOutputRequest check;
        check.db_path = o.db;
        analysis::check_run_outputs(check);
        analysis::ResultsDb db = analysis::ResultsDb::open_for_write(o.db);
        stored = analysis::stored_sweep_points(db, WORMSIM_VERSION);
      }
      json to_run = json::array();
      for (std::size_t k = 0; k < spec.points.size(); ++k) {
        const auto it = stored.find(spec.points[k].config().dump());
        if (it != stored.end()) {
          status[k].status = o.dry_run ? "stored" : "skipped";
          status[k].run_id = it->second;
        } else {
          status[k].status = o.dry_run ? "to-run" : "pending";
          to_run.push_back(k);
        }
      }
      to_run_text = to_run.dump();
    } catch (const Error& e) {
      error = e.what();
    }
  }
  cluster.checkpoint(error);
  if (o.dry_run) {
    if (root) {
      std::optional<analysis::ResultsDb> db;
      std::map<std::int64_t, RunFigures> figures;
      std::error_code ec;
      if (fs::exists(o.db, ec)) {
        db.emplace(analysis::ResultsDb::open_read_only(o.db));
        figures = run_figures(*db, status);
      }
      print_report(o, spec, status, figures, mode_text(o.jobs, cluster), std::nullopt, 0.0);
    }
    return;
  }
  cluster.broadcast(to_run_text);
  if (!cluster.mpi() || cluster.size() == 1) {
    execute(o, spec, status, to_run_text, cluster, start);
    return;
  }
  try {
    execute(o, spec, status, to_run_text, cluster, start);
  } catch (const std::exception& e) {
    cluster.abort_job(e.what());
  }
}

void execute(const SweepOptions& o, const analysis::SweepSpec& spec,
             std::vector<PointStatus>& status, const std::string& to_run_text, Cluster& cluster,
             std::chrono::steady_clock::time_point start) {
  const bool root = cluster.rank() == 0;
  const std::vector<std::size_t> to_run = json::parse(to_run_text).get<std::vector<std::size_t>>();

  // This rank's share: every size-th point to run.
  std::vector<std::size_t> mine;
  for (std::size_t k = 0; k < to_run.size(); ++k) {
    if (static_cast<int>(k % static_cast<std::size_t>(cluster.size())) == cluster.rank())
      mine.push_back(to_run[k]);
  }
  const BundleDir bundles(cluster.rank());
  Progress progress(to_run.size(), root);
  Collector collector(spec, o.db, status, progress, bundles);

  std::function<void(Outcome)> sink;
  std::function<void()> idle;
  if (root) {
    sink = [&](Outcome outcome) { collector.accept(std::move(outcome)); };
    idle = [&] {
      while (auto message = cluster.receive()) {
        collector.accept(outcome_from_message(*message));
      }
      progress.tick();
    };
  } else {
    sink = [&](Outcome outcome) {
      std::string bytes;
      if (outcome.ok) {
        try {
          std::error_code ec;
          const fs::path wal(outcome.bundle.string() + "-wal");
          if (fs::exists(wal, ec) && fs::file_size(wal, ec) > 0) {
            throw Error("run bundle " + outcome.bundle.string() +
                        " still has a write-ahead log; the point was not stored");
          }
          bytes = read_file_bytes(outcome.bundle);
          analysis::remove_results_db_file(outcome.bundle);
          if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
            throw Error("its run bundle (" + std::to_string(bytes.size()) +
                        " bytes) is too large for one MPI message");
          }
        } catch (const std::exception& e) {
          outcome.ok = false;
          outcome.error = e.what();
          bytes.clear();
        }
      }
      cluster.send_to_root(outcome_message(outcome, bytes));
    };
    idle = [&] { cluster.progress_sends(); };
  }

  if (root) progress.draw();
  if (o.jobs > 1 && !mine.empty()) {
    WorkerPool pool(spec.points, bundles);
    pool.run(mine, o.jobs, sink, idle);
  } else {
    run_in_process(spec.points, mine, root ? std::optional<fs::path>(o.db) : std::nullopt, bundles,
                   cluster.rank(), sink, idle);
  }

  if (!root) {
    cluster.flush_sends();
    return;
  }
  while (collector.received() < to_run.size()) {
    if (auto message = cluster.receive()) {
      collector.accept(outcome_from_message(*message));
    } else {
      progress.tick();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  progress.finish();

  const std::string mode = mode_text(o.jobs, cluster);
  analysis::ResultsDb db = analysis::ResultsDb::open_for_write(o.db);
  const std::optional<std::int64_t> sweep_id = record_sweep(db, o, spec, status, mode);
  const std::map<std::int64_t, RunFigures> figures = run_figures(db, status);
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  print_report(o, spec, status, figures, mode, sweep_id, wall_s);
  if (std::any_of(status.begin(), status.end(),
                  [](const PointStatus& s) { return s.status == "failed"; })) {
    exit_status() = 1;
  }
}

// The hidden worker: points as JSON lines on stdin, one answer line each on --result-fd.
void sweep_worker(int result_fd) {
  const std::string crash = test_crash_point();
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    Outcome o;
    const auto begin = std::chrono::steady_clock::now();
    try {
      const json request = json::parse(line);
      o.index = request.at("index").get<std::size_t>();
      const SweepPoint point = SweepPoint::from_message(request.at("point"));
      if (point.model + "/" + point.strategy == crash) std::abort();
      const fs::path bundle = request.at("bundle").get<std::string>();
      analysis::remove_results_db_file(bundle);
      const analysis::SweepPointResult r =
          analysis::run_sweep_point(point, bundle, WORMSIM_VERSION);
      o.ok = true;
      o.note = r.note;
    } catch (const std::exception& e) {
      o.ok = false;
      o.error = e.what();
    }
    o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    write_all(result_fd, outcome_header(o).dump() + "\n");
    release_free_memory();
  }
}

const CommandRegistration registration(57, [](CLI::App& app) {
  auto o = std::make_shared<SweepOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sweep",
      "Run a cartesian sweep of simulations from a JSON spec (docs/sweeps.md) into the results "
      "database; -j N local workers, or under mpirun");
  cmd->add_option("spec", o->spec, "Sweep spec JSON file")->required();
  cmd->add_option("-j,--jobs", o->jobs, "Local worker processes (per MPI rank)")
      ->capture_default_str();
  cmd->add_option("--db", o->db, "Results database")->capture_default_str();
  cmd->add_flag("--dry-run", o->dry_run,
                "List the points and which are already stored; run and write nothing");
  cmd->add_option("--format", o->format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  cmd->callback([o] {
    try {
      sweep(*o);
    } catch (const QuietFailure&) {
      exit_status() = 2;
    }
  });

  auto fd = std::make_shared<int>(3);
  CLI::App* worker = app.add_subcommand("sweep-worker", "Internal: a worker of `wormsim sweep -j`");
  worker->group("");  // hidden from --help
  worker->add_option("--result-fd", *fd, "Descriptor the answers go to");
  worker->callback([fd] { sweep_worker(*fd); });
});

}  // namespace
}  // namespace wormsim::cli
