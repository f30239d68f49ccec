#include "analysis/ttnn_report.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>

#include "analysis/sqlite_util.hpp"
#include "sim/error.hpp"

namespace wormsim::analysis {
namespace {

// TT-NN's report schema (ttnn/ttnn/database.py; ttnn-visualizer tests/report_schemas.py
// SCHEMA_V2 with source files).
constexpr const char* kTtnnReportSchema = R"sql(
CREATE TABLE devices (device_id int, num_y_cores int, num_x_cores int, num_y_compute_cores int,
  num_x_compute_cores int, worker_l1_size int, l1_num_banks int, l1_bank_size int,
  address_at_first_l1_bank int, address_at_first_l1_cb_buffer int, num_banks_per_storage_core int,
  num_compute_cores int, num_storage_cores int, total_l1_memory int, total_l1_for_tensors int,
  total_l1_for_interleaved_buffers int, total_l1_for_sharded_buffers int, cb_limit int);
CREATE TABLE operations (operation_id int UNIQUE, name text, duration float);
CREATE TABLE operation_arguments (operation_id int, name text, value text);
CREATE TABLE tensors (tensor_id int UNIQUE, shape text, dtype text, layout text, memory_config text,
  device_id int, address int, buffer_type int);
CREATE TABLE device_tensors (tensor_id int, device_id int, address int);
CREATE TABLE buffers (operation_id int, device_id int, address int, max_size_per_bank int,
  buffer_type int, buffer_layout int);
CREATE TABLE captured_graph (operation_id int, captured_graph text);
CREATE TABLE nodes (operation_id int, unique_id int, node_operation_id int, name text);
CREATE TABLE edges (operation_id int, source_unique_id int, sink_unique_id int,
  source_output_index int, sink_input_index int, key int);
CREATE TABLE report_metadata (key text UNIQUE, value text);
CREATE TABLE errors (operation_id int, operation_name text, error_type text, error_message text,
  stack_trace text, timestamp text);
CREATE TABLE stack_traces (operation_id int, stack_trace text, source_file_id int);
CREATE TABLE source_files (id int PRIMARY KEY, path text, contents text);
CREATE TABLE input_tensors (operation_id int, input_index int, tensor_id int);
CREATE TABLE output_tensors (operation_id int, output_index int, tensor_id int);
CREATE TABLE local_tensor_comparison_records (tensor_id int, golden_tensor_id int, matches int,
  desired_pcc float, actual_pcc float);
CREATE TABLE global_tensor_comparison_records (tensor_id int, golden_tensor_id int, matches int,
  desired_pcc float, actual_pcc float);
CREATE TABLE buffer_pages (operation_id int, device_id int, address int, core_y int, core_x int,
  bank_id int, page_index int, page_address int, page_size int, buffer_type int);
)sql";

// tt-metal's enum values as the report stores them (BufferType: DRAM 0, L1 1;
// TensorMemoryLayout: INTERLEAVED 0, HEIGHT 2, WIDTH 3, BLOCK 4).
std::int64_t buffer_type_code(ops::BufferType type) {
  return type == ops::BufferType::DRAM ? 0 : 1;
}
std::int64_t memory_layout_code(ops::TensorMemoryLayout layout) {
  switch (layout) {
    case ops::TensorMemoryLayout::Interleaved:
      return 0;
    case ops::TensorMemoryLayout::HeightSharded:
      return 2;
    case ops::TensorMemoryLayout::WidthSharded:
      return 3;
    case ops::TensorMemoryLayout::BlockSharded:
      return 4;
  }
  return 0;
}

struct Db {
  struct Close {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Close> handle;
};

void device_row(SqlInserter& devices, std::uint32_t chip, const arch::DeviceSpec& spec) {
  const std::uint64_t cores = spec.worker_count();
  const std::uint64_t bank = spec.l1.usable_bytes;
  devices.insert({{"device_id", sql_int(chip)},
                  {"num_y_cores", sql_int(spec.worker_grid_y())},
                  {"num_x_cores", sql_int(spec.worker_grid_x())},
                  {"num_y_compute_cores", sql_int(spec.worker_grid_y())},
                  {"num_x_compute_cores", sql_int(spec.worker_grid_x())},
                  {"worker_l1_size", sql_int(spec.l1.size_bytes)},
                  {"l1_num_banks", sql_int(cores)},  // one interleaved L1 bank per worker core
                  {"l1_bank_size", sql_int(bank)},
                  {"address_at_first_l1_bank", sql_int(spec.l1.first_usable_address)},
                  {"address_at_first_l1_cb_buffer", sql_int(spec.l1.first_usable_address)},
                  {"num_banks_per_storage_core", sql_int(0)},
                  {"num_compute_cores", sql_int(cores)},
                  {"num_storage_cores", sql_int(0)},
                  {"total_l1_memory", sql_int(spec.l1.size_bytes * cores)},
                  {"total_l1_for_tensors", sql_int(bank * cores)},
                  {"total_l1_for_interleaved_buffers", sql_int(bank * cores)},
                  {"total_l1_for_sharded_buffers", sql_int(bank * cores)},
                  {"cb_limit", sql_int(bank)}});
}

void write_db(const std::filesystem::path& file, const RunProfile& profile, const RunInfo& info,
              const workloads::Graph* graph, const TtnnReportOptions& options,
              const std::string& report_name) {
  const arch::DeviceSpec& spec = *profile.spec;
  const DbFile where{file, "ttnn report database", "choose another --ttnn-report DIR"};
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  Db db{std::unique_ptr<sqlite3, Db::Close>(raw)};
  if (rc != SQLITE_OK) sqlite_fail(db.handle.get(), rc, where, "creating it");
  sqlite3* h = db.handle.get();
  SqlTransaction tx(h, where, "waited");
  sqlite_exec(h, where, kTtnnReportSchema, "creating the report schema");

  SqlInserter metadata(h, where, "report_metadata");
  const std::vector<std::pair<std::string, std::string>> meta = {
      {"report_name", report_name},
      {"producer", "wormsim"},
      {"wormsim_version", info.wormsim_version},
      {"model", info.model},
      {"graph", info.graph},
      {"device", spec.name},
      {"arch", spec.arch},
      {"strategy", info.strategy},
      {"created_at", utc_timestamp()}};
  for (const auto& [key, value] : meta)
    metadata.insert({{"key", sql_text(key)}, {"value", sql_text(value)}});

  SqlInserter devices(h, where, "devices");
  std::map<std::uint32_t, bool> chips;
  for (const OpProfile& op : profile.ops) chips[op.chip] = true;
  for (const auto& [chip, used] : chips) device_row(devices, chip, spec);

  SqlInserter operations(h, where, "operations");
  SqlInserter arguments(h, where, "operation_arguments");
  SqlInserter tensors(h, where, "tensors");
  SqlInserter inputs(h, where, "input_tensors");
  SqlInserter outputs(h, where, "output_tensors");
  SqlInserter buffers(h, where, "buffers");
  SqlInserter global_pcc(h, where, "global_tensor_comparison_records");
  SqlInserter local_pcc(h, where, "local_tensor_comparison_records");

  // Tensor ids: the graph's tensors (per chip) when the graph is known, else one per operand.
  std::map<std::pair<std::uint32_t, std::int64_t>, std::int64_t> ids;
  std::int64_t next_tensor = 0;
  auto tensor_id = [&](const OpProfile& op, const ops::TensorSpec& spec_of,
                       std::optional<workloads::TensorId> graph_id) {
    if (graph_id) {
      const auto key = std::make_pair(op.chip, static_cast<std::int64_t>(*graph_id));
      if (const auto it = ids.find(key); it != ids.end()) return std::make_pair(it->second, false);
      ids.emplace(key, next_tensor);
    }
    const std::int64_t id = next_tensor++;
    tensors.insert(
        {{"tensor_id", id},
         {"shape", sql_text(ops::to_string(spec_of.logical_shape()))},
         {"dtype", sql_text("DataType." + std::string(ops::to_string(spec_of.data_type())))},
         {"layout", sql_text("Layout." + std::string(ops::to_string(spec_of.layout())))},
         {"memory_config", sql_text(ops::to_string(spec_of.memory_config()))},
         {"device_id", sql_int(op.chip)},
         {"address", SqlValue()},
         {"buffer_type", SqlValue(buffer_type_code(spec_of.memory_config().buffer_type()))}});
    return std::make_pair(id, true);
  };

  std::int64_t operation_id = 0;
  for (const OpProfile& op : profile.ops) {
    if (op.node == nullptr) continue;
    const ops::OpRecord& r = op.record();
    operations.insert({{"operation_id", operation_id},
                       {"name", sql_text("ttnn." + op.node->op)},
                       {"duration", sql_real(op.fw_ns * 1e-9)}});
    std::vector<std::pair<std::string, std::string>> args = {
        {"node", op.node->name},
        {"op_code", r.op_code},
        {"attributes", r.attributes},
        {"device_id", std::to_string(op.chip)},
        {"core_count", std::to_string(r.timing.core_count)},
        {"device_fw_duration_ns", std::to_string(op.fw_ns)},
        {"device_kernel_duration_ns", std::to_string(op.kernel_ns)},
        {"bound", std::string(to_string(op.bound))}};
    if (!op.node->group.empty()) args.emplace_back("group", op.node->group);
    if (r.math_fidelity)
      args.emplace_back("math_fidelity",
                        arch::kMathFidelityNames[static_cast<std::size_t>(*r.math_fidelity)]);
    for (const auto& [name, value] : args) {
      arguments.insert(
          {{"operation_id", operation_id}, {"name", sql_text(name)}, {"value", sql_text(value)}});
    }
    const workloads::GraphNode* node = graph != nullptr && op.node->node < graph->nodes().size()
                                           ? &graph->node(op.node->node)
                                           : nullptr;
    for (const bool is_input : {true, false}) {
      const std::vector<ops::TensorSpec>& specs = is_input ? r.inputs : r.outputs;
      for (std::size_t k = 0; k < specs.size(); ++k) {
        std::optional<workloads::TensorId> graph_id;
        if (node != nullptr) {
          const auto& list = is_input ? node->inputs : node->outputs;
          if (k < list.size()) graph_id = list[k];
        }
        const auto [id, fresh] = tensor_id(op, specs[k], graph_id);
        (void)fresh;
        SqlInserter& link = is_input ? inputs : outputs;
        link.insert({{"operation_id", operation_id},
                     {is_input ? "input_index" : "output_index", sql_int(k)},
                     {"tensor_id", id}});
        const ops::MemoryConfig& memory = specs[k].memory_config();
        buffers.insert(
            {{"operation_id", operation_id},
             {"device_id", sql_int(op.chip)},
             {"address", SqlValue()},
             {"max_size_per_bank", sql_int(ops::memory_footprint(specs[k], spec).bytes_per_bank)},
             {"buffer_type", SqlValue(buffer_type_code(memory.buffer_type()))},
             {"buffer_layout", SqlValue(memory_layout_code(memory.layout()))}});
        if (!is_input && k == 0) {
          // The executor's PCC is its first output's; accumulated (global) and own (local).
          auto record = [&](SqlInserter& table, double pcc) {
            table.insert({{"tensor_id", id},
                          {"golden_tensor_id", id},
                          {"matches", sql_int(pcc >= options.desired_pcc ? 1 : 0)},
                          {"desired_pcc", sql_real(options.desired_pcc)},
                          {"actual_pcc", sql_real(pcc)}});
          };
          if (r.pcc) record(global_pcc, *r.pcc);
          if (op.node->local_pcc) record(local_pcc, *op.node->local_pcc);
        }
      }
    }
    ++operation_id;
  }
  tx.commit();
}

}  // namespace

void write_ttnn_report(const std::filesystem::path& dir, const RunProfile& profile,
                       const RunInfo& info, const workloads::Graph* graph,
                       const TtnnReportOptions& options) {
  namespace fs = std::filesystem;
  if (profile.spec == nullptr) throw Error("ttnn report: the run profile has no device spec");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    throw Error("cannot create the ttnn report folder " + dir.string() + ": " +
                (ec ? ec.message() : std::string("a file of that name exists")) +
                "; choose another --ttnn-report DIR");
  }
  const std::string report_name =
      !options.report_name.empty() ? options.report_name
                                   : (info.model.empty() ? info.graph : info.model) + " (wormsim)";

  // The database is built beside its final name and renamed over it when complete.
  fs::path temp = dir / "db.sqlite";
  temp += ".tmp." + std::to_string(::getpid());
  fs::remove(temp, ec);
  try {
    write_db(temp, profile, info, graph, options, report_name);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw;
  }
  fs::rename(temp, dir / "db.sqlite", ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw Error("cannot write " + (dir / "db.sqlite").string() + ": " + ec.message());
  }

  // TT-NN's config.json holds its CONFIG; the keys the visualizer's report loader reads, plus
  // what wormsim ran.
  const nlohmann::json config = {{"report_name", report_name},
                                 {"enable_fast_runtime_mode", false},
                                 {"enable_logging", true},
                                 {"enable_graph_report", false},
                                 {"enable_detailed_buffer_report", true},
                                 {"enable_detailed_tensor_report", false},
                                 {"enable_comparison_mode", info.numerics},
                                 {"comparison_mode_pcc", options.desired_pcc},
                                 {"report_path", fs::absolute(dir).string()},
                                 {"wormsim",
                                  {{"version", info.wormsim_version},
                                   {"model", info.model},
                                   {"graph", info.graph},
                                   {"device", profile.spec->name},
                                   {"batch", info.batch},
                                   {"strategy", info.strategy},
                                   {"seed", info.seed},
                                   {"config", info.config}}}};
  write_file_atomically(dir / "config.json", config.dump(2) + "\n");
}

}  // namespace wormsim::analysis
