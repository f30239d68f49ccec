// `wormsim compare` end to end: the JSON list, the database rows read back, and the errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "analysis/results_db.hpp"
#include "tests/cli/cli_runner.hpp"

namespace wormsim::test {
namespace {

const std::string kModel = "--model vit-base --layers 1 --batch 1";

TEST(CompareCli, JsonListsEveryStrategyAndTheDatabaseHoldsTheComparison) {
  ScratchDir dir("compare_json");
  const CliResult r =
      run_wormsim("compare " + kModel +
                      " --strategies dram-interleaved,block-sharded,auto --beam 2 --format json "
                      "--db cmp.db --save-auto auto.json",
                  dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["strategies"].size(), 3u);
  double best = 1e30;
  std::string best_name;
  for (const auto& s : j["strategies"]) {
    for (const char* key : {"strategy", "device_time_ns", "fps_device", "dram_bytes",
                            "reshard_count", "l1_peak_bytes", "fallback_count", "run_id"}) {
      ASSERT_TRUE(s.contains(key)) << key;
    }
    EXPECT_GT(s["device_time_ns"].get<double>(), 0.0);
    if (s["device_time_ns"].get<double>() < best) {
      best = s["device_time_ns"].get<double>();
      best_name = s["strategy"].get<std::string>();
    }
  }
  EXPECT_EQ(j["strategies"][0]["strategy"], "dram-interleaved");
  EXPECT_EQ(j["strategies"][2]["strategy"], "auto");
  EXPECT_LE(j["strategies"][2]["device_time_ns"].get<double>(),
            std::min(j["strategies"][0]["device_time_ns"].get<double>(),
                     j["strategies"][1]["device_time_ns"].get<double>()));
  EXPECT_TRUE(fs::exists(dir / "auto.json"));

  auto db = analysis::ResultsDb::open_read_only(dir / "cmp.db");
  const auto comparison =
      db.query("SELECT comparison_id, run_ids, best_run_id, summary_json FROM comparisons");
  ASSERT_EQ(comparison.rows.size(), 1u);
  EXPECT_EQ(std::get<std::int64_t>(comparison.rows[0][0]), j["comparison_id"].get<std::int64_t>());
  const auto run_ids = nlohmann::json::parse(std::get<std::string>(comparison.rows[0][1]));
  ASSERT_EQ(run_ids.size(), 3u);
  const auto runs = db.query("SELECT run_id, strategy, device_time_ns FROM runs ORDER BY run_id");
  ASSERT_EQ(runs.rows.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(std::get<std::int64_t>(runs.rows[k][0]), run_ids[k].get<std::int64_t>());
    EXPECT_EQ(std::get<std::string>(runs.rows[k][1]),
              j["strategies"][k]["strategy"].get<std::string>());
    EXPECT_DOUBLE_EQ(std::get<double>(runs.rows[k][2]),
                     j["strategies"][k]["device_time_ns"].get<double>());
  }
  // The best run is the winner's; the per-node choices of sharded runs are stored.
  const auto best_row =
      db.query("SELECT strategy FROM runs WHERE run_id = ?", {comparison.rows[0][2]});
  ASSERT_EQ(best_row.rows.size(), 1u);
  EXPECT_EQ(std::get<std::string>(best_row.rows[0][0]), j["winner"].get<std::string>());
  const auto choices = db.query("SELECT COUNT(*) FROM strategy_choices WHERE run_id = ?",
                                {analysis::SqlValue(run_ids[1].get<std::int64_t>())});
  EXPECT_GT(std::get<std::int64_t>(choices.rows[0][0]), 0);

  // The saved auto strategy runs again, as a file.
  const CliResult again = run_wormsim(
      "compare " + kModel + " --strategies auto.json --no-db --format json", dir.path());
  ASSERT_EQ(again.status, 0) << again.err;
}

TEST(CompareCli, TableNamesTheWinnerAndTheOpsThatDiffer) {
  ScratchDir dir("compare_table");
  const CliResult r = run_wormsim(
      "compare " + kModel + " --strategies dram-interleaved,hybrid-attention-island --no-db",
      dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("winner: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ops that differ most"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("attn_island_interleave"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "wormsim.db"));
}

TEST(CompareCli, BadStrategiesFailBeforeSimulating) {
  ScratchDir dir("compare_errors");
  CliResult r =
      run_wormsim("compare " + kModel + " --strategies block-sharded,diagonal --no-db", dir.path());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("unknown strategy 'diagonal'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("running"), std::string::npos) << r.err;
  r = run_wormsim("compare " + kModel + " --strategies missing.json --no-db", dir.path());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("missing.json"), std::string::npos) << r.err;
  {
    std::ofstream bad(dir / "bad.json");
    bad << R"({"name": "x", "rules": [{"match": "*", "memory": "l2"}]})";
  }
  r = run_wormsim("compare " + kModel + " --strategies bad.json --no-db", dir.path());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("rules[0]: unknown memory 'l2'"), std::string::npos) << r.err;
  r = run_wormsim("compare " + kModel + " --strategies block-sharded --save-auto a.json --no-db",
                  dir.path());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--save-auto needs auto"), std::string::npos) << r.err;
}

TEST(RunStrategyCli, StrategyFallbacksAndStrict) {
  ScratchDir dir("run_strategy");
  CliResult r = run_wormsim(
      "run " + kModel + " --numerics off --no-db --format json --strategy block-sharded",
      dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["strategy"], "block-sharded");
  EXPECT_GT(j["conversion_count"].get<int>(), 0);
  EXPECT_EQ(j["program_config_fallback_total"].get<int>(), 0);
  // The op count includes the conversions the strategy inserted.
  const CliResult plain =
      run_wormsim("run " + kModel + " --numerics off --no-db --format json", dir.path());
  ASSERT_EQ(plain.status, 0) << plain.err;
  const nlohmann::json p = nlohmann::json::parse(plain.out);
  EXPECT_EQ(j["op_count"].get<int>(), p["op_count"].get<int>() + j["conversion_count"].get<int>());
  EXPECT_EQ(p["strategy"], "");

  // A program config the shape cannot take: counted as a fallback, an error under --strict.
  {
    std::ofstream f(dir / "bad_config.json");
    f << R"({"name": "bad-config", "rules": [{"match": "*intermediate.dense", "op": "linear",
            "memory": "dram-interleaved", "program_config": {"kind": "2d", "grid": [1, 1],
            "in0_block_w": 1, "per_core_M": 7, "per_core_N": 1}}]})";
  }
  r = run_wormsim(
      "run " + kModel + " --numerics off --no-db --format json --strategy bad_config.json",
      dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["program_config_fallback_total"].get<int>(), 1);
  r = run_wormsim("run " + kModel + " --numerics off --no-db --strategy bad_config.json --strict",
                  dir.path());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("vit.encoder.layer.0.intermediate.dense"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("program config is invalid"), std::string::npos) << r.err;

  // auto saves the plan it ran; the file runs again with the same device time.
  r = run_wormsim("run " + kModel +
                      " --numerics off --no-db --format json --strategy auto --beam 2 "
                      "--save-strategy plan.json",
                  dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(j["strategy_note"].get<std::string>().empty());
  const CliResult again = run_wormsim(
      "run " + kModel + " --numerics off --no-db --format json --strategy plan.json", dir.path());
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(nlohmann::json::parse(again.out)["device_time_ns"], j["device_time_ns"]);

  r = run_wormsim("run " + kModel + " --numerics off --no-db --save-strategy x.json", dir.path());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--save-strategy needs --strategy"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace wormsim::test
