// `wormsim op`: runs the real binary and checks its output, exit status and error messages.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tests/cli/cli_runner.hpp"

namespace {

namespace fs = std::filesystem;

using wormsim::test::CliResult;
using wormsim::test::ScratchDir;
using wormsim::test::slurp;

const ScratchDir& scratch() {
  static const ScratchDir dir("op");
  return dir;
}

// Runs `wormsim <args>` (args are passed through the shell as written).
CliResult wormsim(const std::string& args) { return wormsim::test::run_wormsim(args); }

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(OpCli, MatmulFlagsPrintJsonRecord) {
  const CliResult r = wormsim(
      "op matmul --m 1024 --k 1024 --n 1024 --dtype bfloat8_b --fidelity HiFi2 --in0 "
      "l1-block-sharded "
      "--in1 dram-interleaved --out l1-block-sharded --grid 8x8 --format json");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* key : {"device_kernel_duration_ns", "pm_ideal_ns", "core_count", "pcc"}) {
    EXPECT_TRUE(j.contains(key)) << key << " missing in " << r.out;
  }
  EXPECT_EQ(j["op_code"], "Matmul");
  EXPECT_EQ(j["core_count"], 64);
  EXPECT_EQ(j["math_fidelity"], "HiFi2");
  const double duration = j["device_kernel_duration_ns"];
  const double ideal = j["pm_ideal_ns"];
  // 32^3 tile products / 64 cores at 32 HiFi2 cycles = 16384 ns ideal compute.
  EXPECT_DOUBLE_EQ(ideal, 16384.0);
  EXPECT_GE(duration, ideal);
  EXPECT_LT(duration, 3.0 * ideal);
  ASSERT_TRUE(j["pcc"].is_number());
  EXPECT_GT(j["pcc"].get<double>(), 0.999);
  EXPECT_LT(j["pcc"].get<double>(), 1.0);
  EXPECT_TRUE(
      contains(j["attributes"].get<std::string>(), "MatmulMultiCoreReuseMultiCastProgramConfig("));
  EXPECT_EQ(j["fallback"], "");
  // in0 and the output live in L1: only in1 comes from DRAM.
  EXPECT_EQ(j["dram_bytes_read"], 1024ull * 1024 / 1024 * 1088);
  EXPECT_EQ(j["dram_bytes_written"], 0);
  EXPECT_EQ(j["inputs"].size(), 2u);
}

TEST(OpCli, MatmulTableOutputAndNumericsOff) {
  const CliResult r = wormsim("op matmul --m 256 --k 256 --n 256 --numerics off");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "device_kernel_duration_ns")) << r.out;
  EXPECT_TRUE(contains(r.out, "attributes: {'compute_kernel_config'")) << r.out;
  const CliResult j = wormsim("op matmul --m 256 --k 256 --n 256 --numerics off --format json");
  ASSERT_EQ(j.status, 0) << j.err;
  EXPECT_TRUE(nlohmann::json::parse(j.out)["pcc"].is_null());
}

TEST(OpCli, JsonDescriptionFile) {
  const std::string file = std::string(WORMSIM_TEST_DATA_DIR) + "/ops/matmul_example.json";
  ASSERT_TRUE(fs::exists(file)) << file;
  const CliResult r = wormsim("op --json '" + file + "' --format json");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["op_code"], "Matmul");
  EXPECT_EQ(j["core_count"], 16);
  EXPECT_EQ(j["math_fidelity"], "HiFi2");
  EXPECT_EQ(j["fallback"], "");
  EXPECT_TRUE(contains(j["attributes"].get<std::string>(),
                       "in0_block_w=4;out_subblock_h=2;out_subblock_w=2"))
      << j["attributes"];
  EXPECT_GT(j["pcc"].get<double>(), 0.999);
  EXPECT_EQ(j["outputs"][0]["shape"], nlohmann::json({1, 1, 256, 256}));
  EXPECT_EQ(j["inputs"][1]["dtype"], "BFLOAT8_B");
  // The same run twice prints the same record (deterministic simulation and seeded values).
  EXPECT_EQ(wormsim("op --json '" + file + "' --format json").out, r.out);
}

TEST(OpCli, ProgramConfigFlagsAndStrict) {
  const CliResult fallback = wormsim(
      "op matmul --m 256 --k 256 --n 256 --grid 4x4 --config 2d --in0-block-w 3 --numerics off "
      "--format json");
  ASSERT_EQ(fallback.status, 0) << fallback.err;
  EXPECT_TRUE(contains(nlohmann::json::parse(fallback.out)["fallback"].get<std::string>(),
                       "in0_block_w=3"));
  const CliResult strict = wormsim(
      "op matmul --m 256 --k 256 --n 256 --grid 4x4 --config 2d --in0-block-w 3 --numerics off "
      "--strict");
  EXPECT_NE(strict.status, 0);
  EXPECT_TRUE(contains(strict.err, "in0_block_w=3 does not divide K=8 tiles")) << strict.err;
}

TEST(OpCli, UnknownOpListsTheKnownOps) {
  const CliResult r = wormsim("op nosuchop");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.err, "unknown op 'nosuchop'")) << r.err;
  EXPECT_TRUE(contains(r.err, "matmul")) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(OpCli, BadJsonFileIsAClearError) {
  const fs::path bad = scratch().path() / "broken.json";
  std::ofstream(bad) << "{\"op\": \"matmul\", \"inputs\": [ {\"shape\": [1, 1, 64, 64] ";
  const CliResult r = wormsim("op --json '" + bad.string() + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.err, "is not valid JSON")) << r.err;
  EXPECT_TRUE(contains(r.err, bad.string())) << r.err;

  const CliResult missing =
      wormsim("op --json '" + (scratch().path() / "absent.json").string() + "'");
  EXPECT_NE(missing.status, 0);
  EXPECT_TRUE(contains(missing.err, "cannot open")) << missing.err;

  const fs::path no_op = scratch().path() / "no_op.json";
  std::ofstream(no_op) << R"({"inputs": []})";
  const CliResult r2 = wormsim("op --json '" + no_op.string() + "'");
  EXPECT_NE(r2.status, 0);
  EXPECT_TRUE(contains(r2.err, "\"op\"")) << r2.err;

  const fs::path typo = scratch().path() / "typo.json";
  std::ofstream(typo)
      << R"({"op": "matmul", "inputs": [{"shape": [1, 1, 64, 64]}, {"shape": [1, 1, 64, 64]}],
                            "params": {"math_fidelty": "HiFi2"}})";
  const CliResult r3 = wormsim("op --json '" + typo.string() + "'");
  EXPECT_NE(r3.status, 0);
  EXPECT_TRUE(contains(r3.err, "unknown parameter 'math_fidelty'")) << r3.err;
}

TEST(OpCli, MatmulWithoutDimensionsIsAnError) {
  const CliResult r = wormsim("op matmul --m 64");
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(contains(r.err, "--m, --k and --n")) << r.err;
}

TEST(OpCli, GridWithoutConfigOnInterleavedMatmulIsAnError) {
  // The automatic chooser has no grid option: with interleaved placements --grid used to be
  // ignored (the run took all 64 cores). It is now rejected, naming the fix.
  const CliResult r = wormsim("op matmul --m 1024 --k 1024 --n 1024 --grid 4x4 --numerics off");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_TRUE(contains(r.err, "--grid 4x4 has no effect on matmul without --config")) << r.err;
  EXPECT_TRUE(contains(r.err, "add --config 2d")) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  // With --config the grid is honoured: 16 cores.
  const CliResult c = wormsim(
      "op matmul --m 1024 --k 1024 --n 1024 --grid 4x4 --config 2d --numerics off --format json");
  ASSERT_EQ(c.status, 0) << c.err;
  const nlohmann::json j = nlohmann::json::parse(c.out);
  EXPECT_EQ(j["core_count"], 16);
  EXPECT_TRUE(
      contains(j["attributes"].get<std::string>(), "compute_with_storage_grid_size=(x=4;y=4)"))
      << j["attributes"];
  // A sharded placement puts the shards (and so the chosen config) on the grid.
  const CliResult s = wormsim(
      "op matmul --m 1024 --k 1024 --n 1024 --grid 4x4 --in0 l1-block-sharded --numerics off "
      "--format json");
  ASSERT_EQ(s.status, 0) << s.err;
  EXPECT_EQ(nlohmann::json::parse(s.out)["core_count"], 16);
  // The full grid, explicit or default, is what the chooser uses anyway.
  for (const std::string grid : {" --grid 8x8", ""}) {
    const CliResult f =
        wormsim("op matmul --m 1024 --k 1024 --n 1024 --numerics off --format json" + grid);
    ASSERT_EQ(f.status, 0) << f.err;
    EXPECT_EQ(nlohmann::json::parse(f.out)["core_count"], 64) << grid;
  }
}

TEST(OpCli, GridLargerThanTheDeviceIsAnError) {
  for (const std::string args :
       {"op matmul --m 256 --k 256 --n 256 --grid 9x9 --strict",
        "op matmul --m 256 --k 256 --n 256 --grid 9x9",
        "op matmul --m 256 --k 256 --n 256 --grid 8x9 --config 2d",
        "op matmul --m 256 --k 256 --n 256 --grid 9x8 --in0 l1-block-sharded",
        "op add --shape 1,1,256,256 --shape 1,1,256,256 --grid 9x9"}) {
    const CliResult r = wormsim(args);
    EXPECT_EQ(r.status, 2) << args;
    EXPECT_TRUE(contains(r.err, "does not fit the n300's 8x8 worker grid"))
        << args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  const CliResult zero = wormsim("op matmul --m 256 --k 256 --n 256 --grid 0x4 --config 2d");
  EXPECT_EQ(zero.status, 2);
  EXPECT_TRUE(contains(zero.err, "must be positive")) << zero.err;
}

}  // namespace
