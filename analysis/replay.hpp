#pragma once
// `wormsim replay`: reads a real tt-metal ops_perf_results CSV, rebuilds every device op of it as
// a wormsim op (op code + ATTRIBUTES + tensor shapes, dtypes, layouts and memory placements,
// math fidelity, core count), simulates each one in isolation on a fresh device and compares the
// simulated DEVICE KERNEL DURATION with the measured one.
//
// Header versions (as tt-perf-report names them, src/tt_perf_report/perf_report.py CsvFormat):
//   v1   tensor shape columns INPUT_<i>_W / _Z / _Y / _X hold plain numbers (padded = logical);
//   v2   they are INPUT_<i>_W_PAD[LOGICAL] ... holding "PAD[LOGICAL]" cells such as "32[19]";
//   v2.1 v2 plus DEVICE ARCH and AVAILABLE WORKER CORE COUNT (today's OPS_CSV_HEADER, the one
//        analysis/ops_perf_csv.hpp writes).
// Columns are found by name, so extra columns (perf counters) and missing optional ones are fine.
//
// What the CSV does not say is derived and reported in the row's note: a sharded tensor's shard
// spec (the MEMORY cell only says e.g. DEV_0_L1_BLOCK_SHARDED) comes from the op's memory config
// attribute when it describes the same tensor, else from the program config's grid, else from
// CORE COUNT; ops that TT-NN runs with a program wormsim models differently (MinimalMatmulOp,
// conv2d with its halo) say so. Rows that cannot be expressed are listed with the reason.
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/csv_table.hpp"
#include "arch/device_spec.hpp"
#include "ops/tensor_spec.hpp"

namespace wormsim::analysis {

enum class OpsPerfHeaderVersion { V1, V2, V2_1 };
std::string_view to_string(OpsPerfHeaderVersion version);  // "v1", "v2", "v2.1"
OpsPerfHeaderVersion detect_ops_perf_header(const std::vector<std::string>& header);

// ---- the ATTRIBUTES cell ----

// "{'program_config': 'Matmul...(...)'; 'scale': '0.125'}" -> {program_config: ..., scale: 0.125}.
// tt-metal writes the op's attribute dict with ',' replaced by ';'. Keys keep their spelling
// except a trailing '_' (2025 halo attributes: 'config_') which is dropped. Text that is not a
// dict gives an empty map.
std::map<std::string, std::string> parse_op_attributes(std::string_view cell);

// A printed C++ struct: "Name(a=1;b=(x=8;y=8);c=Enum::X)" -> {"Name", {a: "1", b: "(x=8;y=8)",
// c: "Enum::X"}}; fields separated by ';' or ',' outside brackets. Text without '(' is a bare
// name with no fields.
struct PrintedStruct {
  std::string name;
  std::map<std::string, std::string> fields;
};
PrintedStruct parse_printed_struct(std::string_view text);

// ---- the file ----

// Column indices of one INPUT_<i> / OUTPUT_<i> group.
struct OpsPerfTensorColumns {
  std::array<std::size_t, 4> wzyx{};
  std::size_t layout{0};
  std::size_t data_type{0};
  std::size_t memory{0};
};

struct OpsPerfFile {
  CsvTable table;
  OpsPerfHeaderVersion version{OpsPerfHeaderVersion::V2_1};
  std::vector<OpsPerfTensorColumns> input_columns;   // INPUT_0, INPUT_1, ... of the header
  std::vector<OpsPerfTensorColumns> output_columns;  // OUTPUT_0, ...
};
// Reads and checks the header. Throws wormsim::Error for a missing or non-text file and for a
// missing required column (OP CODE, OP TYPE, ATTRIBUTES, DEVICE KERNEL DURATION [ns] and the
// INPUT_0 tensor group), naming the column and the fix.
OpsPerfFile read_ops_perf_file(const std::filesystem::path& path);
OpsPerfFile parse_ops_perf_text(const std::string& text, const std::filesystem::path& origin);

// One tensor of a row.
struct ProfileTensor {
  ops::Shape logical{1};
  ops::Shape padded{1};
  ops::DataType data_type{ops::DataType::BFloat16};
  ops::Layout layout{ops::Layout::Tile};
  ops::MemoryColumn memory;
};

// One row, its cells read. Tensors are the non-empty INPUT_<i> / OUTPUT_<i> groups in order.
struct ProfileOp {
  std::size_t line{0};  // line of the row in the file (the header is line 1)
  std::string op_code;
  std::string op_type;
  std::string global_call_count;
  std::string device_arch;  // empty before v2.1
  std::string attributes;
  std::string math_fidelity;                // MATH FIDELITY cell ("" when the op has none)
  std::optional<std::uint32_t> core_count;  // CORE COUNT
  std::optional<double> kernel_ns;          // DEVICE KERNEL DURATION [ns]
  std::vector<ProfileTensor> inputs;
  std::vector<ProfileTensor> outputs;
};
// Reads row `index` of the file. Throws wormsim::Error naming the cell that cannot be read
// (a bad shape cell, an unknown dtype / layout / memory cell).
ProfileOp read_profile_op(const OpsPerfFile& file, std::size_t index);

// ---- mapping a row to a wormsim op ----

// A row wormsim cannot express; what() is the reason.
class UnmappableOp : public Error {
 public:
  using Error::Error;
};

struct MappedOp {
  std::string op;                       // wormsim op name (`wormsim op --list`)
  nlohmann::json params;                // its parameters
  std::vector<ops::TensorSpec> inputs;  // placed as recorded
  std::vector<std::string> notes;       // everything derived or approximated
};
// Throws UnmappableOp (or wormsim::Error from a spec that cannot be built) with the reason.
MappedOp map_profile_op(const ProfileOp& op, const arch::DeviceSpec& device);
// OP CODEs map_profile_op knows (sorted).
std::vector<std::string> replay_op_codes();

// ---- replaying a file ----

enum class ReplayStatus { Mapped, Unmapped, Skipped };
std::string_view to_string(ReplayStatus status);  // "mapped", "unmapped", "skipped"

struct ReplayRow {
  std::size_t line{0};
  std::string global_call_count;
  std::string op_code;
  std::string op_type;
  ReplayStatus status{ReplayStatus::Unmapped};
  std::string wormsim_op;
  std::optional<std::uint32_t> measured_cores;
  std::optional<std::uint32_t> simulated_cores;
  std::optional<double> measured_ns;
  std::optional<double> simulated_ns;
  std::optional<double> error_pct;  // (simulated - measured) / measured * 100
  std::string note;                 // mapping notes, or why the row was not mapped / skipped
};

struct ReplayOpSummary {
  std::string op_code;
  std::size_t count{0};     // mapped rows
  std::size_t unmapped{0};  // device rows of this op code that were not mapped
  double median_abs_pct{0};
  double p90_abs_pct{0};
  double max_abs_pct{0};
};

struct ReplaySummary {
  std::size_t rows{0};  // every data row of the file
  std::size_t mapped{0};
  std::size_t unmapped{0};
  std::size_t skipped{0};  // rows whose OP TYPE is not tt_dnn_device
  std::map<std::string, std::size_t> skipped_by_op_type;
  double median_abs_pct{0};  // over the mapped rows
  double p90_abs_pct{0};
  double max_abs_pct{0};
  std::vector<ReplayOpSummary> by_op;  // sorted by op code
};
ReplaySummary summarise_replay(const std::vector<ReplayRow>& rows);

struct ReplayResult {
  std::filesystem::path source;
  OpsPerfHeaderVersion header{OpsPerfHeaderVersion::V2_1};
  std::string device;  // spec name the ops ran on
  std::vector<ReplayRow> rows;
  ReplaySummary summary;
};
// Simulates every mappable device row of the file on `device`. Identical rows (same op, params
// and tensors) are simulated once.
ReplayResult replay_ops_perf(const OpsPerfFile& file, const arch::DeviceSpec& device);

// Per-row comparison CSV (header line, one line per data row of the source file).
std::string format_replay_csv(const ReplayResult& result);
// Writes it atomically; errors name the file.
void write_replay_csv(const std::filesystem::path& path, const ReplayResult& result);
// {"source", "header_version", "device", "rows", "mapped", "unmapped", "skipped",
//  "skipped_by_op_type", "median_abs_pct_err", "p90_abs_pct_err", "max_abs_pct_err",
//  "by_op": {op_code: {count, unmapped, median_abs_pct_err, p90_abs_pct_err, max_abs_pct_err}},
//  "unmapped_ops": [{line, op_code, reason}]}; error statistics of no mapped rows are null.
nlohmann::json replay_summary_json(const ReplayResult& result);
// Console report: the per-row table, the per-op-code summary and the unmapped rows.
void print_replay_report(std::ostream& out, const ReplayResult& result);

}  // namespace wormsim::analysis
