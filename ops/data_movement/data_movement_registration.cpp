// JSON parameters of the data-movement ops (graph nodes, `wormsim op --json`).
//
// Every op takes "output_memory" (dram-interleaved, l1-interleaved, l1-height-sharded,
// l1-width-sharded, l1-block-sharded, dram-sharded, or a TT-NN MemoryConfig string) and "grid"
// [x, y] for the sharded keywords; without "output_memory" it keeps TT-NN's default placement.
//
// Layout-changing ops need a ROW_MAJOR input for tilize; `wormsim op` builds TILE inputs from
// --shape, so tilize runs from a description file:
//   {"op": "tilize", "inputs": [{"shape": [1, 1, 64, 1024], "layout": "ROW_MAJOR"}], "params": {}}
#include <limits>

#include "ops/data_movement/data_movement.hpp"
#include "ops/op_registry.hpp"

namespace wormsim::ops {
namespace {

using nlohmann::json;

dm::OutputMemory output_memory_param(const json& p, const std::string& op,
                                     const std::string& fallback = "") {
  dm::OutputMemory memory;
  memory.keyword = param_string(p, op, "output_memory", fallback);
  const std::vector<std::int64_t> grid = param_ints(p, op, "grid", {0, 0});
  if (grid.size() != 2 || grid[0] < 0 || grid[1] < 0) throw Error(op + ": grid must be [x, y]");
  memory.grid_x = static_cast<std::uint32_t>(grid[0]);
  memory.grid_y = static_cast<std::uint32_t>(grid[1]);
  return memory;
}

std::optional<DataType> dtype_param(const json& p, const std::string& op, const std::string& key) {
  const std::string text = param_string(p, op, key, "");
  if (text.empty()) return std::nullopt;
  const auto parsed = parse_data_type(text);
  if (!parsed)
    throw Error(op + ": unknown " + key + " '" + text +
                "'; use float32, bfloat16, bfloat8_b, bfloat4_b or uint32");
  return parsed;
}

std::vector<std::int64_t> required_ints(const json& p, const std::string& op,
                                        const std::string& key, const std::string& example) {
  if (!p.contains(key))
    throw Error(op + ": parameter '" + key + "' is required, e.g. \"" + key + "\": " + example);
  return param_ints(p, op, key, {});
}

std::int64_t required_int(const json& p, const std::string& op, const std::string& key) {
  if (!p.contains(key)) throw Error(op + ": parameter '" + key + "' is required");
  return param_int(p, op, key, 0);
}

std::uint32_t positive(std::int64_t value, const std::string& op, const std::string& key) {
  if (value <= 0 || value > 0xFFFFFFFFll)
    throw Error(op + ": " + key + " must be a positive integer");
  return static_cast<std::uint32_t>(value);
}

std::unique_ptr<Operation> make_tilize(const json& p, bool with_padding) {
  const std::string op = with_padding ? "tilize_with_val_padding" : "tilize";
  std::vector<std::string> known{"output_memory", "grid", "output_dtype"};
  if (with_padding) known.insert(known.end(), {"output_padded_shape", "pad_value"});
  reject_unknown_params(p, op, known);
  TilizeOptions o;
  o.memory = output_memory_param(p, op);
  o.output_dtype = dtype_param(p, op, "output_dtype");
  o.with_padding = with_padding;
  if (with_padding) {
    if (p.contains("output_padded_shape")) {
      std::vector<std::uint32_t> dims;
      for (std::int64_t d : param_ints(p, op, "output_padded_shape", {}))
        dims.push_back(positive(d, op, "output_padded_shape"));
      o.output_padded_shape = Shape(dims);
    }
    o.pad_value = static_cast<float>(param_number(p, op, "pad_value", 0.0));
  }
  return std::make_unique<TilizeOp>(o);
}

std::unique_ptr<Operation> make_untilize(const json& p, bool with_unpadding) {
  const std::string op = with_unpadding ? "untilize_with_unpadding" : "untilize";
  std::vector<std::string> known{"output_memory", "grid"};
  if (with_unpadding) known.push_back("output_tensor_end");
  reject_unknown_params(p, op, known);
  UntilizeOptions o;
  o.memory = output_memory_param(p, op);
  o.with_unpadding = with_unpadding;
  if (with_unpadding && p.contains("output_tensor_end")) {
    std::vector<std::uint32_t> end;
    for (std::int64_t d : param_ints(p, op, "output_tensor_end", {})) {
      if (d < 0) throw Error(op + ": output_tensor_end entries must be >= 0 (inclusive ends)");
      end.push_back(static_cast<std::uint32_t>(d));
    }
    o.output_end = end;
  }
  return std::make_unique<UntilizeOp>(o);
}

std::unique_ptr<Operation> make_memory_move(const json& p, MemoryMoveKind kind,
                                            const std::string& op,
                                            const std::string& default_memory) {
  reject_unknown_params(p, op, {"output_memory", "grid"});
  return std::make_unique<MemoryMoveOp>(kind, output_memory_param(p, op, default_memory));
}

std::vector<std::pair<std::uint32_t, std::uint32_t>> padding_param(const json& p,
                                                                   const std::string& op) {
  if (!p.contains("padding") || !p["padding"].is_array()) {
    throw Error(op +
                ": parameter 'padding' is required: a (before, after) pair per dim, e.g. [[0, 0], "
                "[0, 13]]");
  }
  std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
  for (const json& pair : p["padding"]) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_integer() ||
        !pair[1].is_number_integer() || pair[0].get<std::int64_t>() < 0 ||
        pair[1].get<std::int64_t>() < 0) {
      throw Error(op +
                  ": every padding entry must be [before, after] with non-negative integers, got " +
                  pair.dump());
    }
    out.emplace_back(pair[0].get<std::uint32_t>(), pair[1].get<std::uint32_t>());
  }
  return out;
}

template <typename Factory>
OpFactory factory(Factory f) {
  return
      [f](const json& p, const std::vector<TensorSpec>&, const arch::DeviceSpec&) { return f(p); };
}

const OpRegistration tilize_registration(OpInfo{
    "tilize", "TilizeDeviceOperation",
    "ROW_MAJOR -> TILE of a tile-aligned tensor (unpack tilize on the Tensix)", 1, 1,
    factory([](const json& p) { return make_tilize(p, false); })});
const OpRegistration tilize_pad_registration(OpInfo{
    "tilize_with_val_padding", "TilizeWithValPaddingDeviceOperation",
    "ROW_MAJOR -> TILE, padding to whole tiles (or output_padded_shape) with pad_value", 1, 1,
    factory([](const json& p) { return make_tilize(p, true); })});
const OpRegistration untilize_registration(OpInfo{
    "untilize", "UntilizeDeviceOperation",
    "TILE -> ROW_MAJOR keeping the padded shape (pack untilize)", 1, 1,
    factory([](const json& p) { return make_untilize(p, false); })});
const OpRegistration untilize_unpad_registration(OpInfo{
    "untilize_with_unpadding", "UntilizeWithUnpaddingDeviceOperation",
    "TILE -> ROW_MAJOR of elements [0, output_tensor_end] (default: the logical shape)", 1, 1,
    factory([](const json& p) { return make_untilize(p, true); })});

const OpRegistration reshape_registration(OpInfo{
    "reshape", "ReshapeDeviceOperation",
    "new shape (one -1 allowed): a view when pages allow, else a copy", 1, 1,
    factory([](const json& p) {
      reject_unknown_params(p, "reshape", {"shape", "output_memory", "grid"});
      return std::make_unique<ReshapeOp>(
          ReshapeOptions{required_ints(p, "reshape", "shape", "[1, 1, 32, 64]"),
                         output_memory_param(p, "reshape")});
    })});
const OpRegistration permute_registration(OpInfo{
    "permute", "PermuteDeviceOperation", "reorders dims: output dim i = input dim dims[i]", 1, 1,
    factory([](const json& p) {
      reject_unknown_params(p, "permute", {"dims", "output_memory", "grid"});
      return std::make_unique<PermuteOp>(PermuteOptions{
          required_ints(p, "permute", "dims", "[0, 2, 1, 3]"), output_memory_param(p, "permute")});
    })});
const OpRegistration transpose_registration(OpInfo{
    "transpose", "TransposeDeviceOperation", "swaps dim0 and dim1 (default -2, -1: WH; 1, 2: HC)",
    1, 1, factory([](const json& p) {
      reject_unknown_params(p, "transpose", {"dim0", "dim1", "output_memory", "grid"});
      return std::make_unique<TransposeOp>(TransposeOptions{param_int(p, "transpose", "dim0", -2),
                                                            param_int(p, "transpose", "dim1", -1),
                                                            output_memory_param(p, "transpose")});
    })});
const OpRegistration concat_registration(OpInfo{
    "concat", "ConcatDeviceOperation", "joins the inputs along dim", 1, 16,
    factory([](const json& p) {
      reject_unknown_params(p, "concat", {"dim", "output_memory", "grid"});
      return std::make_unique<ConcatOp>(
          ConcatOptions{param_int(p, "concat", "dim", 0), output_memory_param(p, "concat")});
    })});
const OpRegistration slice_registration(OpInfo{
    "slice", "SliceDeviceOperation", "elements begins <= i < ends with steps, per dim", 1, 1,
    factory([](const json& p) {
      reject_unknown_params(p, "slice", {"begins", "ends", "steps", "output_memory", "grid"});
      return std::make_unique<SliceOp>(
          SliceOptions{required_ints(p, "slice", "begins", "[0, 0, 0, 0]"),
                       required_ints(p, "slice", "ends", "[1, 1, 32, 32]"),
                       param_ints(p, "slice", "steps", {}), output_memory_param(p, "slice")});
    })});
const OpRegistration padded_slice_registration(OpInfo{
    "padded_slice", "PaddedSliceDeviceOperation",
    "conv DRAM slicing: image rows [first, last) of every image of NHWC rows [1,1,N*H*W,C]", 1, 1,
    factory([](const json& p) {
      const std::string op = "padded_slice";
      reject_unknown_params(
          p, op, {"batch_size", "input_height", "input_width", "rows", "output_memory", "grid"});
      RowBandOptions o;
      o.batch = positive(required_int(p, op, "batch_size"), op, "batch_size");
      o.height = positive(required_int(p, op, "input_height"), op, "input_height");
      o.width = positive(required_int(p, op, "input_width"), op, "input_width");
      const std::vector<std::int64_t> rows = required_ints(p, op, "rows", "[0, 8]");
      if (rows.size() != 2 || rows[0] < 0 || rows[1] <= rows[0] || rows[1] > o.height) {
        throw Error(op + ": rows [first, last) need 0 <= first < last <= input_height (" +
                    std::to_string(o.height) + ")");
      }
      o.first_row = static_cast<std::uint32_t>(rows[0]);
      o.last_row = static_cast<std::uint32_t>(rows[1]);
      o.memory = output_memory_param(p, op);
      return std::make_unique<PaddedSliceOp>(std::move(o));
    })});
const OpRegistration slice_write_registration(OpInfo{
    "slice_write", "SliceWriteDeviceOperation",
    "conv DRAM slicing: writes row bands [1,1,N*h_i*W,C] into their places of [1,1,N*H*W,C]", 1, 64,
    factory([](const json& p) {
      const std::string op = "slice_write";
      reject_unknown_params(p, op,
                            {"batch_size", "input_width", "band_heights", "output_memory", "grid"});
      RowBandOptions o;
      o.batch = positive(required_int(p, op, "batch_size"), op, "batch_size");
      o.width = positive(required_int(p, op, "input_width"), op, "input_width");
      std::uint64_t height = 0;
      for (std::int64_t h : required_ints(p, op, "band_heights", "[8, 8]")) {
        o.band_heights.push_back(positive(h, op, "every band height"));
        height += static_cast<std::uint64_t>(h);
      }
      if (height > std::numeric_limits<std::uint32_t>::max())
        throw Error(op + ": the bands hold more rows than a tensor dim can");
      o.height = static_cast<std::uint32_t>(height);
      o.memory = output_memory_param(p, op);
      return std::make_unique<SliceWriteOp>(std::move(o));
    })});
const OpRegistration pad_registration(OpInfo{
    "pad", "PadDeviceOperation", "pads dims with (before, after) elements of value", 1, 1,
    factory([](const json& p) {
      reject_unknown_params(p, "pad", {"padding", "value", "output_memory", "grid"});
      return std::make_unique<PadOp>(PadOptions{
          padding_param(p, "pad"), static_cast<float>(param_number(p, "pad", "value", 0.0)),
          output_memory_param(p, "pad")});
    })});
const OpRegistration fold_registration(OpInfo{
    "fold", "FoldDeviceOperation",
    "space-to-depth [N,H,W,C] -> [N,H/sh,W/sw,C*sh*sw] (patch embedding)", 1, 1,
    factory([](const json& p) {
      reject_unknown_params(p, "fold", {"stride_h", "stride_w", "output_memory", "grid"});
      return std::make_unique<FoldOp>(
          FoldOptions{positive(required_int(p, "fold", "stride_h"), "fold", "stride_h"),
                      positive(required_int(p, "fold", "stride_w"), "fold", "stride_w"),
                      output_memory_param(p, "fold")});
    })});

const OpRegistration i2s_registration(OpInfo{
    "interleaved_to_sharded", "InterleavedToShardedDeviceOperation",
    "interleaved -> sharded (output_memory + grid); each shard's core pulls its pages", 1, 1,
    factory([](const json& p) {
      return make_memory_move(p, MemoryMoveKind::InterleavedToSharded, "interleaved_to_sharded",
                              "");
    })});
const OpRegistration s2i_registration(OpInfo{
    "sharded_to_interleaved", "ShardedToInterleavedDeviceOperation",
    "sharded -> interleaved (default DRAM); each shard's core pushes its pages", 1, 1,
    factory([](const json& p) {
      return make_memory_move(p, MemoryMoveKind::ShardedToInterleaved, "sharded_to_interleaved",
                              "");
    })});
const OpRegistration reshard_registration(OpInfo{
    "reshard", "ReshardDeviceOperation", "sharded -> another sharding (output_memory + grid)", 1, 1,
    factory([](const json& p) {
      return make_memory_move(p, MemoryMoveKind::Reshard, "reshard", "");
    })});
const OpRegistration move_registration(OpInfo{
    "move", "MoveDeviceOperation",
    "copies a tensor to a new buffer (optionally another memory config)", 1, 1,
    factory([](const json& p) { return make_memory_move(p, MemoryMoveKind::Move, "move", ""); })});

const OpRegistration qkv_registration(OpInfo{
    "nlp_create_qkv_heads", "NLPCreateHeadsDeviceOperation",
    "fused QKV [B,1,S,(H+2KVH)*D] -> Q [B,H,S,D], K [B,KVH,S,D] or [B,KVH,D,S], V [B,KVH,S,D]", 1,
    2, factory([](const json& p) {
      const std::string op = "nlp_create_qkv_heads";
      reject_unknown_params(
          p, op, {"num_heads", "num_kv_heads", "transpose_k_heads", "output_memory", "grid"});
      NlpCreateQkvHeadsOptions o;
      o.num_heads = positive(required_int(p, op, "num_heads"), op, "num_heads");
      if (p.contains("num_kv_heads"))
        o.num_kv_heads = positive(param_int(p, op, "num_kv_heads", 0), op, "num_kv_heads");
      o.transpose_k_heads = param_bool(p, op, "transpose_k_heads", true);
      o.memory = output_memory_param(p, op);
      return std::make_unique<NlpCreateQkvHeadsOp>(o);
    })});
const OpRegistration concat_heads_registration(OpInfo{
    "nlp_concat_heads", "NLPConcatHeadsDeviceOperation", "[B,H,S,D] -> [B,1,S,H*D]", 1, 1,
    factory([](const json& p) {
      reject_unknown_params(p, "nlp_concat_heads", {"output_memory", "grid"});
      return std::make_unique<NlpConcatHeadsOp>(output_memory_param(p, "nlp_concat_heads"));
    })});
const OpRegistration embedding_registration(OpInfo{
    "embedding", "EmbeddingsDeviceOperation",
    "indices UINT32 ROW_MAJOR [B,1,1,S] + weight ROW_MAJOR [1,1,V,D] -> [B,1,S,D] (layout "
    "ROW_MAJOR or TILE)",
    2, 2, factory([](const json& p) {
      const std::string op = "embedding";
      reject_unknown_params(p, op, {"layout", "output_dtype", "output_memory", "grid"});
      EmbeddingOptions o;
      const std::string layout = param_string(p, op, "layout", "ROW_MAJOR");
      const auto parsed = parse_layout(layout);
      if (!parsed) throw Error(op + ": unknown layout '" + layout + "'; use ROW_MAJOR or TILE");
      o.output_layout = *parsed;
      o.output_dtype = dtype_param(p, op, "output_dtype");
      o.memory = output_memory_param(p, op);
      return std::make_unique<EmbeddingOp>(o);
    })});

}  // namespace
}  // namespace wormsim::ops
