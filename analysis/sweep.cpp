#include "analysis/sweep.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>
#include <tuple>

#include "analysis/run_outputs.hpp"
#include "analysis/sqlite_util.hpp"
#include "analysis/strategy_compare.hpp"
#include "arch/device_spec.hpp"
#include "ops/compute_config.hpp"
#include "ops/data_type.hpp"
#include "sim/error.hpp"
#include "workloads/executor.hpp"
#include "workloads/models/model_zoo.hpp"
#include "workloads/strategy.hpp"

namespace wormsim::analysis {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- spec ----

enum class AxisKind { Text, Count, Flag };

struct Axis {
  const char* name;
  AxisKind kind;
  json default_value;  // null: the spec must give the axis
};

const std::vector<Axis>& axes() {
  static const std::vector<Axis> list = {
      {"model", AxisKind::Text, nullptr},    {"strategy", AxisKind::Text, nullptr},
      {"batch", AxisKind::Count, 0},         {"resolution", AxisKind::Count, 0},
      {"layers", AxisKind::Count, 0},        {"dtype", AxisKind::Text, "bfloat16"},
      {"fidelity", AxisKind::Text, "HiFi2"}, {"numerics", AxisKind::Flag, false},
      {"seed", AxisKind::Count, 0},          {"device", AxisKind::Text, "n300"},
      {"dispatch", AxisKind::Text, "trace"},
  };
  return list;
}

const std::vector<std::string>& other_keys() {
  static const std::vector<std::string> keys = {"include", "exclude", "name", "comment"};
  return keys;
}

std::string joined(const std::vector<std::string>& items, const std::string& separator = ", ") {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

std::string value_text(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

class SpecReader {
 public:
  explicit SpecReader(fs::path file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw Error("sweep spec " + file_.string() + ": " + (field.empty() ? "" : field + ": ") + what);
  }

  const fs::path& file() const { return file_; }
  fs::path folder() const {
    const fs::path parent = file_.parent_path();
    return parent.empty() ? fs::path(".") : parent;
  }

  // One axis value, checked and in canonical form (Flag: bool, Count: unsigned, Text: string).
  json normalise(const Axis& axis, const json& value, const std::string& field) const {
    switch (axis.kind) {
      case AxisKind::Count: {
        if (!value.is_number_integer() ||
            (!value.is_number_unsigned() && value.get<std::int64_t>() < 0)) {
          fail(field, "expected a non-negative integer, got " + value.dump());
        }
        const std::uint64_t n = value.get<std::uint64_t>();
        if (std::string(axis.name) != "seed" && n > 0xffffffffULL) {
          fail(field, "value " + value.dump() + " is too large");
        }
        return n;
      }
      case AxisKind::Flag:
        if (value.is_boolean()) return value;
        if (value == "on") return true;
        if (value == "off") return false;
        fail(field, "expected true / false (or \"on\" / \"off\"), got " + value.dump());
      case AxisKind::Text:
        break;
    }
    if (!value.is_string() || value.get<std::string>().empty()) {
      fail(field, "expected a non-empty string, got " + value.dump());
    }
    const std::string text = value.get<std::string>();
    const std::string name = axis.name;
    if (name == "model") {
      const std::vector<std::string> models = workloads::model_names();
      if (std::find(models.begin(), models.end(), text) == models.end()) {
        fail(field, "unknown model '" + text + "'; models: " + joined(models));
      }
    } else if (name == "strategy") {
      check_strategy(text, field);
    } else if (name == "dtype") {
      const auto type = ops::parse_data_type(text);
      if (!type || *type == ops::DataType::UInt32 || *type == ops::DataType::Int32) {
        fail(field, "unknown dtype '" + text + "'; use float32, bfloat16, bfloat8_b or bfloat4_b");
      }
    } else if (name == "fidelity") {
      try {
        ops::parse_math_fidelity(text);
      } catch (const Error& e) {
        fail(field, e.what());
      }
    } else if (name == "device") {
      const std::vector<std::string> devices = arch::available_device_specs();
      if (std::find(devices.begin(), devices.end(), text) == devices.end()) {
        fail(field, "unknown device '" + text + "'; devices: " + joined(devices));
      }
    } else if (name == "dispatch") {
      if (!workloads::parse_dispatch_mode(text)) {
        fail(field, "dispatch must be trace or eager, got '" + text + "'");
      }
    }
    return text;
  }

  // A preset, "auto", or a strategy file (relative paths: from the spec's folder).
  void check_strategy(const std::string& text, const std::string& field) const {
    const std::vector<std::string> presets = workloads::strategy_preset_names();
    if (std::find(presets.begin(), presets.end(), text) != presets.end() || text == "auto") return;
    const fs::path path = strategy_path(text);
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      std::vector<std::string> names = presets;
      if (std::find(names.begin(), names.end(), "auto") == names.end()) names.push_back("auto");
      fail(field, "unknown strategy '" + text + "': not a preset (" + joined(names) +
                      ") and no strategy file " + path.string() +
                      " (files are relative to the spec's folder)");
    }
    try {
      workloads::Strategy::load(path.string());
    } catch (const Error& e) {
      fail(field, e.what());
    }
  }

  fs::path strategy_path(const std::string& text) const {
    const fs::path path(text);
    return path.is_absolute() ? path : folder() / path;
  }

  // An axis as the spec gives it: a value or a non-empty list; duplicates dropped.
  std::vector<json> axis_values(const Axis& axis, const json& given,
                                const std::string& field) const {
    std::vector<json> values;
    auto add = [&](const json& v, const std::string& f) {
      json n = normalise(axis, v, f);
      if (std::find(values.begin(), values.end(), n) == values.end())
        values.push_back(std::move(n));
    };
    if (given.is_array()) {
      if (given.empty()) {
        fail(field, "is an empty list; give at least one value" +
                        std::string(axis.default_value.is_null()
                                        ? ""
                                        : " (or leave the key out for the default " +
                                              value_text(axis.default_value) + ")"));
      }
      for (std::size_t i = 0; i < given.size(); ++i) {
        add(given[i], field + "[" + std::to_string(i) + "]");
      }
    } else {
      add(given, field);
    }
    return values;
  }

 private:
  fs::path file_;
};

const Axis& axis_named(const std::string& name) {
  for (const Axis& a : axes()) {
    if (name == a.name) return a;
  }
  throw Error("sweep: no axis " + name);
}

std::string did_you_mean(const std::string& key) {
  std::vector<std::string> known;
  for (const Axis& a : axes()) known.emplace_back(a.name);
  for (const std::string& k : other_keys()) known.push_back(k);
  for (const std::string& k : known) {
    if (key == k + "s" || key + "s" == k || key == k + "es")
      return " (did you mean \"" + k + "\"?)";
  }
  return "";
}

std::vector<std::string> all_keys() {
  std::vector<std::string> keys;
  for (const Axis& a : axes()) keys.emplace_back(a.name);
  for (const std::string& k : other_keys()) keys.push_back(k);
  return keys;
}

// A filter: per axis, the values it matches.
using Filter = std::map<std::string, std::vector<json>>;

std::vector<Filter> read_filters(const SpecReader& reader, const json& spec, const std::string& key,
                                 const std::map<std::string, std::vector<json>>& axis_values) {
  std::vector<Filter> filters;
  if (!spec.contains(key)) return filters;
  const json& list = spec.at(key);
  if (!list.is_array()) {
    reader.fail(key,
                "expected a list of objects such as {\"model\": \"bert-large\", \"strategy\": "
                "\"height-sharded\"}, got " +
                    list.dump());
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string entry = key + "[" + std::to_string(i) + "]";
    const json& object = list[i];
    if (!object.is_object() || object.empty()) {
      reader.fail(entry,
                  "expected an object naming axis values, such as {\"model\": "
                  "\"bert-large\"}, got " +
                      object.dump());
    }
    Filter filter;
    for (const auto& [name, given] : object.items()) {
      const std::string field = entry + "." + name;
      const auto known = axis_values.find(name);
      if (known == axis_values.end()) {
        std::vector<std::string> names;
        for (const Axis& a : axes()) names.emplace_back(a.name);
        reader.fail(
            field, "unknown axis '" + name + "'" + did_you_mean(name) + "; axes: " + joined(names));
      }
      const std::vector<json> values = reader.axis_values(axis_named(name), given, field);
      for (const json& v : values) {
        if (std::find(known->second.begin(), known->second.end(), v) == known->second.end()) {
          std::vector<std::string> texts;
          for (const json& k : known->second) texts.push_back(value_text(k));
          reader.fail(field, value_text(v) + " is not a value of the sweep's " + name + " axis (" +
                                 joined(texts) + ")");
        }
      }
      filter[name] = values;
    }
    filters.push_back(std::move(filter));
  }
  return filters;
}

bool matches(const Filter& filter, const std::map<std::string, json>& point) {
  for (const auto& [name, values] : filter) {
    if (std::find(values.begin(), values.end(), point.at(name)) == values.end()) return false;
  }
  return true;
}

// ---- results DB merge ----

std::string quoted(const std::string& identifier) {
  std::string out = "\"";
  for (char c : identifier) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

struct SqliteCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};

std::vector<std::string> column_names(sqlite3* db, const DbFile& file, const std::string& schema,
                                      const std::string& table) {
  SqlStatement info(db, file, "PRAGMA " + schema + ".table_info(" + quoted(table) + ")");
  std::vector<std::string> names;
  while (info.step("reading the columns of " + table)) {
    names.push_back(std::get<std::string>(info.column(1)));
  }
  return names;
}

int schema_version_of(sqlite3* db, const DbFile& file, const std::string& schema) {
  SqlStatement has(db, file,
                   "SELECT count(*) FROM " + schema +
                       ".sqlite_master WHERE type='table' AND name='schema_version'");
  if (!has.step("reading the schema") || sqlite3_column_int(has.get(), 0) == 0) return 0;
  SqlStatement version(db, file,
                       "SELECT COALESCE(MAX(version), 0) FROM " + schema + ".schema_version");
  return version.step("reading the schema version") ? sqlite3_column_int(version.get(), 0) : 0;
}

}  // namespace

// ---- SweepPoint ----

const std::vector<std::string>& sweep_axis_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const Axis& a : axes()) n.emplace_back(a.name);
    return n;
  }();
  return names;
}

json SweepPoint::config() const {
  json config = {{"command", "sweep"}, {"model", model},           {"strategy", strategy},
                 {"batch", batch},     {"resolution", resolution}, {"layers", layers},
                 {"dtype", dtype},     {"fidelity", fidelity},     {"numerics", numerics},
                 {"seed", seed},       {"device", device},         {"dispatch", dispatch}};
  if (!strategy_definition.is_null()) config["strategy_definition"] = strategy_definition;
  return config;
}

std::string SweepPoint::label() const {
  std::string text = model + " " + strategy;
  const json c = config();
  for (const Axis& a : axes()) {
    const std::string name = a.name;
    if (name == "model" || name == "strategy") continue;
    if (c.at(name) == a.default_value) continue;
    text += " " + name + "=" + value_text(c.at(name));
  }
  return text;
}

json SweepPoint::to_message() const {
  json message = config();
  message["strategy_file"] = strategy_file;
  return message;
}

SweepPoint SweepPoint::from_message(const json& m) {
  SweepPoint p;
  p.model = m.at("model").get<std::string>();
  p.strategy = m.at("strategy").get<std::string>();
  p.strategy_file = m.value("strategy_file", std::string());
  p.strategy_definition = m.value("strategy_definition", json());
  p.batch = m.at("batch").get<std::uint32_t>();
  p.resolution = m.at("resolution").get<std::uint32_t>();
  p.layers = m.at("layers").get<std::uint32_t>();
  p.dtype = m.at("dtype").get<std::string>();
  p.fidelity = m.at("fidelity").get<std::string>();
  p.numerics = m.at("numerics").get<bool>();
  p.seed = m.at("seed").get<std::uint64_t>();
  p.device = m.at("device").get<std::string>();
  p.dispatch = m.at("dispatch").get<std::string>();
  return p;
}

// ---- spec ----

SweepSpec load_sweep_spec(const fs::path& file) {
  std::ifstream in(file);
  if (!in) {
    throw Error("cannot read sweep spec " + file.string() +
                ": no such file or not readable (docs/sweeps.md describes the format)");
  }
  json spec;
  try {
    spec = json::parse(in);
  } catch (const json::parse_error& e) {
    throw Error("sweep spec " + file.string() + " is not valid JSON: " + e.what());
  }
  return parse_sweep_spec(spec, file);
}

SweepSpec parse_sweep_spec(const json& spec, const fs::path& file) {
  const SpecReader reader(file);
  if (!spec.is_object()) {
    reader.fail("", "expected a JSON object with the axes (\"model\", \"strategy\", ...), got " +
                        std::string(spec.type_name()));
  }
  const std::vector<std::string> keys = all_keys();
  for (const auto& [key, value] : spec.items()) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      reader.fail(key, "unknown key" + did_you_mean(key) + "; keys: " + joined(keys));
    }
  }
  SweepSpec result;
  result.file = file;
  result.name = file.filename().string();
  if (spec.contains("name")) {
    if (!spec.at("name").is_string()) reader.fail("name", "expected a string");
    result.name = spec.at("name").get<std::string>();
  }

  std::map<std::string, std::vector<json>> values;
  for (const Axis& axis : axes()) {
    if (!spec.contains(axis.name)) {
      if (axis.default_value.is_null()) {
        reader.fail(axis.name, std::string("missing: every sweep names at least one ") + axis.name +
                                   (std::string(axis.name) == "model"
                                        ? " (`wormsim graph --list` lists them)"
                                        : " (a preset, auto or a strategy file)"));
      }
      values[axis.name] = {axis.default_value};
      continue;
    }
    values[axis.name] = reader.axis_values(axis, spec.at(axis.name), axis.name);
    if (values[axis.name].size() > 1) result.varying_axes.emplace_back(axis.name);
  }
  const std::vector<Filter> include = read_filters(reader, spec, "include", values);
  const std::vector<Filter> exclude = read_filters(reader, spec, "exclude", values);

  // Strategy files, loaded once.
  std::map<std::string, json> definitions;
  for (const json& s : values.at("strategy")) {
    const std::string name = s.get<std::string>();
    const std::vector<std::string> presets = workloads::strategy_preset_names();
    if (name == "auto" || std::find(presets.begin(), presets.end(), name) != presets.end())
      continue;
    definitions[name] = workloads::Strategy::load(reader.strategy_path(name).string()).to_json();
  }

  // The cartesian product, model outermost.
  const std::vector<Axis>& list = axes();
  std::vector<std::size_t> index(list.size(), 0);
  std::set<std::string> seen;
  std::size_t total = 0;
  bool done = false;
  while (!done) {
    std::map<std::string, json> chosen;
    for (std::size_t a = 0; a < list.size(); ++a) {
      chosen[list[a].name] = values.at(list[a].name)[index[a]];
    }
    ++total;
    const bool included =
        include.empty() || std::any_of(include.begin(), include.end(),
                                       [&](const Filter& f) { return matches(f, chosen); });
    const bool excluded = std::any_of(exclude.begin(), exclude.end(),
                                      [&](const Filter& f) { return matches(f, chosen); });
    if (included && !excluded) {
      SweepPoint p;
      p.model = chosen.at("model").get<std::string>();
      p.strategy = chosen.at("strategy").get<std::string>();
      if (definitions.count(p.strategy)) {
        p.strategy_file =
            fs::absolute(reader.strategy_path(p.strategy)).lexically_normal().string();
        p.strategy_definition = definitions.at(p.strategy);
      }
      p.batch = chosen.at("batch").get<std::uint32_t>();
      p.resolution = chosen.at("resolution").get<std::uint32_t>();
      p.layers = chosen.at("layers").get<std::uint32_t>();
      p.dtype = chosen.at("dtype").get<std::string>();
      p.fidelity = chosen.at("fidelity").get<std::string>();
      p.numerics = chosen.at("numerics").get<bool>();
      p.seed = chosen.at("seed").get<std::uint64_t>();
      p.device = chosen.at("device").get<std::string>();
      p.dispatch = chosen.at("dispatch").get<std::string>();
      if (seen.insert(p.config().dump()).second) result.points.push_back(std::move(p));
    }
    // Next combination: the last axis turns fastest.
    std::size_t a = list.size();
    while (true) {
      if (a == 0) {
        done = true;
        break;
      }
      --a;
      if (++index[a] < values.at(list[a].name).size()) break;
      index[a] = 0;
    }
  }
  if (result.points.empty()) {
    reader.fail(include.empty() ? "exclude" : "include / exclude",
                "the filters leave none of the " + std::to_string(total) + " points");
  }
  return result;
}

void check_sweep_graphs(const SweepSpec& spec) {
  std::map<std::string, std::unique_ptr<arch::DeviceSpec>> devices;
  std::set<std::tuple<std::string, std::string, std::uint32_t, std::uint32_t, std::uint32_t,
                      std::string, std::string>>
      built;
  for (const SweepPoint& p : spec.points) {
    if (!built.insert({p.device, p.model, p.batch, p.resolution, p.layers, p.dtype, p.fidelity})
             .second) {
      continue;
    }
    auto& device = devices[p.device];
    if (!device) {
      device = std::make_unique<arch::DeviceSpec>(arch::load_device_spec_by_name(p.device));
    }
    workloads::ModelOptions options;
    options.batch = p.batch;
    options.resolution = p.resolution;
    options.layers = p.layers;
    options.dtype = p.dtype;
    options.fidelity = p.fidelity;
    try {
      workloads::build_model(p.model, options, *device);
    } catch (const Error& e) {
      throw Error("sweep spec " + spec.file.string() + ": point '" + p.label() + "': " + e.what() +
                  "; change the axis values or leave the combination out with \"exclude\"");
    }
  }
}

std::map<std::string, std::int64_t> stored_sweep_points(ResultsDb& db,
                                                        const std::string& wormsim_version) {
  const QueryResult rows = db.query(
      "SELECT run_id, config_json FROM runs WHERE wormsim_version = ?1 AND config_json LIKE "
      "'%\"command\":\"sweep\"%' ORDER BY run_id",
      {wormsim_version});
  std::map<std::string, std::int64_t> stored;
  for (const auto& row : rows.rows) {
    const auto* id = std::get_if<std::int64_t>(&row[0]);
    const auto* config = std::get_if<std::string>(&row[1]);
    if (id != nullptr && config != nullptr) stored[*config] = *id;
  }
  return stored;
}

SweepPointResult run_sweep_point(const SweepPoint& point, const fs::path& db,
                                 const std::string& wormsim_version) {
  const arch::DeviceSpec spec = arch::load_device_spec_by_name(point.device);
  workloads::ModelOptions model_options;
  model_options.batch = point.batch;
  model_options.resolution = point.resolution;
  model_options.layers = point.layers;
  model_options.dtype = point.dtype;
  model_options.fidelity = point.fidelity;
  const workloads::Graph graph = workloads::build_model(point.model, model_options, spec);

  StrategyRunOptions options;
  options.numerics = point.numerics;
  options.seed = point.seed;
  const auto dispatch = workloads::parse_dispatch_mode(point.dispatch);
  if (!dispatch) throw Error("dispatch must be trace or eager, got '" + point.dispatch + "'");
  options.host_mode.dispatch = *dispatch;
  const StrategyRun r = run_named_strategy(
      graph, point.strategy_file.empty() ? point.strategy : point.strategy_file, options);

  RunOutputRequest request;
  request.spec = &spec;
  request.graph = &r.applied->graph;
  request.engine = &r.device->engine();
  request.db_path = db;
  request.runs.push_back({&r.run, &r.traffic});
  request.info.model = point.model;
  request.info.graph = graph.name();
  request.info.device = spec.name;
  request.info.batch = graph.batch();
  request.info.strategy = point.strategy;
  request.info.numerics = point.numerics;
  request.info.seed = point.seed;
  request.info.command_queues = options.host_mode.command_queues;
  request.info.io_queue = options.host_mode.io_queue;
  request.info.wormsim_version = wormsim_version;
  request.info.config = point.config();
  for (const auto& c : r.applied->stats.choices) {
    request.info.strategy_choices.push_back(
        {c.node, c.op, c.memory_config, c.program_config, c.reason});
  }
  const RunOutputResult written = write_run_outputs(request);
  SweepPointResult result;
  result.run_id = written.run_id.value_or(0);
  result.device_time_ns = written.summary.device_time_ns;
  result.fps_device = written.summary.fps_device;
  result.op_count = written.summary.op_count;
  result.note = r.note;
  return result;
}

// ---- merge ----

std::vector<std::int64_t> merge_results_db(const fs::path& db, const fs::path& bundle,
                                           std::chrono::milliseconds busy_timeout) {
  const DbFile file{db, "results database", "write to another file with --db PATH"};
  std::error_code ec;
  if (!fs::is_regular_file(bundle, ec)) {
    throw Error("run bundle " + bundle.string() + " is missing; the point was not stored");
  }
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  std::unique_ptr<sqlite3, SqliteCloser> handle(raw);
  if (rc != SQLITE_OK) sqlite_fail(handle.get(), rc, file, "opening it to merge a run");
  sqlite3* h = handle.get();
  sqlite3_busy_timeout(h, static_cast<int>(busy_timeout.count()));
  {
    SqlStatement attach(h, file, "ATTACH DATABASE ?1 AS bundle");
    attach.bind({bundle.string()});
    attach.step("attaching the run bundle " + bundle.string());
  }
  struct Detach {
    sqlite3* h;
    ~Detach() { sqlite3_exec(h, "DETACH DATABASE bundle", nullptr, nullptr, nullptr); }
  } detach{h};

  const int main_version = schema_version_of(h, file, "main");
  const int bundle_version = schema_version_of(h, file, "bundle");
  if (bundle_version == 0 || bundle_version != main_version) {
    throw Error("run bundle " + bundle.string() + " has results schema version " +
                std::to_string(bundle_version) + ", " + db.string() + " has " +
                std::to_string(main_version) + "; the point was not stored");
  }

  // Tables keyed by run: runs itself and every table with a run_id column.
  std::vector<std::pair<std::string, std::vector<std::string>>> children;
  std::vector<std::string> run_columns;
  {
    SqlStatement tables(h, file,
                        "SELECT name FROM bundle.sqlite_master WHERE type = 'table' AND name NOT "
                        "LIKE 'sqlite_%' ORDER BY name");
    std::vector<std::string> names;
    while (tables.step("listing the bundle's tables")) {
      names.push_back(std::get<std::string>(tables.column(0)));
    }
    for (const std::string& table : names) {
      std::vector<std::string> columns = column_names(h, file, "bundle", table);
      if (std::find(columns.begin(), columns.end(), "run_id") == columns.end()) continue;
      columns.erase(std::remove(columns.begin(), columns.end(), "run_id"), columns.end());
      if (table == "runs") {
        run_columns = std::move(columns);
      } else {
        children.emplace_back(table, std::move(columns));
      }
    }
  }
  if (run_columns.empty()) {
    throw Error("run bundle " + bundle.string() + " has no runs table; the point was not stored");
  }
  auto column_list = [](const std::vector<std::string>& columns) {
    std::string out;
    for (const std::string& c : columns) out += (out.empty() ? "" : ", ") + quoted(c);
    return out;
  };

  SqlTransaction tx(h, file, "waited " + std::to_string(busy_timeout.count()) + " ms");
  std::vector<std::int64_t> old_ids;
  {
    SqlStatement ids(h, file, "SELECT run_id FROM bundle.runs ORDER BY run_id");
    while (ids.step("reading the bundle's runs")) {
      old_ids.push_back(std::get<std::int64_t>(ids.column(0)));
    }
  }
  const std::string runs_columns = column_list(run_columns);
  SqlStatement insert_run(h, file,
                          "INSERT INTO main.runs (" + runs_columns + ") SELECT " + runs_columns +
                              " FROM bundle.runs WHERE run_id = ?1");
  std::vector<std::unique_ptr<SqlStatement>> insert_children;
  for (const auto& [table, columns] : children) {
    const std::string list = column_list(columns);
    insert_children.push_back(std::make_unique<SqlStatement>(
        h, file,
        "INSERT INTO main." + quoted(table) + " (run_id" + (list.empty() ? "" : ", " + list) +
            ") SELECT ?2" + (list.empty() ? "" : ", " + list) + " FROM bundle." + quoted(table) +
            " WHERE run_id = ?1"));
  }
  std::vector<std::int64_t> new_ids;
  for (const std::int64_t old_id : old_ids) {
    insert_run.bind({old_id});
    insert_run.step("copying run " + std::to_string(old_id) + " of " + bundle.string());
    const std::int64_t new_id = sqlite3_last_insert_rowid(h);
    for (std::size_t k = 0; k < insert_children.size(); ++k) {
      insert_children[k]->bind({old_id, new_id});
      insert_children[k]->step("copying the " + children[k].first + " rows of run " +
                               std::to_string(old_id) + " of " + bundle.string());
    }
    new_ids.push_back(new_id);
  }
  tx.commit();
  return new_ids;
}

void remove_results_db_file(const fs::path& file) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    fs::remove(fs::path(file.string() + suffix), ec);
  }
}

}  // namespace wormsim::analysis
