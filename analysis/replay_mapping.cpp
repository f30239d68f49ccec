// Mapping one ops_perf_results row (OP CODE + ATTRIBUTES + tensor cells) to a wormsim op.
//
// Attribute spellings follow what tt-metal writes into the ATTRIBUTES cell: the op's attribute
// dict printed by its reflection, ',' replaced by ';' (tools/tracy/process_ops_logs.py), e.g.
// 'compute_kernel_config': 'WormholeComputeKernelConfig(math_fidelity=HiFi4;...)' (older files:
// 'MathFidelity::HiFi4'), 'compute_with_storage_grid_size=(x=8;y=8)' (or '8-8'), halo keys
// with a trailing '_' (2025). Where two spellings exist both are read.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <regex>

#include "analysis/replay.hpp"
#include "ops/compute_config.hpp"
#include "ops/op_registry.hpp"
#include "ops/unary_functions.hpp"

namespace wormsim::analysis {
namespace {

using nlohmann::json;

std::string_view trim_view(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return text;
}

std::string trim(std::string_view text) { return std::string(trim_view(text)); }

bool is_open(char c) { return c == '(' || c == '[' || c == '{'; }
bool is_close(char c) { return c == ')' || c == ']' || c == '}'; }

bool is_nullopt(const std::string& value) {
  return value.empty() || value == "std::nullopt" || value == "None";
}

std::optional<bool> parse_flag(std::string_view text) {
  const std::string value = trim(text);
  if (value == "1" || value == "true" || value == "True") return true;
  if (value == "0" || value == "false" || value == "False") return false;
  return std::nullopt;
}

std::optional<std::int64_t> parse_integer(std::string_view text) {
  const std::string value = trim(text);
  if (value.empty()) return std::nullopt;
  std::size_t used = 0;
  try {
    const long long parsed = std::stoll(value, &used);
    if (used != value.size()) return std::nullopt;
    return parsed;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<double> parse_real(std::string_view text) {
  const std::string value = trim(text);
  if (value.empty()) return std::nullopt;
  std::size_t used = 0;
  try {
    const double parsed = std::stod(value, &used);
    if (used != value.size() || !std::isfinite(parsed)) return std::nullopt;
    return parsed;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Every unsigned integer in the text, in order: "Shape([19; 20; 64])" -> 19, 20, 64.
std::vector<std::int64_t> integers_in(std::string_view text) {
  std::vector<std::int64_t> out;
  const std::string s(text);
  static const std::regex number(R"(\d+)");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), number); it != std::sregex_iterator();
       ++it) {
    out.push_back(std::stoll(it->str()));
  }
  return out;
}

// The name after the last "::" (or '.'): "TransposeOpDim::WH" -> "WH".
std::string enum_name(std::string_view text) {
  std::string value = trim(text);
  if (auto pos = value.rfind(':'); pos != std::string::npos) value = value.substr(pos + 1);
  if (auto pos = value.rfind('.'); pos != std::string::npos) value = value.substr(pos + 1);
  return value;
}

// "(x=8;y=8)", "CoreCoord(x=8,y=8)", "8-8" or "(8; 8)" -> {8, 8}.
std::optional<std::pair<std::uint32_t, std::uint32_t>> parse_grid(std::string_view text) {
  const std::string s(text);
  std::smatch match;
  static const std::regex named(R"(x\s*=\s*(\d+)\D+y\s*=\s*(\d+))");
  static const std::regex dashed(R"(^\s*(\d+)\s*-\s*(\d+)\s*$)");
  static const std::regex pair(R"(^\s*\(?\s*(\d+)\s*[;,]\s*(\d+)\s*\)?\s*$)");
  if (std::regex_search(s, match, named) || std::regex_match(s, match, dashed) ||
      std::regex_match(s, match, pair)) {
    return std::make_pair(static_cast<std::uint32_t>(std::stoul(match[1])),
                          static_cast<std::uint32_t>(std::stoul(match[2])));
  }
  return std::nullopt;
}

// Unary op types of a printed op chain / activation list, in order:
// "{UnaryWithParam(op_type=UnaryOpType::GELU;param={1})}" -> {"GELU"}.
std::vector<std::string> unary_op_types(std::string_view text) {
  std::vector<std::string> out;
  const std::string s(text);
  static const std::regex type(R"(UnaryOpType::([A-Z0-9_]+))");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), type); it != std::sregex_iterator();
       ++it) {
    out.push_back((*it)[1].str());
  }
  return out;
}

// tt-metal UnaryOpType -> wormsim unary function, or "" when wormsim has none.
std::string wormsim_unary(const std::string& op_type) {
  std::string name = op_type;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (name == "recip") name = "reciprocal";
  return ops::is_known_unary(name) ? name : std::string();
}

std::string fidelity_name(std::string_view text) {
  return std::string(ops::to_string(ops::parse_math_fidelity(trim(text))));
}

// ---------------------------------------------------------------------------------------------

// Where an input's shard grid comes from when the CSV does not say: the op's program config.
struct GridHint {
  std::uint32_t x{0};
  std::uint32_t y{0};
  std::string source;
  bool known() const { return x > 0 && y > 0; }
};

// Block-sharding grid for `cores` cores: the factorisation that fits the worker grid and splits
// the tensor's tiles evenly, as square as possible; fewer cores when `cores` has no such
// factorisation.
std::pair<std::uint32_t, std::uint32_t> block_grid_for(std::uint32_t cores,
                                                       const ops::TensorSpec& spec,
                                                       const arch::DeviceSpec& device) {
  const std::uint64_t ht = std::max<std::uint64_t>(1, spec.height_tiles());
  const std::uint64_t wt = std::max<std::uint64_t>(1, spec.width_tiles());
  std::pair<std::uint32_t, std::uint32_t> best{1, 1};
  auto score = [&](std::uint32_t gx, std::uint32_t gy) {
    const bool even = ht % gy == 0 && wt % gx == 0;
    const std::uint32_t skew = gx > gy ? gx - gy : gy - gx;
    return std::make_tuple(gx * gy, even ? 1 : 0, -static_cast<int>(skew), gx);
  };
  for (std::uint32_t gx = 1; gx <= device.worker_grid_x(); ++gx) {
    for (std::uint32_t gy = 1; gy <= device.worker_grid_y(); ++gy) {
      if (gx * gy > cores) continue;
      if (score(gx, gy) > score(best.first, best.second)) best = {gx, gy};
    }
  }
  return best;
}

std::string grid_text(const ops::MemoryConfig& config) {
  if (!config.shard_spec()) return "";
  const ops::ShardSpec& s = *config.shard_spec();
  const ops::CoreRange box = s.grid.bounding_box();
  return std::to_string(s.num_cores()) + " cores (" + std::to_string(box.width()) + "x" +
         std::to_string(box.height()) + "), shard " + std::to_string(s.height()) + "x" +
         std::to_string(s.width());
}

class RowMapper {
 public:
  RowMapper(const ProfileOp& op, const arch::DeviceSpec& device)
      : op_(op), device_(device), attrs_(parse_op_attributes(op.attributes)) {
    for (const char* key : {"memory_config", "output_mem_config", "output_memory_config"}) {
      const auto value = attr(key);
      // Only printed MemoryConfig(...) values describe a placement (wormsim's own CSVs say
      // 'default' when the op kept its default one).
      if (!value || value->find("MemoryConfig") == std::string::npos) continue;
      try {
        attribute_output_memory_ = ops::parse_memory_config_string(*value);
      } catch (const Error& e) {
        // TT-NN's preset sharded configs (ttnn.L1_BLOCK_SHARDED_MEMORY_CONFIG) carry no shard
        // spec: the op computes it, and the output's is then derived below.
        const bool no_spec = value->find("shard_spec=std::nullopt") != std::string::npos;
        note(std::string("the ") + key + " attribute " +
             (no_spec ? std::string("has no shard spec")
                      : "cannot be read (" + std::string(e.what()) + ")"));
      }
      break;
    }
  }

  const ProfileOp& op() const { return op_; }
  const arch::DeviceSpec& device() const { return device_; }
  std::vector<std::string>& notes() { return notes_; }
  void note(std::string text) { notes_.push_back(std::move(text)); }

  std::optional<std::string> attr(const std::string& key) const {
    auto it = attrs_.find(key);
    if (it == attrs_.end()) return std::nullopt;
    return it->second;
  }
  // The attribute, or nullopt when absent or std::nullopt.
  std::optional<std::string> attr_value(const std::string& key) const {
    auto value = attr(key);
    if (!value || is_nullopt(*value)) return std::nullopt;
    return value;
  }
  std::optional<PrintedStruct> attr_struct(const std::string& key) const {
    auto value = attr_value(key);
    if (!value) return std::nullopt;
    return parse_printed_struct(*value);
  }

  std::size_t input_count() const { return op_.inputs.size(); }
  const ProfileTensor& input_cells(std::size_t index) const {
    if (index >= op_.inputs.size()) {
      throw UnmappableOp(op_.op_code + " needs input " + std::to_string(index) +
                         " but the row has " + std::to_string(op_.inputs.size()) +
                         " input tensor(s)");
    }
    return op_.inputs[index];
  }
  void require_inputs(std::size_t min_count) const {
    if (op_.inputs.size() < min_count) input_cells(min_count - 1);
  }

  std::uint32_t cores() {
    if (op_.core_count && *op_.core_count > 0)
      return std::min(*op_.core_count, device_.worker_count());
    if (!core_count_noted_) {
      note("CORE COUNT is empty: the full worker grid is assumed");
      core_count_noted_ = true;
    }
    return device_.worker_count();
  }

  // A tensor as recorded, still DRAM interleaved.
  static ops::TensorSpec plain(const ProfileTensor& t) {
    return ops::TensorSpec(t.logical, t.padded, t.data_type, t.layout,
                           ops::MemoryConfig::dram_interleaved());
  }

  // Memory config of a recorded tensor `t` (shape `spec`) named `what` in notes.
  ops::MemoryConfig place(const ProfileTensor& t, const ops::TensorSpec& spec,
                          const std::string& what, const GridHint& hint = {}) {
    const ops::MemoryColumn& m = t.memory;
    if (!ops::is_sharded(m.layout)) return ops::MemoryConfig(m.layout, m.buffer_type);
    const std::string column =
        std::string(m.buffer_type == ops::BufferType::DRAM ? "DRAM " : "L1 ") +
        std::string(ops::to_string(m.layout));
    if (attribute_output_memory_ && attribute_output_memory_->shard_spec() &&
        attribute_output_memory_->layout() == m.layout &&
        attribute_output_memory_->buffer_type() == m.buffer_type && !op_.outputs.empty() &&
        op_.outputs[0].padded == spec.padded_shape()) {
      if (what != "output")
        note(what + " " + column + ": shard spec taken from the op's output memory config");
      return *attribute_output_memory_;
    }
    if (m.buffer_type == ops::BufferType::DRAM) {
      if (m.layout != ops::TensorMemoryLayout::WidthSharded) {
        throw UnmappableOp(what + " is DRAM " + std::string(ops::to_string(m.layout)) +
                           "; wormsim models DRAM sharding as WIDTH_SHARDED over the banks only");
      }
      note(what + " DRAM WIDTH_SHARDED: shard spec not in the CSV, assumed over every DRAM bank");
      return ops::dram_width_sharded(spec, device_);
    }
    ops::MemoryConfig config;
    std::string source;
    if (m.layout == ops::TensorMemoryLayout::BlockSharded) {
      std::pair<std::uint32_t, std::uint32_t> grid{hint.x, hint.y};
      source = hint.source;
      if (!hint.known()) {
        grid = block_grid_for(cores(), spec, device_);
        source = "CORE COUNT " + std::to_string(cores());
      }
      config = ops::block_sharded(spec, grid.first, grid.second);
    } else {
      std::uint32_t count = hint.known() ? hint.x * hint.y : cores();
      source = hint.known() ? hint.source : "CORE COUNT " + std::to_string(count);
      count = std::min(count, device_.worker_count());
      config = m.layout == ops::TensorMemoryLayout::HeightSharded
                   ? ops::height_sharded(spec, count, device_)
                   : ops::width_sharded(spec, count, device_);
    }
    note(what + " " + column + ": shard spec not in the CSV, derived from " + source + ": " +
         grid_text(config));
    return config;
  }

  ops::TensorSpec input(std::size_t index, const std::string& what, const GridHint& hint = {}) {
    const ProfileTensor& t = input_cells(index);
    const ops::TensorSpec spec = plain(t);
    return spec.with_memory_config(place(t, spec, what, hint));
  }

  // The output's memory config as a params string: the op's memory config attribute when it is
  // complete, else the OUTPUT_0 cell (shard spec derived); nullopt when neither exists.
  std::optional<std::string> output_memory(const GridHint& hint = {}) {
    if (attribute_output_memory_) return ops::to_string(*attribute_output_memory_);
    if (op_.outputs.empty()) return std::nullopt;
    const ProfileTensor& t = op_.outputs[0];
    return ops::to_string(place(t, plain(t), "output", hint));
  }
  void set_output_memory(json& params, const GridHint& hint = {}) {
    if (auto memory = output_memory(hint)) params["output_memory"] = *memory;
  }
  std::optional<ops::MemoryColumn> output_column() const {
    if (op_.outputs.empty()) return std::nullopt;
    return op_.outputs[0].memory;
  }

  void set_output_dtype(json& params, const std::string& key = "output_dtype") const {
    if (!op_.outputs.empty()) params[key] = std::string(ops::to_string(op_.outputs[0].data_type));
  }

  // compute_kernel_config (or the MATH FIDELITY column) -> params.
  void set_compute(json& params) const {
    if (auto config = attr_struct("compute_kernel_config")) {
      if (auto it = config->fields.find("math_fidelity"); it != config->fields.end()) {
        params["math_fidelity"] = fidelity_name(it->second);
      }
      for (const char* flag :
           {"math_approx_mode", "fp32_dest_acc_en", "packer_l1_acc", "dst_full_sync_en"}) {
        if (auto it = config->fields.find(flag); it != config->fields.end()) {
          if (auto value = parse_flag(it->second)) params[flag] = *value;
        }
      }
      if (params.contains("math_fidelity")) return;
    }
    if (auto fidelity = attr_value("math_fidelity")) {
      params["math_fidelity"] = fidelity_name(*fidelity);
    } else if (!trim(op_.math_fidelity).empty()) {
      params["math_fidelity"] = fidelity_name(op_.math_fidelity);
    }
  }

 private:
  const ProfileOp& op_;
  const arch::DeviceSpec& device_;
  std::map<std::string, std::string> attrs_;
  std::optional<ops::MemoryConfig> attribute_output_memory_;
  std::vector<std::string> notes_;
  bool core_count_noted_{false};
};

MappedOp mapped(RowMapper& m, std::string op, json params, std::vector<ops::TensorSpec> inputs) {
  return MappedOp{std::move(op), std::move(params), std::move(inputs), std::move(m.notes())};
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// A fused activation list ("SmallVector([UnaryWithParam(op_type=UnaryOpType::RELU)])" or a
// single UnaryWithParam) -> params["activation"]; several or unknown ones are unmappable.
void set_activation(json& params, const std::string& text, const std::string& what) {
  const std::vector<std::string> types = unary_op_types(text);
  if (types.empty()) return;
  if (types.size() > 1) {
    throw UnmappableOp(what + " fuses " + std::to_string(types.size()) + " activations (" +
                       join_names(types) + "); wormsim fuses one");
  }
  const std::string name = wormsim_unary(types[0]);
  if (name.empty())
    throw UnmappableOp(what + " fuses UnaryOpType::" + types[0] + ", which wormsim does not model");
  params["activation"] = name;
}

// ---- matmul ----

std::uint32_t div_up(std::uint64_t a, std::uint64_t b) {
  return static_cast<std::uint32_t>((a + b - 1) / b);
}

MappedOp map_matmul(RowMapper& m) {
  m.require_inputs(2);
  json params = json::object();
  m.set_compute(params);
  m.set_output_dtype(params);
  GridHint hint;
  if (auto config = m.attr_struct("program_config")) {
    json pc = json::object();
    const std::string& kind = config->name;
    static const std::vector<std::string> kinds = {
        "MatmulMultiCoreReuseMultiCastProgramConfig",
        "MatmulMultiCoreReuseMultiCast1DProgramConfig", "MatmulMultiCoreReuseProgramConfig",
        "MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig"};
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
      throw UnmappableOp("program config " + kind +
                         " is not one of TT-NN's four matmul program configs wormsim models");
    }
    pc["kind"] = kind;
    const auto& f = config->fields;
    if (auto it = f.find("compute_with_storage_grid_size"); it != f.end()) {
      const auto grid = parse_grid(it->second);
      if (!grid)
        throw UnmappableOp("cannot read compute_with_storage_grid_size '" + it->second + "'");
      pc["grid"] = {grid->first, grid->second};
      hint = GridHint{grid->first, grid->second, "the program config grid"};
    }
    for (const char* key : {"in0_block_w", "out_subblock_h", "out_subblock_w", "per_core_M",
                            "per_core_N", "out_block_h", "out_block_w"}) {
      if (auto it = f.find(key); it != f.end()) {
        if (auto value = parse_integer(it->second)) pc[key] = *value;
      }
    }
    for (const char* key : {"transpose_mcast", "mcast_in0", "fuse_batch"}) {
      if (auto it = f.find(key); it != f.end()) {
        if (auto value = parse_flag(it->second)) pc[key] = *value;
      }
    }
    if (auto it = f.find("fused_activation"); it != f.end())
      set_activation(params, it->second, "program config");
    if (!pc.contains("grid")) {
      // The DRAM-sharded config has no grid: its cores are in0's width shards.
      const std::uint32_t cores = m.cores();
      const std::uint32_t gx = std::min(cores, m.device().worker_grid_x());
      pc["grid"] = {gx, div_up(cores, gx)};
      hint = GridHint{gx, div_up(cores, gx), "CORE COUNT " + std::to_string(cores)};
    }
    params["program_config"] = pc;
    // The 2D config block-shards in0 over its grid as [M rows x K columns] (swapped by
    // transpose_mcast).
    if (kind == kinds[0] && pc.value("transpose_mcast", false)) std::swap(hint.x, hint.y);
  } else {
    m.note("program_config not recorded: wormsim chooses one as TT-NN's automatic config does");
  }
  if (auto activation = m.attr_value("user_fused_activation");
      activation && !params.contains("activation")) {
    set_activation(params, *activation, "user_fused_activation");
  }
  std::vector<ops::TensorSpec> inputs = {m.input(0, "in0", hint), m.input(1, "in1", hint)};
  if (m.input_count() >= 3) inputs.push_back(m.input(2, "bias"));
  m.set_output_memory(params, hint);
  return mapped(m, "matmul", params, inputs);
}

// TT-NN's experimental minimal_matmul: one 2D-multicast style program with M/K/N blocking. wormsim
// runs it as the 2D multicast matmul with the same grid, K block, subblocks and output blocking.
MappedOp map_minimal_matmul(RowMapper& m) {
  m.require_inputs(2);
  json params = json::object();
  m.set_compute(params);
  m.set_output_dtype(params);
  std::vector<ops::TensorSpec> inputs = {m.input(0, "in0"), m.input(1, "in1")};
  if (m.input_count() >= 3) inputs.push_back(m.input(2, "bias"));
  if (auto config = m.attr_struct("config")) {
    const auto& f = config->fields;
    auto field = [&](const char* key) -> std::optional<std::int64_t> {
      auto it = f.find(key);
      return it == f.end() ? std::nullopt : parse_integer(it->second);
    };
    auto grid_it = f.find("compute_with_storage_grid_size");
    const auto grid = grid_it == f.end() ? std::nullopt : parse_grid(grid_it->second);
    const auto m_block = field("M_block_size"), k_block = field("K_block_size"),
               n_block = field("N_block_size");
    if (grid && m_block && k_block && n_block && *m_block > 0 && *n_block > 0) {
      // Rows of output tiles over the grid's rows, columns over its columns; each core's output
      // in blocks of at most M_block x N_block tiles (the largest that divide its share).
      const std::uint32_t per_core_m = div_up(inputs[0].height_tiles(), grid->second);
      const std::uint32_t per_core_n = div_up(inputs[1].width_tiles(), grid->first);
      auto block = [](std::uint32_t share, std::int64_t limit) {
        std::uint32_t b = static_cast<std::uint32_t>(std::min<std::int64_t>(share, limit));
        while (share % b != 0) --b;
        return b;
      };
      const std::uint32_t block_h = block(per_core_m, *m_block);
      const std::uint32_t block_w = block(per_core_n, *n_block);
      auto subblock = [](std::uint32_t out_block, std::int64_t requested) {
        std::uint32_t b =
            static_cast<std::uint32_t>(std::clamp<std::int64_t>(requested, 1, out_block));
        while (out_block % b != 0) --b;
        return b;
      };
      json pc = {{"kind", "2d"},
                 {"grid", {grid->first, grid->second}},
                 {"in0_block_w", *k_block},
                 {"per_core_M", per_core_m},
                 {"per_core_N", per_core_n},
                 {"out_block_h", block_h},
                 {"out_block_w", block_w},
                 {"out_subblock_h", subblock(block_h, field("subblock_h").value_or(1))},
                 {"out_subblock_w", subblock(block_w, field("subblock_w").value_or(1))}};
      params["program_config"] = pc;
      m.note(
          "MinimalMatmulOp simulated as TT-NN's 2D multicast matmul with its grid, K block, "
          "subblocks and "
          "M/N blocking");
    }
  }
  if (!params.contains("program_config")) {
    m.note(
        "MinimalMatmulOp without a readable config: simulated as TT-NN's matmul with an automatic "
        "config");
  }
  if (auto activation = m.attr_value("fused_activation"))
    set_activation(params, *activation, "fused_activation");
  m.set_output_memory(params);
  return mapped(m, "matmul", params, inputs);
}

// ---- eltwise ----

MappedOp map_binary(RowMapper& m) {
  m.require_inputs(1);
  const auto type = m.attr_value("binary_op_type");
  if (!type) throw UnmappableOp("binary_op_type is missing from ATTRIBUTES");
  const std::string name = enum_name(*type);
  std::string op;
  if (name == "ADD") op = "add";
  if (name == "SUB") op = "sub";
  if (name == "MUL") op = "mul";
  if (op.empty())
    throw UnmappableOp("BinaryOpType::" + name +
                       " has no wormsim op (wormsim models ADD, SUB, MUL)");
  json params = json::object();
  m.set_compute(params);
  m.set_output_dtype(params);
  if (auto post = m.attr_value("post_activations"))
    set_activation(params, *post, "post_activations");
  for (const char* key : {"lhs_activations", "rhs_activations"}) {
    if (auto pre = m.attr_value(key); pre && !unary_op_types(*pre).empty()) {
      throw UnmappableOp(std::string(key) + " (" + join_names(unary_op_types(*pre)) +
                         ") are not modelled; wormsim fuses an activation on the output only");
    }
  }
  std::vector<ops::TensorSpec> inputs = {m.input(0, "a")};
  if (m.input_count() >= 2) {
    inputs.push_back(m.input(1, "b"));
  } else {
    if (!m.attr_value("scalar"))
      throw UnmappableOp("binary op with one input tensor and no scalar attribute");
    // binary_ng fills the scalar into a tile on the device; a one-value broadcast operand
    // stands in for it.
    inputs.push_back(
        ops::TensorSpec(ops::Shape({1, 1, 1, 1}), inputs[0].data_type(), ops::Layout::Tile)
            .with_memory_config(ops::MemoryConfig::l1_interleaved()));
    m.note("scalar operand simulated as a [1, 1, 1, 1] broadcast tile in L1");
  }
  m.set_output_memory(params);
  return mapped(m, op, params, inputs);
}

MappedOp map_unary(RowMapper& m) {
  m.require_inputs(1);
  const auto chain = m.attr_value("op_chain");
  if (!chain) throw UnmappableOp("op_chain is missing from ATTRIBUTES");
  const std::vector<std::string> types = unary_op_types(*chain);
  if (types.empty()) throw UnmappableOp("op_chain '" + *chain + "' names no UnaryOpType");
  if (types.size() > 1) {
    throw UnmappableOp("op chain of " + std::to_string(types.size()) + " functions (" +
                       join_names(types) + "); wormsim's unary op runs one");
  }
  const std::string name = wormsim_unary(types[0]);
  if (name.empty()) throw UnmappableOp("UnaryOpType::" + types[0] + " is not modelled by wormsim");
  json params = json::object();
  m.set_compute(params);
  if (auto fp32 = m.attr_value("fp32_dest_acc_en")) {
    if (auto value = parse_flag(*fp32)) params["fp32_dest_acc_en"] = *value;
  }
  m.set_output_dtype(params);
  m.set_output_memory(params);
  return mapped(m, name, params, {m.input(0, "input")});
}

MappedOp map_typecast(RowMapper& m) {
  m.require_inputs(1);
  json params = json::object();
  m.set_output_dtype(params);
  if (!params.contains("output_dtype"))
    throw UnmappableOp("typecast without an OUTPUT_0 DATATYPE cell");
  m.set_output_memory(params);
  return mapped(m, "typecast", params, {m.input(0, "input")});
}

// ---- normalization ----

MappedOp map_layernorm(RowMapper& m) {
  m.require_inputs(1);
  const auto norm = m.attr_value("norm_type");
  const std::string norm_name = norm ? enum_name(*norm) : "LAYERNORM";
  std::string op;
  if (norm_name == "LAYERNORM") op = "layernorm";
  if (norm_name == "RMSNORM") op = "rmsnorm";
  if (op.empty())
    throw UnmappableOp("LayerNormType::" + norm_name + " is not modelled (LAYERNORM, RMSNORM)");
  if (auto stage = m.attr_value("distributed_norm_stage");
      stage && enum_name(*stage) != "NOT_DISTRIBUTED") {
    throw UnmappableOp("distributed norm stage " + enum_name(*stage) + " is not modelled");
  }
  json params = json::object();
  m.set_compute(params);
  if (auto eps = m.attr_value("eps")) {
    if (auto value = parse_real(*eps)) params["epsilon"] = *value;
  }
  m.set_output_dtype(params);
  std::vector<ops::TensorSpec> inputs = {m.input(0, "input")};
  // A copy: inputs grows below, which would leave a reference dangling.
  const ops::Shape x = inputs[0].logical_shape();
  const std::uint32_t hidden = x.x();
  for (std::size_t i = 1; i < m.input_count(); ++i) {
    const ProfileTensor& t = m.input_cells(i);
    if (t.logical == x) {
      throw UnmappableOp("input " + std::to_string(i) +
                         " has the input's shape: a fused residual add, which wormsim's " + op +
                         " does not model");
    }
    // gamma / beta: one value per column. TT-NN stores them TILE [1, 1, 1(32), W] or ROW_MAJOR
    // [1, 1, W/32, 32]; a v1 CSV prints the tile-padded 32 rows.
    const bool row = t.logical.volume() == hidden;
    const bool tile_padded_row =
        t.layout == ops::Layout::Tile && t.logical.x() == hidden &&
        t.logical.volume() == static_cast<std::uint64_t>(hidden) * ops::kTileHeight;
    if (!row && !tile_padded_row) {
      throw UnmappableOp("input " + std::to_string(i) + " " + ops::to_string(t.logical) +
                         " is neither gamma/beta of width " + std::to_string(hidden) +
                         " nor the input");
    }
    // wormsim's norms read gamma / beta as TILE rows.
    const ops::TensorSpec weight(
        ops::Shape({1, 1, 1, hidden}), t.data_type, ops::Layout::Tile,
        ops::MemoryConfig(ops::TensorMemoryLayout::Interleaved, t.memory.buffer_type));
    if (t.logical != weight.logical_shape() || t.layout != ops::Layout::Tile) {
      m.note("input " + std::to_string(i) + " " + ops::to_string(t.logical) + " " +
             std::string(ops::to_string(t.layout)) + " read as gamma/beta TILE [1, 1, 1, " +
             std::to_string(hidden) + "]");
    }
    inputs.push_back(weight);
  }
  m.set_output_memory(params);
  return mapped(m, op, params, inputs);
}

MappedOp map_softmax(RowMapper& m) {
  m.require_inputs(1);
  json params = json::object();
  m.set_compute(params);
  if (auto scale = m.attr_value("scale")) {
    if (auto value = parse_real(*scale)) params["scale"] = *value;
  }
  for (const char* key : {"numeric_stable", "inplace"}) {
    if (auto text = m.attr_value(key)) {
      if (auto value = parse_flag(*text)) params[key] = *value;
    }
  }
  if (auto dim = m.attr_value("dim")) {
    const auto value = parse_integer(*dim);
    const auto rank = static_cast<std::int64_t>(m.input_cells(0).logical.rank());
    if (value && *value != -1 && *value != rank - 1) {
      throw UnmappableOp("softmax over dim " + *dim + "; wormsim's softmax runs over the last dim");
    }
  }
  m.set_output_dtype(params);
  std::vector<ops::TensorSpec> inputs = {m.input(0, "input")};
  if (m.input_count() >= 2) inputs.push_back(m.input(1, "mask"));
  m.set_output_memory(params);
  return mapped(m, "softmax", params, inputs);
}

// ---- data movement ----

MappedOp map_transpose(RowMapper& m) {
  m.require_inputs(1);
  const auto dim = m.attr_value("dim");
  if (!dim) throw UnmappableOp("dim is missing from ATTRIBUTES");
  static const std::map<std::string, std::pair<int, int>> dims = {{"WH", {-2, -1}}, {"HC", {1, 2}},
                                                                  {"CN", {0, 1}},   {"NH", {0, 2}},
                                                                  {"NW", {0, 3}},   {"CW", {1, 3}}};
  const auto it = dims.find(enum_name(*dim));
  if (it == dims.end()) throw UnmappableOp("TransposeOpDim::" + enum_name(*dim) + " is not known");
  json params = {{"dim0", it->second.first}, {"dim1", it->second.second}};
  m.set_output_memory(params);
  return mapped(m, "transpose", params, {m.input(0, "input")});
}

MappedOp map_reshape(RowMapper& m) {
  m.require_inputs(1);
  std::vector<std::int64_t> shape;
  if (!m.op().outputs.empty()) {
    for (std::uint32_t d : m.op().outputs[0].logical.dims()) shape.push_back(d);
  } else {
    for (const char* key : {"logical_output_shape", "logical_shape", "output_shape"}) {
      if (auto value = m.attr_value(key)) {
        shape = integers_in(*value);
        break;
      }
    }
  }
  if (shape.empty())
    throw UnmappableOp(
        "neither an OUTPUT_0 shape nor an output shape attribute gives the new shape");
  json params = {{"shape", shape}};
  m.set_output_memory(params);
  return mapped(m, "reshape", params, {m.input(0, "input")});
}

MappedOp map_tilize(RowMapper& m, bool with_padding) {
  m.require_inputs(1);
  json params = json::object();
  m.set_output_dtype(params);
  if (with_padding) {
    if (!m.op().outputs.empty()) {
      std::vector<std::int64_t> padded;
      for (std::uint32_t d : m.op().outputs[0].padded.dims()) padded.push_back(d);
      params["output_padded_shape"] = padded;
    }
    if (auto pad = m.attr_value("pad_value")) {
      if (auto value = parse_real(*pad)) params["pad_value"] = *value;
    }
  }
  m.set_output_memory(params);
  return mapped(m, with_padding ? "tilize_with_val_padding" : "tilize", params,
                {m.input(0, "input")});
}

MappedOp map_untilize(RowMapper& m, bool with_unpadding) {
  m.require_inputs(1);
  json params = json::object();
  if (with_unpadding && !m.op().outputs.empty()) {
    std::vector<std::int64_t> end;
    for (std::uint32_t d : m.op().outputs[0].logical.dims())
      end.push_back(static_cast<std::int64_t>(d) - 1);
    params["output_tensor_end"] = end;
  }
  m.set_output_memory(params);
  return mapped(m, with_unpadding ? "untilize_with_unpadding" : "untilize", params,
                {m.input(0, "input")});
}

MappedOp map_memory_move(RowMapper& m, const std::string& op) {
  m.require_inputs(1);
  json params = json::object();
  m.set_output_memory(params);
  if (!params.contains("output_memory")) {
    throw UnmappableOp(
        "neither an output memory config attribute nor an OUTPUT_0 MEMORY cell gives the "
        "destination");
  }
  if (!m.op().outputs.empty() && m.op().outputs[0].data_type != m.op().inputs[0].data_type) {
    m.note("output dtype " + std::string(ops::to_string(m.op().outputs[0].data_type)) +
           " differs from the input's; wormsim moves the input's format");
  }
  return mapped(m, op, params, {m.input(0, "input")});
}

MappedOp map_concat(RowMapper& m) {
  m.require_inputs(1);
  if (m.op().outputs.empty())
    throw UnmappableOp("concat without an OUTPUT_0 shape: the dim cannot be found");
  const ops::Shape& out = m.op().outputs[0].logical;
  std::optional<std::int64_t> dim;
  if (auto text = m.attr_value("dim")) dim = parse_integer(*text);
  if (!dim) {
    const ops::Shape& in = m.input_cells(0).logical;
    if (in.rank() != out.rank()) throw UnmappableOp("concat input and output ranks differ");
    for (std::size_t d = 0; d < out.rank(); ++d) {
      if (in[d] != out[d]) dim = static_cast<std::int64_t>(d);
    }
    if (!dim) dim = 0;
  }
  json params = {{"dim", *dim}};
  std::vector<ops::TensorSpec> inputs;
  for (std::size_t i = 0; i < m.input_count(); ++i)
    inputs.push_back(m.input(i, "input " + std::to_string(i)));
  m.set_output_memory(params);
  return mapped(m, "concat", params, inputs);
}

MappedOp map_slice(RowMapper& m) {
  m.require_inputs(1);
  const auto start = m.attr_value("slice_start");
  const auto end = m.attr_value("slice_end");
  if (!start || !end) throw UnmappableOp("slice_start / slice_end are missing from ATTRIBUTES");
  json params = {{"begins", integers_in(*start)}, {"ends", integers_in(*end)}};
  if (auto step = m.attr_value("step")) params["steps"] = integers_in(*step);
  m.set_output_memory(params);
  return mapped(m, "slice", params, {m.input(0, "input")});
}

// conv2d's DRAM slicing. wormsim's padded_slice takes the NHWC rows [1, 1, N*H*W, C]; the image
// size comes from the input when it is tt-metal's [N, H, W, C], else from wormsim's input_nhw
// attribute. Only slices of whole image rows map (begin and end along H; all of W, and all of C
// assumed). tt-metal's attributes are padded_slice_start / padded_slice_end.
MappedOp map_padded_slice(RowMapper& m) {
  m.require_inputs(1);
  const auto start = m.attr_value("padded_slice_start");
  const auto end = m.attr_value("padded_slice_end");
  if (!start || !end)
    throw UnmappableOp("padded_slice_start / padded_slice_end are missing from ATTRIBUTES");
  const std::vector<std::int64_t> begins = integers_in(*start);
  const std::vector<std::int64_t> ends = integers_in(*end);
  if (begins.size() != 4 || ends.size() != 4)
    throw UnmappableOp("padded_slice needs a 4-D slice of an [N, H, W, C] input");
  const ProfileTensor& in = m.input_cells(0);
  const std::uint64_t in_rows =
      static_cast<std::uint64_t>(in.logical[0]) * in.logical[1] * in.logical[2];
  std::vector<std::int64_t> nhw;
  if (in.logical.rank() == 4 && (in.logical[0] > 1 || in.logical[1] > 1)) {
    nhw = {in.logical[0], in.logical[1], in.logical[2]};
  } else if (auto given = m.attr_value("input_nhw")) {
    nhw = integers_in(*given);
  }
  if (nhw.size() != 3) {
    throw UnmappableOp("padded_slice of a flat " + ops::to_string(in.logical) +
                       " input without input_nhw: the image size is unknown");
  }
  if (static_cast<std::uint64_t>(nhw[0] * nhw[1] * nhw[2]) != in_rows) {
    throw UnmappableOp("padded_slice input " + ops::to_string(in.logical) + " does not hold the " +
                       std::to_string(nhw[0]) + " x " + std::to_string(nhw[1]) + " x " +
                       std::to_string(nhw[2]) + " images its attributes give");
  }
  // Channels are not checked: conv slicing keeps all of them (tt-metal prints the end as -1).
  const bool whole_rows =
      begins[0] == 0 && begins[2] == 0 && ends[0] == nhw[0] && ends[2] == nhw[2];
  if (!whole_rows) {
    throw UnmappableOp("padded_slice of " + *start + " .. " + *end +
                       ": wormsim's padded_slice cuts whole image rows of every image only");
  }
  json params = {{"batch_size", nhw[0]},
                 {"input_height", nhw[1]},
                 {"input_width", nhw[2]},
                 {"rows", {begins[1], ends[1]}}};
  m.set_output_memory(params);
  ops::TensorSpec input = m.input(0, "input");
  const ops::Shape flat(
      {1, 1, static_cast<std::uint32_t>(in_rows), in.logical[in.logical.rank() - 1]});
  if (input.logical_shape() != flat) {
    m.note("input " + ops::to_string(input.logical_shape()) + " taken as its NHWC rows " +
           ops::to_string(flat));
    input = ops::TensorSpec(flat, input.data_type(), input.layout(), input.memory_config());
  }
  return mapped(m, "padded_slice", params, {input});
}

// wormsim's own slice_write rows (every band an input). tt-metal writes one band per row into a
// preallocated output, which has no wormsim counterpart.
MappedOp map_slice_write(RowMapper& m) {
  const auto heights = m.attr_value("band_heights");
  if (!heights) {
    throw UnmappableOp(
        "a slice_write of one band into a preallocated tensor (tt-metal's) is not modelled; "
        "wormsim's slice_write writes all of a conv's bands at once");
  }
  const auto batch = m.attr_value("batch_size");
  const auto width = m.attr_value("input_width");
  const std::vector<std::int64_t> batch_values =
      batch ? integers_in(*batch) : std::vector<std::int64_t>{};
  const std::vector<std::int64_t> width_values =
      width ? integers_in(*width) : std::vector<std::int64_t>{};
  if (batch_values.size() != 1 || width_values.size() != 1) {
    throw UnmappableOp(
        "a slice_write row without batch_size and input_width (written before "
        "wormsim recorded them): the image size is unknown");
  }
  json params = {{"batch_size", batch_values[0]},
                 {"input_width", width_values[0]},
                 {"band_heights", integers_in(*heights)}};
  m.set_output_memory(params);
  std::vector<ops::TensorSpec> inputs;
  for (std::size_t i = 0; i < m.input_count(); ++i)
    inputs.push_back(m.input(i, "band " + std::to_string(i)));
  return mapped(m, "slice_write", params, inputs);
}

MappedOp map_permute(RowMapper& m) {
  m.require_inputs(1);
  const auto dims = m.attr_value("dims");
  if (!dims) throw UnmappableOp("dims is missing from ATTRIBUTES");
  json params = {{"dims", integers_in(*dims)}};
  m.set_output_memory(params);
  return mapped(m, "permute", params, {m.input(0, "input")});
}

// Padding per dim from the input and output shapes (and input_tensor_start when recorded).
MappedOp map_pad(RowMapper& m) {
  m.require_inputs(1);
  if (m.op().outputs.empty())
    throw UnmappableOp("pad without an OUTPUT_0 shape: the padding cannot be found");
  const ops::Shape& in = m.input_cells(0).logical;
  const ops::Shape& out = m.op().outputs[0].logical;
  if (in.rank() != out.rank()) throw UnmappableOp("pad input and output ranks differ");
  std::vector<std::int64_t> before(in.rank(), 0);
  if (auto start = m.attr_value("input_tensor_start")) {
    const auto values = integers_in(*start);
    if (values.size() == in.rank()) before = values;
  }
  json padding = json::array();
  for (std::size_t d = 0; d < in.rank(); ++d) {
    const std::int64_t after = static_cast<std::int64_t>(out[d]) - in[d] - before[d];
    if (after < 0)
      throw UnmappableOp("pad output " + ops::to_string(out) + " is smaller than its input");
    padding.push_back({before[d], after});
  }
  json params = {{"padding", padding}};
  if (auto value = m.attr_value("pad_value")) {
    if (auto number = parse_real(*value)) params["value"] = *number;
  }
  m.set_output_memory(params);
  return mapped(m, "pad", params, {m.input(0, "input")});
}

MappedOp map_create_heads(RowMapper& m) {
  m.require_inputs(1);
  const auto heads = m.attr_value("num_q_heads");
  const auto q_heads = heads ? parse_integer(*heads) : std::nullopt;
  if (!q_heads) throw UnmappableOp("num_q_heads is missing from ATTRIBUTES");
  json params = {{"num_heads", *q_heads}};
  if (auto kv = m.attr_value("num_kv_heads")) {
    if (auto value = parse_integer(*kv)) params["num_kv_heads"] = *value;
  }
  if (auto transpose = m.attr_value("transpose_k_heads")) {
    if (auto value = parse_flag(*transpose)) params["transpose_k_heads"] = *value;
  }
  std::vector<ops::TensorSpec> inputs = {m.input(0, "qkv")};
  if (m.input_count() >= 2) inputs.push_back(m.input(1, "kv"));
  m.set_output_memory(params);
  return mapped(m, "nlp_create_qkv_heads", params, inputs);
}

MappedOp map_concat_heads(RowMapper& m) {
  m.require_inputs(1);
  json params = json::object();
  m.set_output_memory(params);
  return mapped(m, "nlp_concat_heads", params, {m.input(0, "input")});
}

MappedOp map_embedding(RowMapper& m) {
  m.require_inputs(2);
  const ProfileTensor& indices = m.input_cells(0);
  const ProfileTensor& weights = m.input_cells(1);
  // wormsim reads indices as UINT32 ROW_MAJOR [B, 1, 1, S]; tt-metal records them TILE or
  // ROW_MAJOR with the batch in any outer dim.
  const std::uint32_t seq = indices.logical.x();
  const auto batch = static_cast<std::uint32_t>(indices.logical.volume() / seq);
  const ops::TensorSpec index_spec(
      ops::Shape({batch, 1, 1, seq}), ops::DataType::UInt32, ops::Layout::RowMajor,
      ops::MemoryConfig(ops::TensorMemoryLayout::Interleaved, indices.memory.buffer_type));
  if (ops::is_sharded(indices.memory.layout)) m.note("sharded indices simulated interleaved");
  if (indices.layout != ops::Layout::RowMajor || indices.logical != index_spec.logical_shape()) {
    m.note("indices " + ops::to_string(indices.logical) + " " +
           std::string(ops::to_string(indices.layout)) + " rebuilt as ROW_MAJOR " +
           ops::to_string(index_spec.logical_shape()));
  }
  const std::uint32_t vocab =
      static_cast<std::uint32_t>(weights.logical.volume() / weights.logical.x());
  const ops::TensorSpec weight_spec(
      ops::Shape({1, 1, vocab, weights.logical.x()}), weights.data_type, ops::Layout::RowMajor,
      ops::MemoryConfig(ops::TensorMemoryLayout::Interleaved, weights.memory.buffer_type));
  if (weights.layout != ops::Layout::RowMajor) m.note("TILE weight table simulated ROW_MAJOR");
  json params = json::object();
  ops::Layout layout = ops::Layout::RowMajor;
  if (auto tilized = m.attr_value("tilized"); tilized && parse_flag(*tilized).value_or(false)) {
    layout = ops::Layout::Tile;
  } else if (!m.op().outputs.empty()) {
    layout = m.op().outputs[0].layout;
  }
  params["layout"] = std::string(ops::to_string(layout));
  m.set_output_dtype(params);
  m.set_output_memory(params);
  return mapped(m, "embedding", params, {index_spec, weight_spec});
}

// ---- attention ----

MappedOp map_sdpa(RowMapper& m) {
  m.require_inputs(3);
  json params = json::object();
  m.set_compute(params);
  if (auto causal = m.attr_value("is_causal")) {
    if (auto value = parse_flag(*causal)) params["is_causal"] = *value;
  }
  if (auto scale = m.attr_value("scale")) {
    if (auto value = parse_real(*scale)) params["scale"] = *value;
  }
  if (auto config = m.attr_struct("program_config")) {
    const auto& f = config->fields;
    for (const char* key : {"q_chunk_size", "k_chunk_size"}) {
      if (auto it = f.find(key); it != f.end()) {
        if (auto value = parse_integer(it->second)) params[key] = *value;
      }
    }
    if (auto it = f.find("compute_with_storage_grid_size"); it != f.end()) {
      if (auto grid = parse_grid(it->second)) params["grid"] = {grid->first, grid->second};
    }
  } else {
    m.note("program_config not recorded: TT-NN's default 32x32 chunks and the full grid");
  }
  m.set_output_dtype(params, "dtype");
  if (auto column = m.output_column()) {
    if (ops::is_sharded(column->layout)) {
      throw UnmappableOp("sharded SDPA output; wormsim's SDPA writes DRAM or L1 interleaved");
    }
    params["output_memory"] =
        column->buffer_type == ops::BufferType::DRAM ? "dram-interleaved" : "l1-interleaved";
  }
  std::vector<ops::TensorSpec> inputs = {m.input(0, "q"), m.input(1, "k"), m.input(2, "v")};
  if (m.input_count() >= 4) inputs.push_back(m.input(3, "mask"));
  return mapped(m, "scaled_dot_product_attention", params, inputs);
}

// ---- sliding window ----

struct WindowParams {
  std::int64_t batch{1}, input_h{1}, input_w{1};
  std::vector<std::int64_t> kernel, stride, padding, dilation;
  std::int64_t num_cores_nhw{0};
  std::int64_t num_cores_c{1};
  // conv_transpose2d: stride and padding are the transposed conv's own (as tt-metal prints them).
  bool transpose{false};
  std::vector<std::int64_t> output_padding{0, 0};
};

// 'SlidingWindowConfig(batch_size=1; input_hw=(56;56); window_hw=(3;3); stride_hw=(1;1);
// padding=((1; 1); (1; 1)); ... dilation_hw=(1;1); num_cores_nhw=64; num_cores_c=1; ...)'
// (older: pad_hw=(1;1)).
WindowParams parse_window(const std::string& text) {
  const PrintedStruct s = parse_printed_struct(text);
  auto ints = [&](const char* key, std::size_t count) {
    auto it = s.fields.find(key);
    if (it == s.fields.end()) throw UnmappableOp(std::string("SlidingWindowConfig has no ") + key);
    std::vector<std::int64_t> values = integers_in(it->second);
    if (values.size() != count) {
      throw UnmappableOp(std::string("SlidingWindowConfig ") + key + "='" + it->second +
                         "' is not " + std::to_string(count) + " numbers");
    }
    return values;
  };
  WindowParams w;
  w.batch = ints("batch_size", 1)[0];
  const auto hw = ints("input_hw", 2);
  w.input_h = hw[0];
  w.input_w = hw[1];
  w.kernel = ints("window_hw", 2);
  w.stride = ints("stride_hw", 2);
  w.dilation =
      s.fields.count("dilation_hw") ? ints("dilation_hw", 2) : std::vector<std::int64_t>{1, 1};
  if (s.fields.count("padding")) {
    w.padding = ints("padding", 4);
  } else if (s.fields.count("pad_hw")) {
    w.padding = ints("pad_hw", 2);
  } else {
    w.padding = {0};
  }
  if (auto it = s.fields.find("num_cores_nhw"); it != s.fields.end())
    w.num_cores_nhw = parse_integer(it->second).value_or(0);
  if (auto it = s.fields.find("num_cores_c"); it != s.fields.end())
    w.num_cores_c = parse_integer(it->second).value_or(1);
  if (auto it = s.fields.find("is_transpose"); it != s.fields.end())
    w.transpose = parse_flag(it->second).value_or(false);
  if (w.transpose && s.fields.count("output_padding")) w.output_padding = ints("output_padding", 2);
  return w;
}

json window_json(const WindowParams& w) {
  return {{"kernel_size", w.kernel}, {"stride", w.stride},    {"padding", w.padding},
          {"dilation", w.dilation},  {"batch_size", w.batch}, {"input_height", w.input_h},
          {"input_width", w.input_w}};
}

MappedOp map_halo(RowMapper& m) {
  m.require_inputs(1);
  const auto config = m.attr_value("config");
  if (!config) throw UnmappableOp("config (SlidingWindowConfig) is missing from ATTRIBUTES");
  const WindowParams w = parse_window(*config);
  if (w.transpose) {
    throw UnmappableOp(
        "a transposed halo (is_transpose=true) is modelled inside wormsim's conv_transpose2d, "
        "which the conv row maps to");
  }
  json params = window_json(w);
  if (auto tiled = m.attr_value("is_out_tiled")) {
    if (auto value = parse_flag(*tiled)) params["output_tile_aligned"] = *value;
  }
  GridHint hint;
  if (w.num_cores_nhw > 0) {
    const auto nhw = static_cast<std::uint32_t>(w.num_cores_nhw);
    const auto c = static_cast<std::uint32_t>(std::max<std::int64_t>(1, w.num_cores_c));
    const auto& column = m.input_cells(0).memory;
    hint = column.layout == ops::TensorMemoryLayout::BlockSharded
               ? GridHint{c, nhw, "the sliding window's num_cores_nhw x num_cores_c"}
               : GridHint{nhw * c, 1, "the sliding window's num_cores_nhw"};
  }
  return mapped(m, "halo", params, {m.input(0, "input", hint)});
}

MappedOp map_conv2d(RowMapper& m) {
  m.require_inputs(2);
  const auto config = m.attr_value("sliding_window_config");
  if (!config) throw UnmappableOp("sliding_window_config is missing from ATTRIBUTES");
  const WindowParams w = parse_window(*config);
  json params = window_json(w);
  if (w.transpose) params["output_padding"] = w.output_padding;
  const ProfileTensor& act = m.input_cells(0);
  const std::uint32_t in_channels = act.logical.x();
  const auto out_channels = m.attr_value("output_channels")
                                ? parse_integer(*m.attr_value("output_channels"))
                                : std::optional<std::int64_t>();
  if (!out_channels || *out_channels <= 0)
    throw UnmappableOp("output_channels is missing from ATTRIBUTES");
  params["in_channels"] = in_channels;
  params["out_channels"] = *out_channels;
  if (auto groups = m.attr_value("groups")) {
    if (auto value = parse_integer(*groups)) params["groups"] = *value;
  }
  m.set_compute(params);
  if (auto activation = m.attr_value("activation")) {
    const std::vector<std::string> types = unary_op_types(*activation);
    const std::string name = types.empty() ? trim(*activation) : wormsim_unary(types[0]);
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (!lower.empty()) {
      if (!ops::is_known_unary(lower))
        throw UnmappableOp("conv activation '" + *activation + "' is not modelled");
      params["activation"] = lower;
    }
  }
  if (auto relu = m.attr_value("fuse_relu"); relu && parse_flag(*relu).value_or(false))
    params["activation"] = "relu";
  if (auto block = m.attr_struct("block_config")) {
    if (auto it = block->fields.find("act_block_h_ntiles"); it != block->fields.end()) {
      if (auto value = parse_integer(it->second)) params["act_block_h_ntiles"] = *value;
    }
  }
  m.set_output_dtype(params, "dtype");
  if (auto column = m.output_column())
    params["output_memory"] = column->buffer_type == ops::BufferType::DRAM ? "dram" : "l1";

  // The recorded input is usually the halo's output (each core's padded window sticks); wormsim's
  // conv2d takes the NHWC input and runs the halo phase itself.
  const auto sticks = static_cast<std::uint32_t>(w.batch * w.input_h * w.input_w);
  const ops::TensorSpec plain(ops::Shape({1, 1, sticks, in_channels}), act.data_type, act.layout);
  if (act.logical != plain.logical_shape()) {
    m.note("input " + ops::to_string(act.logical) +
           " (the halo output) rebuilt as the NHWC input " + ops::to_string(plain.logical_shape()));
  }
  m.note(
      "wormsim's conv2d includes its halo phase, which silicon reports as a separate "
      "HaloDeviceOperation row");
  ops::MemoryConfig memory = ops::MemoryConfig::dram_interleaved();
  if (ops::is_sharded(act.memory.layout)) {
    std::string layout(ops::to_string(act.memory.layout));
    if (auto shard = m.attr_value("shard_layout")) layout = enum_name(*shard);
    const auto nhw = static_cast<std::uint32_t>(w.num_cores_nhw > 0 ? w.num_cores_nhw : m.cores());
    const auto c = static_cast<std::uint32_t>(std::max<std::int64_t>(1, w.num_cores_c));
    if (layout == "BLOCK_SHARDED") {
      memory = ops::block_sharded(plain, c, nhw);
      params["shard_layout"] = "block";
    } else if (layout == "HEIGHT_SHARDED") {
      memory = ops::height_sharded(plain, nhw, m.device());
      params["shard_layout"] = "height";
    } else {
      throw UnmappableOp("conv2d shard layout " + layout +
                         " is not modelled (HEIGHT_SHARDED, BLOCK_SHARDED)");
    }
    m.note("input shard spec derived from the sliding window's cores: " + grid_text(memory));
  } else {
    memory = ops::MemoryConfig(ops::TensorMemoryLayout::Interleaved, act.memory.buffer_type);
  }
  const auto kh = static_cast<std::uint32_t>(w.kernel[0]);
  const auto kw = static_cast<std::uint32_t>(w.kernel[1]);
  const ProfileTensor& weight = m.input_cells(1);
  const ops::TensorSpec weight_spec(
      ops::Shape({1, 1, kh * kw * in_channels, static_cast<std::uint32_t>(*out_channels)}),
      weight.data_type, ops::Layout::Tile, ops::MemoryConfig::dram_interleaved());
  if (weight.logical != weight_spec.logical_shape()) {
    m.note("weights " + ops::to_string(weight.logical) + " rebuilt as " +
           ops::to_string(weight_spec.logical_shape()));
  }
  std::vector<ops::TensorSpec> inputs = {plain.with_memory_config(memory), weight_spec};
  const bool has_bias = m.input_count() >= 3 ||
                        parse_flag(m.attr_value("has_bias").value_or("false")).value_or(false);
  if (has_bias) {
    const ops::DataType bias_type =
        m.input_count() >= 3 ? m.input_cells(2).data_type : weight.data_type;
    inputs.push_back(
        ops::TensorSpec(ops::Shape({1, 1, 1, static_cast<std::uint32_t>(*out_channels)}), bias_type,
                        ops::Layout::Tile, ops::MemoryConfig::dram_interleaved()));
  }
  if (w.transpose) {
    m.note("is_transpose=true: ttnn.conv_transpose2d (halo inserting zeros, then the conv)");
    return mapped(m, "conv_transpose2d", params, inputs);
  }
  return mapped(m, "conv2d", params, inputs);
}

// ---------------------------------------------------------------------------------------------

using Mapper = std::function<MappedOp(RowMapper&)>;

const std::map<std::string, Mapper>& mappers() {
  static const std::map<std::string, Mapper> table = [] {
    std::map<std::string, Mapper> t;
    t["Matmul"] = map_matmul;
    t["MatmulDeviceOperation"] = map_matmul;
    t["MinimalMatmulOp"] = map_minimal_matmul;
    t["MinimalMatmulDeviceOperation"] = map_minimal_matmul;
    t["BinaryNgDeviceOperation"] = map_binary;
    t["BinaryDeviceOperation"] = map_binary;
    t["UnaryDeviceOperation"] = map_unary;
    t["TypecastDeviceOperation"] = map_typecast;
    t["LayerNormDeviceOperation"] = map_layernorm;
    t["SoftmaxDeviceOperation"] = map_softmax;
    t["TransposeDeviceOperation"] = map_transpose;
    t["ReshapeDeviceOperation"] = map_reshape;
    t["TilizeDeviceOperation"] = [](RowMapper& m) { return map_tilize(m, false); };
    t["TilizeWithValPaddingDeviceOperation"] = [](RowMapper& m) { return map_tilize(m, true); };
    t["UntilizeDeviceOperation"] = [](RowMapper& m) { return map_untilize(m, false); };
    t["UntilizeWithUnpaddingDeviceOperation"] = [](RowMapper& m) { return map_untilize(m, true); };
    t["InterleavedToShardedDeviceOperation"] = [](RowMapper& m) {
      return map_memory_move(m, "interleaved_to_sharded");
    };
    t["ShardedToInterleavedDeviceOperation"] = [](RowMapper& m) {
      return map_memory_move(m, "sharded_to_interleaved");
    };
    t["ReshardDeviceOperation"] = [](RowMapper& m) { return map_memory_move(m, "reshard"); };
    t["MoveDeviceOperation"] = [](RowMapper& m) { return map_memory_move(m, "move"); };
    t["ConcatDeviceOperation"] = map_concat;
    t["NLPConcatHeadsDeviceOperation"] = map_concat_heads;
    t["NLPCreateHeadsDeviceOperation"] = map_create_heads;
    t["SliceDeviceOperation"] = map_slice;
    t["PaddedSliceDeviceOperation"] = map_padded_slice;
    t["SliceWriteDeviceOperation"] = map_slice_write;
    t["PermuteDeviceOperation"] = map_permute;
    t["PadDeviceOperation"] = map_pad;
    t["EmbeddingsDeviceOperation"] = map_embedding;
    t["ScaledDotProductAttention"] = map_sdpa;
    t["SDPAOperation"] = map_sdpa;
    t["SDPADeviceOperation"] = map_sdpa;
    t["OptimizedConvNew"] = map_conv2d;
    t["Conv2dDeviceOperation"] = map_conv2d;
    t["HaloDeviceOperation"] = map_halo;
    return t;
  }();
  return table;
}

}  // namespace

std::map<std::string, std::string> parse_op_attributes(std::string_view cell) {
  std::map<std::string, std::string> out;
  std::string_view s = trim_view(cell);
  if (s.size() < 2 || s.front() != '{' || s.back() != '}') return out;
  s = s.substr(1, s.size() - 2);
  std::size_t i = 0;
  auto skip_separators = [&] {
    while (i < s.size() &&
           (std::isspace(static_cast<unsigned char>(s[i])) || s[i] == ';' || s[i] == ','))
      ++i;
  };
  auto skip_spaces = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  while (true) {
    skip_separators();
    if (i >= s.size() || s[i] != '\'') break;
    const std::size_t key_end = s.find('\'', i + 1);
    if (key_end == std::string_view::npos) break;
    std::string key(s.substr(i + 1, key_end - i - 1));
    i = key_end + 1;
    skip_spaces();
    if (i >= s.size() || s[i] != ':') break;
    ++i;
    skip_spaces();
    std::string value;
    if (i < s.size() && s[i] == '\'') {
      // The value ends at a quote followed by the next separator (or the end): values hold
      // brackets and '=' but not that sequence.
      std::size_t end = std::string_view::npos;
      for (std::size_t j = i + 1; j < s.size(); ++j) {
        if (s[j] != '\'') continue;
        std::size_t k = j + 1;
        while (k < s.size() && s[k] == ' ') ++k;
        if (k == s.size() || s[k] == ';' || s[k] == ',') {
          end = j;
          break;
        }
      }
      if (end == std::string_view::npos) end = s.size();
      value = std::string(s.substr(i + 1, end - i - 1));
      i = std::min(end + 1, s.size());
    } else {
      int depth = 0;
      const std::size_t start = i;
      while (i < s.size() && !(depth == 0 && (s[i] == ';' || s[i] == ','))) {
        if (is_open(s[i])) ++depth;
        if (is_close(s[i])) --depth;
        ++i;
      }
      value = trim(s.substr(start, i - start));
    }
    while (!key.empty() && key.back() == '_') key.pop_back();
    out[key] = value;
  }
  return out;
}

PrintedStruct parse_printed_struct(std::string_view text) {
  std::string_view s = trim_view(text);
  if (s.size() >= 2 && s.front() == '\'' && s.back() == '\'')
    s = trim_view(s.substr(1, s.size() - 2));
  PrintedStruct out;
  const std::size_t open = s.find('(');
  if (open == std::string_view::npos) {
    out.name = std::string(s);
    return out;
  }
  out.name = trim(s.substr(0, open));
  int depth = 0;
  std::size_t close = s.size();
  for (std::size_t i = open; i < s.size(); ++i) {
    if (is_open(s[i])) ++depth;
    if (is_close(s[i]) && --depth == 0) {
      close = i;
      break;
    }
  }
  const std::string_view inner = s.substr(open + 1, close - open - 1);
  depth = 0;
  std::size_t start = 0;
  auto take = [&](std::size_t end) {
    const std::string_view part = trim_view(inner.substr(start, end - start));
    const std::size_t eq = part.find('=');
    if (eq != std::string_view::npos)
      out.fields[trim(part.substr(0, eq))] = trim(part.substr(eq + 1));
  };
  for (std::size_t i = 0; i < inner.size(); ++i) {
    if (is_open(inner[i])) ++depth;
    if (is_close(inner[i])) --depth;
    if (depth == 0 && (inner[i] == ';' || inner[i] == ',')) {
      take(i);
      start = i + 1;
    }
  }
  take(inner.size());
  return out;
}

MappedOp map_profile_op(const ProfileOp& op, const arch::DeviceSpec& device) {
  if (!op.device_arch.empty() && op.device_arch.rfind("wormhole", 0) != 0) {
    throw UnmappableOp("DEVICE ARCH " + op.device_arch + ": wormsim simulates Wormhole only");
  }
  const auto it = mappers().find(op.op_code);
  if (it == mappers().end()) {
    if (op.op_code.find("Decode") != std::string::npos &&
        op.op_code.find("SDPA") != std::string::npos) {
      throw UnmappableOp(
          "decode SDPA is not modelled; wormsim's SDPA is the prefill flash-attention program");
    }
    std::string names;
    for (const ops::OpInfo* info : ops::registered_ops()) {
      if (info->op_code == op.op_code) names += (names.empty() ? "'" : ", '") + info->name + "'";
    }
    if (!names.empty()) {
      throw UnmappableOp("replay does not map " + op.op_code + " rows yet (wormsim's " + names +
                         " op(s) have this code; `wormsim op --json` runs one)");
    }
    throw UnmappableOp("no wormsim op for OP CODE " + op.op_code);
  }
  RowMapper mapper(op, device);
  return it->second(mapper);
}

std::vector<std::string> replay_op_codes() {
  std::vector<std::string> codes;
  for (const auto& [code, mapper] : mappers()) codes.push_back(code);
  return codes;
}

}  // namespace wormsim::analysis
