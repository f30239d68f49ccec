// scripts/fit_spec.py: the dry run, argument errors, and a real fit against a two-row copy of
// the matmul calibration file (WORMSIM_CALIBRATION_DIR points wormsim and the script at it, so
// each `wormsim calibrate` run takes a fraction of a second). Skipped without python3.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tests/analysis/synthetic_run.hpp"

namespace wormsim::analysis {
namespace {

using testing::TempDir;

struct ScriptResult {
  int status{-1};
  std::string out;
};

ScriptResult run(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  ScriptResult result;
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.out.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool have_python() { return run("python3 --version").status == 0; }

std::string script() {
  return std::string("python3 '") + WORMSIM_SOURCE_DIR + "/scripts/fit_spec.py'";
}
std::string base_spec() {
  return std::string(WORMSIM_SOURCE_DIR) + "/arch/specs/wormhole_n300.json";
}

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(FitSpecScript, DryRunAndArgumentErrors) {
  if (!have_python()) GTEST_SKIP() << "python3 not available";
  const TempDir dir("fit_spec_dry");
  const std::string out = (dir / "fitted.json").string();
  const std::string common = " --wormsim '" + std::string(WORMSIM_BINARY) + "' --out '" + out + "'";
  ScriptResult r = run(script() + common + " --budget 1 --dry-run");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "compute.matmul_inner_step_overhead_cycles = ")) << r.out;
  EXPECT_TRUE(contains(r.out, "nothing was run or written")) << r.out;
  EXPECT_FALSE(std::filesystem::exists(out));

  r = run(script() + common + " --budget 0");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "--budget must be at least 1")) << r.out;
  r = run(script() + common + " --budget 1 --dry-run --param compute.no_such_constant:0:10:1");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "no constant compute.no_such_constant")) << r.out;
  r = run(script() + " --wormsim '" + WORMSIM_BINARY + "' --budget 1 --out '" + base_spec() + "'");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(contains(r.out, "must not be the base spec")) << r.out;
}

TEST(FitSpecScript, FitsOnATwoRowCalibrationFile) {
  if (!have_python()) GTEST_SKIP() << "python3 not available";
  const TempDir dir("fit_spec_run");
  // The header and the two 512x512x512 BF16 rows (HiFi2, HiFi4) of the real file.
  std::istringstream real(slurp(std::filesystem::path(WORMSIM_CALIBRATION_DIR) / "matmul.csv"));
  std::string line, header, rows;
  std::getline(real, header);
  while (std::getline(real, line)) {
    if (line.rfind("512,512,512,BFLOAT16,BFLOAT16,BFLOAT16,", 0) == 0) rows += line + "\n";
  }
  ASSERT_EQ(std::count(rows.begin(), rows.end(), '\n'), 2) << rows;
  std::ofstream(dir / "matmul.csv") << header << "\n" << rows;

  const std::string before = slurp(base_spec());
  const std::string out = (dir / "fitted.json").string();
  const ScriptResult r =
      run("WORMSIM_CALIBRATION_DIR='" + dir.path().string() + "' " + script() + " --wormsim '" +
          WORMSIM_BINARY + "' --out '" + out +
          "' --budget 2 --param compute.matmul_inner_step_overhead_cycles:0:80:8");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "2 matmul rows")) << r.out;
  EXPECT_TRUE(contains(r.out, "before: median")) << r.out;
  EXPECT_TRUE(contains(r.out, "after:  median")) << r.out;
  EXPECT_EQ(slurp(base_spec()), before);  // the base spec is never touched

  const nlohmann::json fitted = nlohmann::json::parse(slurp(out));
  const nlohmann::json base = nlohmann::json::parse(before);
  const auto& leaf = fitted["compute"]["matmul_inner_step_overhead_cycles"];
  const auto& old_leaf = base["compute"]["matmul_inner_step_overhead_cycles"];
  if (leaf["value"] != old_leaf["value"]) {
    EXPECT_TRUE(contains(leaf["source"].get<std::string>(),
                         "fitted to calibration/matmul.csv by scripts/fit_spec.py"))
        << leaf["source"];
  } else {
    EXPECT_EQ(leaf["source"], old_leaf["source"]);
  }
  // Nothing else changes.
  nlohmann::json rest = fitted;
  rest["compute"].erase("matmul_inner_step_overhead_cycles");
  nlohmann::json base_rest = base;
  base_rest["compute"].erase("matmul_inner_step_overhead_cycles");
  EXPECT_EQ(rest, base_rest);
}

}  // namespace
}  // namespace wormsim::analysis
