#include "workloads/models/model_builder.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "ops/compute_config.hpp"
#include "ops/device.hpp"
#include "ops/op_registry.hpp"
#include "ops/operation.hpp"
#include "ops/program.hpp"
#include "sim/error.hpp"
#include "workloads/placement_check.hpp"

namespace wormsim::workloads::models {
namespace {

using nlohmann::json;
using ops::DataType;
using ops::Layout;
using ops::MemoryConfig;
using ops::Shape;
using ops::TensorSpec;

// Ops whose output format and math fidelity the zoo sets per layer group. Data-movement ops
// (reshape, concat, slice, tilize, ...) copy values and keep their input's format.
const std::set<std::string>& compute_ops() {
  static const std::set<std::string> ops{"matmul",
                                         "linear",
                                         "add",
                                         "sub",
                                         "mul",
                                         "gelu",
                                         "relu",
                                         "silu",
                                         "sigmoid",
                                         "tanh",
                                         "exp",
                                         "sqrt",
                                         "rsqrt",
                                         "square",
                                         "abs",
                                         "log",
                                         "identity",
                                         "reciprocal",
                                         "softmax",
                                         "layernorm",
                                         "rmsnorm",
                                         "groupnorm",
                                         "conv2d",
                                         "global_avg_pool2d",
                                         "conv_transpose2d"};
  return ops;
}

std::vector<std::string> split_group(const std::string& group) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= group.size()) {
    const std::size_t dot = group.find('.', start);
    const std::size_t end = dot == std::string::npos ? group.size() : dot;
    if (end > start) parts.push_back(group.substr(start, end - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

std::vector<std::int64_t> ints(std::initializer_list<std::int64_t> values) { return values; }

bool tile_aligned_rows(std::uint64_t rows) { return rows % ops::kTileHeight == 0; }

}  // namespace

double fan_in_scale(std::uint64_t fan_in) {
  return std::sqrt(3.0 / static_cast<double>(std::max<std::uint64_t>(fan_in, 1)));
}

ModelBuilder::ModelBuilder(Graph& graph, const ModelOptions& options)
    : graph_(graph), options_(options) {}

std::string ModelBuilder::resolve(const std::map<std::string, std::string>& overrides,
                                  const std::string& group, const std::string& fallback) const {
  if (const auto exact = overrides.find(group); exact != overrides.end()) return exact->second;
  // The most specific (last) dot-separated part that has an override wins.
  const std::vector<std::string> parts = split_group(group);
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (const auto match = overrides.find(*it); match != overrides.end()) return match->second;
  }
  return fallback;
}

std::string ModelBuilder::dtype_name(const std::string& group) const {
  return resolve(options_.group_dtype, group, options_.dtype);
}

DataType ModelBuilder::dtype(const std::string& group) const {
  const std::string text = dtype_name(group);
  const auto parsed = ops::parse_data_type(text);
  if (!parsed || *parsed == DataType::UInt32 || *parsed == DataType::Int32) {
    throw Error(
        "model " + graph_.name() + ": dtype '" + text + "' of layer group '" + group +
        "' is not an activation/weight format; use float32, bfloat16, bfloat8_b or bfloat4_b");
  }
  return *parsed;
}

std::string ModelBuilder::fidelity(const std::string& group) const {
  const std::string text = resolve(options_.group_fidelity, group, options_.fidelity);
  ops::parse_math_fidelity(text);  // validates (throws Error listing LoFi..HiFi4)
  return text;
}

DataType ModelBuilder::row_major_dtype(const std::string& group) const {
  const DataType type = dtype(group);
  return (type == DataType::BFloat8_B || type == DataType::BFloat4_B) ? DataType::BFloat16 : type;
}

std::uint32_t ModelBuilder::depth(std::uint32_t full) const {
  return options_.layers == 0 ? full : std::min(full, options_.layers);
}

TensorId ModelBuilder::input(const std::string& name, const Shape& shape, Layout layout,
                             DataType type) {
  return graph_.add_input(name, TensorSpec(shape, type, layout));
}

TensorId ModelBuilder::weight(const std::string& name, const Shape& shape, const std::string& group,
                              double scale, const std::string& init) {
  return graph_.add_weight(name, TensorSpec(shape, dtype(group), Layout::Tile), init, scale);
}

TensorId ModelBuilder::vector(const std::string& name, std::uint32_t width,
                              const std::string& group, const std::string& init, double scale) {
  return graph_.add_weight(name, TensorSpec(Shape({1, 1, 1, width}), dtype(group), Layout::Tile),
                           init, scale);
}

TensorId ModelBuilder::constant(const std::string& name, const Shape& shape, Layout layout,
                                DataType type, const std::string& init, double scale) {
  const TensorId id = graph_.add_constant(name, TensorSpec(shape, type, layout), init);
  if (scale != kDefaultWeightScale) graph_.set_init(id, init, scale);
  return id;
}

std::vector<TensorId> ModelBuilder::compute_n(const std::string& name, const std::string& op,
                                              const std::vector<TensorId>& inputs, json params,
                                              const std::string& group) {
  if (compute_ops().count(op) == 0) {
    throw Error("model builder: '" + op + "' (node " + name +
                ") is not a compute op; add it with move()");
  }
  if (!params.is_object()) params = json::object();
  // The conv ops and global_avg_pool2d call their output format "dtype" (TT-NN's argument name).
  const std::string dtype_key =
      (op == "conv2d" || op == "conv_transpose2d" || op == "global_avg_pool2d") ? "dtype"
                                                                                : "output_dtype";
  if (!params.contains(dtype_key)) params[dtype_key] = dtype_name(group);
  dtype(group);  // validates the name
  if (!params.contains("math_fidelity")) params["math_fidelity"] = fidelity(group);
  return graph_.add_op(name, op, resolved(inputs), params, group);
}

TensorId ModelBuilder::compute(const std::string& name, const std::string& op,
                               const std::vector<TensorId>& inputs, json params,
                               const std::string& group) {
  return compute_n(name, op, inputs, std::move(params), group).at(0);
}

std::vector<TensorId> ModelBuilder::move_n(const std::string& name, const std::string& op,
                                           const std::vector<TensorId>& inputs, const json& params,
                                           const std::string& group) {
  return graph_.add_op(name, op, resolved(inputs), params.is_object() ? params : json::object(),
                       group);
}

TensorId ModelBuilder::move(const std::string& name, const std::string& op,
                            const std::vector<TensorId>& inputs, const json& params,
                            const std::string& group) {
  return move_n(name, op, inputs, params, group).at(0);
}

bool ModelBuilder::accepts(const std::string& op, const std::vector<TensorId>& inputs,
                           const json& params) const {
  const std::vector<TensorId> reads = resolved(inputs);
  std::vector<TensorSpec> specs;
  for (TensorId id : reads) specs.push_back(spec(id));
  return accepts_specs(op, specs, params, reads);
}

void ModelBuilder::hold(TensorId tensor) { held_.push_back(resolve(tensor)); }

void ModelBuilder::release(TensorId tensor) {
  const auto it = std::find(held_.begin(), held_.end(), resolve(tensor));
  if (it != held_.end()) held_.erase(it);
}

TensorId ModelBuilder::resolve(TensorId tensor) const {
  const auto it = spilled_.find(tensor);
  return it == spilled_.end() ? tensor : it->second;
}

std::vector<TensorId> ModelBuilder::resolved(const std::vector<TensorId>& tensors) const {
  std::vector<TensorId> out;
  out.reserve(tensors.size());
  for (TensorId id : tensors) out.push_back(resolve(id));
  return out;
}

bool ModelBuilder::spill_held_tensors(const std::string& group) {
  bool moved = false;
  for (TensorId& id : held_) {
    id = resolve(id);  // held twice: the first entry spilled it already
    const TensorSpec& s = spec(id);
    if (!s.memory_config().is_l1()) continue;
    const TensorId copy =
        move(graph_.tensor(id).name + ".spill", s.is_sharded() ? "sharded_to_interleaved" : "move",
             {id}, json{{"output_memory", "dram-interleaved"}}, group);
    spilled_[id] = copy;
    id = copy;
    moved = true;
  }
  return moved;
}

bool ModelBuilder::accepts_specs(const std::string& op, const std::vector<TensorSpec>& inputs,
                                 const json& params, const std::vector<TensorId>& op_inputs) const {
  // Held tensors the op does not read stay resident beside its inputs and outputs.
  std::vector<ResidentTensor> resident;
  for (TensorId id : held_) {
    if (std::find(op_inputs.begin(), op_inputs.end(), id) != op_inputs.end()) continue;
    resident.push_back({graph_.tensor(id).name, spec(id)});
  }
  return placement_problem(graph_.device(), op, params, inputs, resident).empty();
}

bool ModelBuilder::place_window_op(const std::string& name, const std::string& op,
                                   std::vector<TensorId>& inputs, json& params,
                                   const std::string& group) {
  inputs = resolved(inputs);
  if (accepts(op, inputs, params)) return true;
  // A conv sizes its act blocks for the L1 its own tensors leave; beside held tensors a smaller
  // act block may still fit (what a TT-NN model sets act_block_h_override for).
  {
    std::vector<TensorSpec> specs;
    for (TensorId id : inputs) specs.push_back(spec(id));
    for (std::uint32_t tiles : smaller_act_blocks(graph_.device(), op, params, specs)) {
      json smaller = params;
      smaller["act_block_h_ntiles"] = tiles;
      if (accepts(op, inputs, smaller)) {
        params = smaller;
        return true;
      }
    }
  }
  json dram = params;
  dram["output_memory"] = "dram";
  if (accepts(op, inputs, dram)) {
    params = dram;
    return true;
  }
  // The input's own L1 shards leave too little room: read it from DRAM instead.
  if (!spec(inputs[0]).is_sharded()) return false;
  const TensorSpec& s = spec(inputs[0]);
  std::vector<TensorSpec> specs;
  for (TensorId id : inputs) specs.push_back(spec(id));
  specs[0] = s.with_memory_config(ops::MemoryConfig::dram_interleaved());
  // The op then reads a DRAM copy: a held original still occupies L1 beside it.
  const std::vector<TensorId> reads(inputs.begin() + 1, inputs.end());
  const bool l1_out = accepts_specs(op, specs, params, reads);
  if (!l1_out && !accepts_specs(op, specs, dram, reads)) return false;
  inputs[0] = move(name + ".to_dram", "sharded_to_interleaved", {inputs[0]}, json::object(), group);
  if (!l1_out) params = dram;
  return true;
}

std::vector<std::uint32_t> ModelBuilder::dims4(TensorId id) const {
  const auto d = spec(id).logical_shape().wzyx();
  return {d[0], d[1], d[2], d[3]};
}

TensorId ModelBuilder::linear(const std::string& name, TensorId x, std::uint32_t in_features,
                              std::uint32_t out_features, const std::string& group,
                              const LinearOptions& linear_options) {
  const TensorId w = weight(name + ".weight", Shape({1, 1, in_features, out_features}), group,
                            fan_in_scale(in_features));
  std::vector<TensorId> inputs{x, w};
  if (linear_options.bias) inputs.push_back(vector(name + ".bias", out_features, group, "uniform"));
  json params = json::object();
  if (!linear_options.activation.empty()) params["activation"] = linear_options.activation;
  return compute(name, "linear", inputs, params, group);
}

TensorId ModelBuilder::matmul(const std::string& name, TensorId a, TensorId b,
                              const std::string& group) {
  return compute(name, "matmul", {a, b}, json::object(), group);
}

TensorId ModelBuilder::layernorm(const std::string& name, TensorId x, std::uint32_t width,
                                 double epsilon, const std::string& group) {
  const TensorId gamma = vector(name + ".weight", width, group, "ones");
  const TensorId beta = vector(name + ".bias", width, group, "zeros");
  return compute(name, "layernorm", {x, gamma, beta}, json{{"epsilon", epsilon}}, group);
}

TensorId ModelBuilder::rmsnorm(const std::string& name, TensorId x, std::uint32_t width,
                               double epsilon, const std::string& group) {
  const TensorId gamma = vector(name + ".weight", width, group, "ones");
  return compute(name, "rmsnorm", {x, gamma}, json{{"epsilon", epsilon}}, group);
}

TensorId ModelBuilder::binary(const std::string& op, const std::string& name, TensorId a,
                              TensorId b, const std::string& group) {
  return compute(name, op, {a, b}, json::object(), group);
}

TensorId ModelBuilder::unary(const std::string& op, const std::string& name, TensorId x,
                             const std::string& group) {
  return compute(name, op, {x}, json::object(), group);
}

TensorId ModelBuilder::softmax(const std::string& name, TensorId x, double scale,
                               const std::string& group, std::optional<TensorId> mask) {
  std::vector<TensorId> inputs{x};
  if (mask) inputs.push_back(*mask);
  json params = json::object();
  if (scale != 1.0) params["scale"] = scale;
  return compute(name, "softmax", inputs, params, group);
}

json ModelBuilder::conv_params(const FeatureMap& x, std::uint32_t input_height,
                               std::uint32_t out_channels, const ConvOptions& c,
                               std::uint32_t pad_top, std::uint32_t pad_bottom,
                               const std::string& group) const {
  json params{{"batch_size", x.batch},
              {"input_height", input_height},
              {"input_width", x.width},
              {"in_channels", x.channels},
              {"out_channels", out_channels},
              {"kernel_size", ints({c.kernel, c.kernel})},
              {"stride", ints({c.stride, c.stride})},
              {"padding", ints({pad_top, pad_bottom, c.padding, c.padding})},
              {"dtype", dtype_name(group)},
              {"math_fidelity", fidelity(group)}};
  if (c.groups != 1) params["groups"] = c.groups;
  if (!c.activation.empty()) params["activation"] = c.activation;
  if (c.act_double_buffer) params["enable_act_double_buffer"] = true;
  return params;
}

FeatureMap ModelBuilder::conv(const std::string& name, const FeatureMap& x,
                              std::uint32_t out_channels, const ConvOptions& c,
                              const std::string& group) {
  const std::uint64_t k_rows = static_cast<std::uint64_t>(c.kernel) * c.kernel * x.channels;
  // Initialise from the real fan-in (a grouped conv's block-diagonal zeros do not count).
  const double scale = c.weight_gain * fan_in_scale(k_rows / c.groups);
  const TensorId w =
      weight(name + ".weight", Shape({1, 1, static_cast<std::uint32_t>(k_rows), out_channels}),
             group, scale);
  std::vector<TensorId> inputs{x.id, w};
  if (c.bias) inputs.push_back(vector(name + ".bias", out_channels, group, "uniform"));
  FeatureMap out;
  out.batch = x.batch;
  out.height = (x.height + 2 * c.padding - c.kernel) / c.stride + 1;
  out.width = (x.width + 2 * c.padding - c.kernel) / c.stride + 1;
  out.channels = out_channels;
  json params = conv_params(x, x.height, out_channels, c, c.padding, c.padding, group);
  if (c.output_in_dram) params["output_memory"] = "dram";
  if (place_window_op(name, "conv2d", inputs, params, group)) {
    out.id = compute(name, "conv2d", inputs, params, group);
    return out;
  }
  // Too large for L1 in one piece: TT-NN's DRAM slicing (Conv2dSliceConfig along the height).
  // Each band of output rows reads its input rows (with the window's overlap) from DRAM and
  // writes its output to DRAM; the bands are joined again.
  const TensorSpec dram_source =
      spec(resolve(x.id)).with_memory_config(ops::MemoryConfig::dram_interleaved());
  std::vector<TensorSpec> band_specs{dram_source, spec(w)};
  if (c.bias) band_specs.push_back(spec(inputs[2]));
  struct Band {
    std::uint32_t out_first, out_last, in_first, in_last, pad_top, pad_bottom;
  };
  auto plan = [&](std::uint32_t bands) {
    std::vector<Band> plan;
    const std::uint32_t per_band = (out.height + bands - 1) / bands;
    for (std::uint32_t oa = 0; oa < out.height; oa += per_band) {
      const std::uint32_t ob = std::min(out.height, oa + per_band);
      // Padded-input rows [oa*s, (ob-1)*s + k) hold the band's windows.
      const std::int64_t first = static_cast<std::int64_t>(oa) * c.stride - c.padding;
      const std::int64_t last = static_cast<std::int64_t>(ob - 1) * c.stride + c.kernel - c.padding;
      const auto in_first = static_cast<std::uint32_t>(std::max<std::int64_t>(0, first));
      const auto in_last = static_cast<std::uint32_t>(std::min<std::int64_t>(x.height, last));
      plan.push_back(Band{oa, ob, in_first, in_last, static_cast<std::uint32_t>(in_first - first),
                          static_cast<std::uint32_t>(last - in_last)});
    }
    return plan;
  };
  auto band_fits = [&](const Band& band) {
    const std::uint32_t rows = band.in_last - band.in_first;
    const TensorSpec& s = dram_source;
    band_specs[0] =
        TensorSpec(Shape({1, 1, x.batch * rows * x.width, x.channels}), s.data_type(), s.layout());
    json p = conv_params(x, rows, out_channels, c, band.pad_top, band.pad_bottom, group);
    p["output_memory"] = "dram";
    // The bands read a DRAM copy: a held original of the input still occupies L1 beside them.
    return accepts_specs("conv2d", band_specs, p, {inputs.begin() + 1, inputs.end()});
  };
  auto find_bands = [&] {
    for (std::uint32_t count = 2; count <= out.height; ++count) {
      std::vector<Band> candidate = plan(count);
      if (std::all_of(candidate.begin(), candidate.end(), band_fits)) return candidate;
    }
    return std::vector<Band>{};
  };
  std::vector<Band> bands = find_bands();
  if (bands.empty() && spill_held_tensors(group)) {
    // The tensors held for later readers (a residual) took the room: with them in DRAM the conv
    // may fit whole, else in bands.
    if (place_window_op(name, "conv2d", inputs, params, group)) {
      out.id = compute(name, "conv2d", inputs, params, group);
      return out;
    }
    bands = find_bands();
  }
  if (bands.empty()) {
    throw Error("model builder: conv " + name + " does not fit L1 even one output row at a time");
  }
  FeatureMap input = x;
  input.id = resolve(x.id);
  const FeatureMap source = in_dram(name, input, group);
  std::vector<FeatureMap> pieces;
  for (std::size_t i = 0; i < bands.size(); ++i) {
    const Band& band = bands[i];
    const std::string band_name = name + ".slice" + std::to_string(i);
    FeatureMap piece = slice_rows(band_name + ".input", source, band.in_first, band.in_last, group);
    std::vector<TensorId> band_inputs = inputs;
    band_inputs[0] = piece.id;
    json p = conv_params(x, piece.height, out_channels, c, band.pad_top, band.pad_bottom, group);
    p["output_memory"] = "dram";
    FeatureMap band_out{0, x.batch, band.out_last - band.out_first, out.width, out_channels};
    band_out.id = compute(band_name, "conv2d", band_inputs, p, group);
    pieces.push_back(band_out);
  }
  return concat_rows(name + ".join", pieces, group);
}

FeatureMap ModelBuilder::conv_transpose(const std::string& name, const FeatureMap& x,
                                        std::uint32_t out_channels, std::uint32_t factor,
                                        const std::string& group) {
  // Each output pixel takes one tap of one input pixel: the fan-in is C_in.
  const TensorId w =
      weight(name + ".weight", Shape({1, 1, factor * factor * x.channels, out_channels}), group,
             fan_in_scale(x.channels));
  // TT-NN shards a conv by its output sticks, f*f times the input's here: an input sharded for
  // the op before it is resharded (read back interleaved) so the conv spreads over the grid.
  const FeatureMap source = in_dram(name, x, group);
  std::vector<TensorId> inputs{source.id, w,
                               vector(name + ".bias", out_channels, group, "uniform")};
  ConvOptions c;
  c.kernel = factor;
  c.stride = factor;
  json params = conv_params(x, x.height, out_channels, c, 0, 0, group);
  if (!place_window_op(name, "conv_transpose2d", inputs, params, group)) {
    throw Error("model builder: transposed conv " + name + " (" + std::to_string(x.height) + "x" +
                std::to_string(x.width) + "x" + std::to_string(x.channels) + ", x" +
                std::to_string(factor) + ") does not fit L1 in any placement");
  }
  FeatureMap out{0, x.batch, x.height * factor, x.width * factor, out_channels};
  out.id = compute(name, "conv_transpose2d", inputs, params, group);
  return out;
}

FeatureMap ModelBuilder::in_dram(const std::string& name, const FeatureMap& x,
                                 const std::string& group) {
  if (spec(x.id).memory_config().is_dram() && !spec(x.id).is_sharded()) return x;
  FeatureMap out = x;
  out.id = move(name + ".to_dram", spec(x.id).is_sharded() ? "sharded_to_interleaved" : "move",
                {x.id}, json{{"output_memory", "dram-interleaved"}}, group);
  return out;
}

FeatureMap ModelBuilder::slice_rows(const std::string& name, const FeatureMap& x,
                                    std::uint32_t first, std::uint32_t last,
                                    const std::string& group) {
  FeatureMap out = x;
  out.height = last - first;
  out.id = move(name, "padded_slice", {x.id},
                json{{"batch_size", x.batch},
                     {"input_height", x.height},
                     {"input_width", x.width},
                     {"rows", ints({first, last})},
                     {"output_memory", "dram-interleaved"}},
                group);
  return out;
}

FeatureMap ModelBuilder::concat_rows(const std::string& name, const std::vector<FeatureMap>& bands,
                                     const std::string& group) {
  FeatureMap out = bands.front();
  out.height = 0;
  std::vector<TensorId> ids;
  std::vector<std::int64_t> heights;
  for (const FeatureMap& band : bands) {
    out.height += band.height;
    ids.push_back(band.id);
    heights.push_back(band.height);
  }
  out.id = move(name, "slice_write", ids,
                json{{"batch_size", out.batch},
                     {"input_width", out.width},
                     {"band_heights", heights},
                     {"output_memory", "dram-interleaved"}},
                group);
  return out;
}

FeatureMap ModelBuilder::max_pool(const std::string& name, const FeatureMap& x,
                                  std::uint32_t kernel, std::uint32_t stride, std::uint32_t padding,
                                  const std::string& group) {
  json params{{"batch_size", x.batch},
              {"input_height", x.height},
              {"input_width", x.width},
              {"kernel_size", ints({kernel, kernel})},
              {"stride", ints({stride, stride})},
              {"padding", ints({padding, padding})}};
  std::vector<TensorId> inputs{x.id};
  place_window_op(name, "max_pool2d", inputs, params, group);
  FeatureMap out = x;
  out.id = move(name, "max_pool2d", inputs, params, group);
  out.height = (x.height + 2 * padding - kernel) / stride + 1;
  out.width = (x.width + 2 * padding - kernel) / stride + 1;
  return out;
}

FeatureMap ModelBuilder::to_tile(const std::string& name, const FeatureMap& x,
                                 const std::string& group) {
  if (spec(x.id).layout() == Layout::Tile) return x;
  FeatureMap out = x;
  const std::uint64_t rows = static_cast<std::uint64_t>(x.batch) * x.height * x.width;
  const bool aligned = tile_aligned_rows(rows) && x.channels % ops::kTileWidth == 0;
  // Tilized into the group's format (ROW_MAJOR tensors can only hold bfloat16), so tiles from
  // here meet the group's other tensors in one dtype (concat needs it).
  out.id = move(name, aligned ? "tilize" : "tilize_with_val_padding", {x.id},
                json{{"output_dtype", dtype_name(group)}}, group);
  return out;
}

std::int64_t ModelBuilder::row_shard_cores(std::uint64_t rows) const {
  const std::uint64_t cores =
      static_cast<std::uint64_t>(graph_.device().worker_grid_x()) * graph_.device().worker_grid_y();
  std::uint64_t used = std::min(rows, cores);
  while (rows % used != 0) --used;
  return static_cast<std::int64_t>(used);
}

FeatureMap ModelBuilder::upsample(const std::string& name, const FeatureMap& x,
                                  std::uint32_t factor, const std::string& mode,
                                  const std::string& group, std::uint32_t crop_height,
                                  std::uint32_t crop_width) {
  TensorId t = x.id;
  if (spec(t).layout() == Layout::Tile)
    t = move(name + ".untilize", "untilize_with_unpadding", {t}, json::object(), group);
  // ttnn.upsample takes the 4-D NHWC view.
  t = move(name + ".to_nhwc", "reshape", {t},
           json{{"shape", ints({x.batch, x.height, x.width, x.channels})}}, group);
  json params{{"scale_factor", ints({factor, factor})}, {"mode", mode}};
  if (mode == "bilinear") params["math_fidelity"] = fidelity(group);

  // It runs on L1 height shards: bilinear on any (it gathers its halo rows), over the whole
  // worker grid; nearest on shards of whole image rows, over the largest core count that splits
  // the N*H image rows (it also runs interleaved).
  auto shard_cores = [&](std::uint64_t image_rows) -> std::int64_t {
    if (mode == "bilinear") {
      return static_cast<std::int64_t>(graph_.device().worker_grid_x()) *
             graph_.device().worker_grid_y();
    }
    return row_shard_cores(image_rows);
  };
  auto row_sharded = [&](const TensorSpec& s, std::uint64_t image_rows) {
    const auto cores = static_cast<std::uint32_t>(shard_cores(image_rows));
    return s.with_memory_config(
        ops::memory_config_from_keyword("l1-height-sharded", s, cores, 1, graph_.device()));
  };
  auto shard = [&](const std::string& node, TensorId tensor, std::uint64_t image_rows) {
    return move(
        node, spec(tensor).is_sharded() ? "reshard" : "interleaved_to_sharded", {tensor},
        json{{"output_memory", "l1-height-sharded"}, {"grid", ints({shard_cores(image_rows), 1})}},
        group);
  };
  const std::uint64_t image_rows = static_cast<std::uint64_t>(x.batch) * x.height;
  const TensorSpec in = spec(t);
  const bool row_shards = in.is_sharded() && in.memory_config().is_l1() &&
                          in.memory_config().layout() == ops::TensorMemoryLayout::HeightSharded &&
                          (mode == "bilinear" || in.shard_spec().height() % x.width == 0);
  TensorId up = 0;
  if (row_shards && accepts_specs("upsample", {in}, params, {t})) {
    up = move(name, "upsample", {t}, params, group);
  } else if (accepts_specs("upsample", {row_sharded(in, image_rows)}, params, {t})) {
    up = move(name, "upsample", {shard(name + ".shard", t, image_rows)}, params, group);
  } else if (mode == "nearest") {
    // Nearest also runs DRAM to DRAM.
    if (in.is_sharded())
      t = move(name + ".to_dram", "sharded_to_interleaved", {t}, json::object(), group);
    up = move(name, "upsample", {t}, params, group);
  } else {
    // Too large for L1 at once: bands of input rows, each with the one-row halo bilinear reads
    // on either side, upsampled in L1; the rows each band owns go to DRAM and are joined.
    if (in.is_sharded())
      t = move(name + ".to_dram", "sharded_to_interleaved", {t}, json::object(), group);
    const TensorSpec source = spec(t);
    // Input rows [first, last) of the band owning output rows [factor*a, factor*b).
    auto band_rows = [&](std::uint32_t a, std::uint32_t b) {
      return std::pair<std::uint32_t, std::uint32_t>{a == 0 ? 0 : a - 1, std::min(x.height, b + 1)};
    };
    auto fits = [&](std::uint32_t per_band) {
      for (std::uint32_t a = 0; a < x.height; a += per_band) {
        const auto [first, last] = band_rows(a, std::min(x.height, a + per_band));
        const TensorSpec band(Shape({x.batch, last - first, x.width, x.channels}),
                              source.data_type(), Layout::RowMajor);
        if (!accepts_specs(
                "upsample",
                {row_sharded(band, static_cast<std::uint64_t>(x.batch) * (last - first))}, params,
                {t})) {
          return false;
        }
      }
      return true;
    };
    std::uint32_t per_band = 0;
    for (std::uint32_t count = 2; count <= x.height && per_band == 0; ++count) {
      if (fits((x.height + count - 1) / count)) per_band = (x.height + count - 1) / count;
    }
    if (per_band == 0)
      throw Error("model builder: upsample " + name + " does not fit L1 even one row at a time");
    std::vector<TensorId> pieces;
    for (std::uint32_t a = 0, i = 0; a < x.height; a += per_band, ++i) {
      const std::uint32_t b_end = std::min(x.height, a + per_band);
      const auto [first, last] = band_rows(a, b_end);
      const std::string band_name = name + ".slice" + std::to_string(i);
      TensorId band = move(band_name + ".input", "slice", {t},
                           json{{"begins", ints({0, first, 0, 0})},
                                {"ends", ints({x.batch, last, x.width, x.channels})}},
                           group);
      band =
          shard(band_name + ".shard", band, static_cast<std::uint64_t>(x.batch) * (last - first));
      band = move(band_name, "upsample", {band}, params, group);
      const std::int64_t keep_first = static_cast<std::int64_t>(factor) * (a - first);
      const std::int64_t keep_last = keep_first + static_cast<std::int64_t>(factor) * (b_end - a);
      pieces.push_back(
          move(band_name + ".own_rows", "slice", {band},
               json{{"begins", ints({0, keep_first, 0, 0})},
                    {"ends", ints({x.batch, keep_last, static_cast<std::int64_t>(factor) * x.width,
                                   x.channels})},
                    {"output_memory", "dram-interleaved"}},
               group));
    }
    up = move(name + ".join", "concat", pieces, json{{"dim", 1}}, group);
  }

  FeatureMap out = x;
  out.height = crop_height ? crop_height : x.height * factor;
  out.width = crop_width ? crop_width : x.width * factor;
  if (out.height > x.height * factor || out.width > x.width * factor) {
    throw Error("model builder: upsample " + name + " cannot crop to " +
                std::to_string(out.height) + "x" + std::to_string(out.width) +
                ", larger than its output");
  }
  if (out.height != x.height * factor || out.width != x.width * factor) {
    up = move(name + ".crop", "slice", {up},
              json{{"begins", ints({0, 0, 0, 0})},
                   {"ends", ints({x.batch, out.height, out.width, x.channels})},
                   {"output_memory", "dram-interleaved"}},
              group);
  }
  const json flat{
      {"shape",
       ints({1, 1, static_cast<std::int64_t>(out.batch) * out.height * out.width, out.channels})}};
  // The reshape copies: a large L1 map and its copy may not fit together, so go through DRAM.
  if (spec(up).memory_config().is_l1() && !accepts("reshape", {up}, flat)) {
    up = move(name + ".to_dram", spec(up).is_sharded() ? "sharded_to_interleaved" : "move", {up},
              json{{"output_memory", "dram-interleaved"}}, group);
  }
  out.id = move(name + ".flatten", "reshape", {up}, flat, group);
  return to_tile(name + ".tilize", out, group);
}

FeatureMap ModelBuilder::concat_channels(const std::string& name,
                                         const std::vector<FeatureMap>& maps,
                                         const std::string& group) {
  if (maps.empty()) throw Error("model builder: concat " + name + " of no maps");
  std::vector<TensorId> ids;
  FeatureMap out = maps.front();
  out.channels = 0;
  for (const FeatureMap& m : maps) {
    if (m.batch != out.batch || m.height != out.height || m.width != out.width) {
      throw Error("model builder: concat " + name + " joins maps of different sizes");
    }
    ids.push_back(m.id);
    out.channels += m.channels;
  }
  out.id = move(name, "concat", ids, json{{"dim", 3}}, group);
  return out;
}

FeatureMap ModelBuilder::slice_channels(const std::string& name, const FeatureMap& x,
                                        std::uint32_t first, std::uint32_t count,
                                        const std::string& group) {
  const auto d = dims4(x.id);
  FeatureMap out = x;
  out.channels = count;
  out.id = move(
      name, "slice", {x.id},
      json{{"begins", ints({0, 0, 0, first})}, {"ends", ints({d[0], d[1], d[2], first + count})}},
      group);
  return out;
}

FeatureMap ModelBuilder::add_maps(const std::string& name, const FeatureMap& a, const FeatureMap& b,
                                  const std::string& group, const std::string& activation) {
  json params = json::object();
  if (!activation.empty()) params["activation"] = activation;
  FeatureMap out = a;
  out.id = compute(name, "add", {a.id, b.id}, params, group);
  return out;
}

TensorId ModelBuilder::attention(const std::string& name, TensorId q, TensorId k_t, TensorId v,
                                 std::uint32_t heads, std::uint32_t kv_heads, double scale,
                                 const std::string& group, std::optional<TensorId> mask) {
  const auto qd = dims4(q);  // [B, H, S, D]
  TensorId query = q;
  if (kv_heads != heads) {
    // Query heads sharing one KV head become rows of one matmul (a view when S is whole tiles).
    query = move(
        name + ".fold_heads", "reshape", {q},
        json{{"shape",
              ints({qd[0], kv_heads, static_cast<std::int64_t>(heads / kv_heads) * qd[2], qd[3]})}},
        group);
  }
  TensorId scores = matmul(name + ".scores", query, k_t, group);
  scores = softmax(name + ".softmax", scores, scale, group, mask);
  TensorId context = matmul(name + ".context", scores, v, group);
  if (kv_heads != heads) {
    context = move(name + ".unfold_heads", "reshape", {context},
                   json{{"shape", ints({qd[0], heads, qd[2], qd[3]})}}, group);
  }
  return context;
}

}  // namespace wormsim::workloads::models
