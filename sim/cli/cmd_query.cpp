// `wormsim query`: canned reports and read-only SQL over the results database that
// `wormsim run` fills (analysis/results_db.hpp has the schema).
//
//   wormsim query runs [--limit K]
//   wormsim query ops --run N
//   wormsim query top-ops --run N [--limit K]
//   wormsim query diff RUN_A RUN_B
//   wormsim query strategies --model M
//   wormsim query --sql "SELECT ..."
// Every form takes --db PATH (default ./wormsim.db) and --format table|csv|json.
#include <iostream>
#include <optional>

#include "analysis/results_db.hpp"
#include "sim/cli/command_registry.hpp"
#include "sim/error.hpp"

namespace wormsim::cli {
namespace {

struct QueryOptions {
  std::string report;
  std::vector<std::int64_t> run_ids;  // positional: diff RUN_A RUN_B
  std::optional<std::int64_t> run;
  std::size_t limit{0};
  std::string model;
  std::string sql;
  std::string db = analysis::kDefaultResultsDb;
  std::string format = "table";
};

std::int64_t required_run(const QueryOptions& o) {
  if (o.run) return *o.run;
  if (o.run_ids.size() == 1) return o.run_ids.front();
  throw Error("`wormsim query " + o.report +
              "` needs a run: --run N (`wormsim query runs` lists them)");
}

void run_query(const QueryOptions& o) {
  if (!o.sql.empty() && !o.report.empty()) {
    throw Error("give either a report (" + o.report + ") or --sql, not both");
  }
  analysis::ResultsDb db = analysis::ResultsDb::open_read_only(o.db);
  analysis::QueryResult result;
  if (!o.sql.empty()) {
    result = db.query(o.sql);
  } else if (o.report == "runs") {
    result = analysis::query_runs(db, o.limit > 0 ? o.limit : 20);
  } else if (o.report == "ops") {
    result = analysis::query_ops(db, required_run(o));
  } else if (o.report == "top-ops") {
    result = analysis::query_top_ops(db, required_run(o), o.limit > 0 ? o.limit : 10);
  } else if (o.report == "diff") {
    if (o.run_ids.size() != 2)
      throw Error("`wormsim query diff` compares two runs: wormsim query diff RUN_A RUN_B");
    result = analysis::query_diff(db, o.run_ids[0], o.run_ids[1]);
  } else if (o.report == "strategies") {
    if (o.model.empty()) throw Error("`wormsim query strategies` needs --model M");
    result = analysis::query_strategies(db, o.model);
  } else if (o.report.empty()) {
    throw Error(
        "name a report (runs, ops, top-ops, diff, strategies) or give --sql \"SELECT ...\"");
  } else {
    throw Error("unknown report '" + o.report +
                "'; use runs, ops, top-ops, diff, strategies or --sql");
  }
  if (o.format == "csv") {
    analysis::print_query_csv(result, std::cout);
  } else if (o.format == "json") {
    analysis::print_query_json(result, std::cout);
  } else {
    analysis::print_query_table(result, std::cout);
  }
}

const CommandRegistration registration(70, [](CLI::App& app) {
  auto o = std::make_shared<QueryOptions>();
  CLI::App* cmd = app.add_subcommand(
      "query", "Reports and read-only SQL over the results database of past runs");
  cmd->add_option("report", o->report, "runs | ops | top-ops | diff | strategies");
  cmd->add_option("runs", o->run_ids, "Run ids (diff RUN_A RUN_B)");
  cmd->add_option("--run", o->run, "Run id (ops, top-ops)");
  cmd->add_option("--limit", o->limit, "Rows (runs: 20, top-ops: 10 by default)");
  cmd->add_option("--model", o->model, "Model (strategies)");
  cmd->add_option("--sql", o->sql, "One read-only SQL statement (SELECT / WITH)");
  cmd->add_option("--db", o->db, "Results database")->capture_default_str();
  cmd->add_option("--format", o->format, "Output format")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();
  cmd->callback([o] { run_query(*o); });
});

}  // namespace
}  // namespace wormsim::cli
