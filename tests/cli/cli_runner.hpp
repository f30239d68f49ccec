#pragma once
// Running the real `wormsim` binary from a test: a scratch directory and a runner that keeps
// stdout, stderr and the exit code apart.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace wormsim::test {

namespace fs = std::filesystem;

struct CliResult {
  int status{-1};  // exit code, or -1 when killed by a signal
  std::string out;
  std::string err;
};

inline std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A scratch directory unique to this process and tag, removed at the end.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag)
      : path_(fs::temp_directory_path() /
              ("wormsim_cli_" + tag + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }
  // The file's path quoted for a shell command line.
  std::string arg(const std::string& name) const { return "'" + (path_ / name).string() + "'"; }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name) << text;
  }

 private:
  fs::path path_;
};

// Exit code of a std::system status, or -1 when the child was killed by a signal.
inline int exit_code(int raw) { return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1; }

// Runs `<setup> cd <cwd> && <launcher> wormsim <args>` with stdin closed. `setup`: shell
// commands run first (limits, traps); `launcher`: put before the binary (variables, mpirun).
inline CliResult run_wormsim(const std::string& args, const fs::path& cwd = fs::current_path(),
                             const std::string& setup = "", const std::string& launcher = "") {
  static int counter = 0;
  const std::string stem =
      "wormsim_cli_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  const fs::path out = fs::temp_directory_path() / (stem + ".out");
  const fs::path err = fs::temp_directory_path() / (stem + ".err");
  const std::string command = setup + "cd '" + cwd.string() + "' && " + launcher + " '" +
                              WORMSIM_BINARY + "' " + args + " >'" + out.string() + "' 2>'" +
                              err.string() + "' </dev/null";
  CliResult result;
  result.status = exit_code(std::system(command.c_str()));
  result.out = slurp(out);
  result.err = slurp(err);
  fs::remove(out);
  fs::remove(err);
  return result;
}

}  // namespace wormsim::test
