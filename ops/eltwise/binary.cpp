#include "ops/eltwise/binary.hpp"

#include <algorithm>
#include <array>

#include "ops/numerics/fidelity_matmul.hpp"
#include "ops/unary_functions.hpp"

namespace wormsim::ops {
namespace {

std::string op_name(BinaryOpType type) {
  switch (type) {
    case BinaryOpType::Add:
      return "add";
    case BinaryOpType::Sub:
      return "sub";
    case BinaryOpType::Mul:
      return "mul";
  }
  return "?";
}

// Which operand is broadcast inside the tile (binary_ng's SubtileBroadcastType): a logical
// height of 1 against a taller output is a ROW broadcast, a width of 1 a COL broadcast.
std::string subtile_broadcast(const TensorSpec& a, const TensorSpec& b, const Shape& out) {
  auto kind = [&](const TensorSpec& t) -> std::string {
    const bool row = t.logical_shape().y() == 1 && out.y() > 1;
    const bool col = t.logical_shape().x() == 1 && out.x() > 1;
    if (row && col) return "SCALAR";
    if (row) return "ROW";
    if (col) return "COL";
    return "";
  };
  const std::string ka = kind(a);
  const std::string kb = kind(b);
  if (ka.empty() && kb.empty()) return "NONE";
  if (ka.empty()) return kb + "_B";
  if (kb.empty()) return ka + "_A";
  return ka + "_A_" + kb + "_B";
}

// Offsets into an input's padded buffer for every element of the output's padded buffer:
// broadcast dims (logical size 1 against a larger output) read index 0.
std::vector<std::uint64_t> broadcast_offsets(const TensorSpec& in, const TensorSpec& out) {
  const auto po = out.padded_shape().wzyx();
  const auto lo = out.logical_shape().wzyx();
  const auto pi = in.padded_shape().wzyx();
  const auto li = in.logical_shape().wzyx();
  std::array<bool, 4> bcast{};
  for (std::size_t d = 0; d < 4; ++d) bcast[d] = li[d] == 1 && lo[d] > 1;
  std::vector<std::uint64_t> offsets;
  offsets.reserve(out.padded_shape().volume());
  for (std::uint32_t w = 0; w < po[0]; ++w) {
    for (std::uint32_t z = 0; z < po[1]; ++z) {
      for (std::uint32_t y = 0; y < po[2]; ++y) {
        const std::uint64_t wi = bcast[0] ? 0 : w;
        const std::uint64_t zi = bcast[1] ? 0 : z;
        const std::uint64_t yi = bcast[2] ? 0 : y;
        const std::uint64_t row = ((wi * pi[1] + zi) * pi[2] + yi) * pi[3];
        for (std::uint32_t x = 0; x < po[3]; ++x) offsets.push_back(row + (bcast[3] ? 0 : x));
      }
    }
  }
  return offsets;
}

std::vector<float> gather(const std::vector<float>& values,
                          const std::vector<std::uint64_t>& offsets) {
  std::vector<float> out(offsets.size());
  for (std::size_t i = 0; i < offsets.size(); ++i) out[i] = values[offsets[i]];
  return out;
}

}  // namespace

std::string_view to_string(BinaryOpType type) {
  switch (type) {
    case BinaryOpType::Add:
      return "ADD";
    case BinaryOpType::Sub:
      return "SUB";
    case BinaryOpType::Mul:
      return "MUL";
  }
  return "?";
}

Shape broadcast_shape(const Shape& a, const Shape& b, const std::string& op) {
  const std::size_t rank = std::max(a.rank(), b.rank());
  std::vector<std::uint32_t> dims(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    // Aligned at the last dim; a missing leading dim counts as 1.
    const std::uint32_t da = i < rank - a.rank() ? 1 : a[i - (rank - a.rank())];
    const std::uint32_t db = i < rank - b.rank() ? 1 : b[i - (rank - b.rank())];
    if (da != db && da != 1 && db != 1) {
      throw Error(op + ": shapes " + to_string(a) + " and " + to_string(b) +
                  " do not broadcast: dim " + std::to_string(i) + " is " + std::to_string(da) +
                  " vs " + std::to_string(db) + "; each dim must match or be 1 in one of them");
    }
    dims[i] = std::max(da, db);
  }
  return Shape(dims);
}

bool BinaryOp::fp32_dest(const std::vector<TensorSpec>& inputs, const TensorSpec& output) const {
  return options_.compute.fp32_dest_acc_en || output.data_type() == DataType::Float32 ||
         (inputs[0].data_type() == DataType::Float32 && inputs[1].data_type() == DataType::Float32);
}

std::string BinaryOp::attributes() const {
  const std::string post = options_.activation.empty()
                               ? "SmallVector([])"
                               : "SmallVector([" + unary_attribute(options_.activation) + "])";
  std::string s =
      "{'binary_op_type': 'BinaryOpType::" + std::string(to_string(options_.type)) + "'; ";
  s += "'compute_kernel_config': '" + to_attribute_string(options_.compute) + "'; ";
  s += "'dtype': '" + dtype_attribute(output_dtype_) + "'; ";
  s += "'input_dtype': '" + dtype_attribute(input_dtype_) + "'; ";
  s += "'is_sfpu': '" + bool_attribute(is_sfpu_) + "'; ";
  s += "'lhs_activations': 'SmallVector([])'; ";
  s += "'memory_config': '" + memory_attribute(memory_) + "'; ";
  s += "'post_activations': '" + post + "'; ";
  s += "'rhs_activations': 'SmallVector([])'; ";
  s += "'scalar': 'std::nullopt'; ";
  s += "'subtile_broadcast_type': 'SubtileBroadcastType::" + subtile_broadcast_ + "'; ";
  s += "'worker_grid': '" + worker_grid_ + "'}";
  return s;
}

std::vector<TensorSpec> BinaryOp::output_specs(const std::vector<TensorSpec>& inputs,
                                               const arch::DeviceSpec& device) const {
  const std::string op = op_name(options_.type);
  if (inputs.size() != 2)
    throw Error(op + " takes two inputs (a, b); got " + std::to_string(inputs.size()));
  require_tile_layout(inputs, op);
  const TensorSpec& a = inputs[0];
  const TensorSpec& b = inputs[1];
  const Shape out_shape = broadcast_shape(a.logical_shape(), b.logical_shape(), op);
  if (!options_.activation.empty()) {
    if (!is_known_unary(options_.activation)) {
      throw Error(op + ": unknown activation '" + options_.activation +
                  "'; use one of gelu, relu, silu, exp, sigmoid, tanh, sqrt, rsqrt, reciprocal, "
                  "square, abs, log");
    }
    sfpu_tile_cycles(device, options_.activation);  // the spec must cost it
  }
  const DataType out_dtype = options_.output_dtype.value_or(a.data_type());
  // Default placement: that of the operand shaped like the output (TT-NN uses a's config).
  MemoryConfig memory = MemoryConfig::dram_interleaved();
  if (options_.output_memory) {
    memory = *options_.output_memory;
  } else if (a.logical_shape() == out_shape) {
    memory = a.memory_config();
  } else if (b.logical_shape() == out_shape) {
    memory = b.memory_config();
  }
  TensorSpec out(out_shape, out_dtype, Layout::Tile, memory);
  validate_for_device(out, device);
  memory_ = memory;
  subtile_broadcast_ = subtile_broadcast(a, b, out_shape);
  is_sfpu_ = a.data_type() == DataType::Float32 && b.data_type() == DataType::Float32;
  input_dtype_ = a.data_type();
  output_dtype_ = out_dtype;
  const auto [cores, most] = stream_core_load(stream_spec(inputs, out, device), device);
  (void)most;
  if (is_l1_sharded(out)) {
    std::string grid = to_string(out.shard_spec().grid);
    std::replace(grid.begin(), grid.end(), ',', ';');
    worker_grid_ = grid;
  } else {
    std::string grid = to_string(
        num_cores_to_core_range_set(static_cast<std::uint32_t>(std::max<std::uint64_t>(1, cores)),
                                    device.worker_grid_x(), device.worker_grid_y()));
    std::replace(grid.begin(), grid.end(), ',', ';');
    worker_grid_ = grid;
  }
  return {out};
}

sim::Cycle BinaryOp::tile_cycles(const std::vector<TensorSpec>& inputs, const TensorSpec& output,
                                 const arch::DeviceSpec& device) const {
  const arch::ComputeSpec& c = device.compute;
  sim::Cycle math =
      options_.type == BinaryOpType::Mul
          ? c.eltwise_mul_tile_cycles[static_cast<int>(options_.compute.math_fidelity)]
          : c.eltwise_add_tile_cycles;
  sim::Cycle cycles = unpack_tile_cycles(device, inputs[0].data_type()) +
                      unpack_tile_cycles(device, inputs[1].data_type()) + math +
                      pack_tile_cycles(device, output.data_type());
  // An add's fused relu is the packer's (PACK_RELU); other activations run on the SFPU.
  if (!options_.activation.empty()) {
    cycles += options_.type == BinaryOpType::Add
                  ? fused_activation_tile_cycles(device, options_.activation)
                  : sfpu_tile_cycles(device, options_.activation);
  }
  return cycles;
}

StreamProgramSpec BinaryOp::stream_spec(const std::vector<TensorSpec>& inputs,
                                        const TensorSpec& output,
                                        const arch::DeviceSpec& device) const {
  StreamProgramSpec plan{{}, output, tile_cycles(inputs, output, device), 1};
  for (std::size_t i = 0; i < 2; ++i)
    plan.inputs.push_back(StreamOperand{inputs[i], broadcast_tile_map(inputs[i], output)});
  ComputeKernelConfig dst_config = options_.compute;
  dst_config.fp32_dest_acc_en = fp32_dest(inputs, output);
  plan.block_tiles = dst_tiles(device, dst_config);
  return plan;
}

std::vector<Tensor> BinaryOp::compute(const std::vector<Tensor>& inputs,
                                      const std::vector<TensorSpec>& outputs) const {
  const TensorSpec& out_spec = outputs[0];
  const Tensor& a = inputs[0];
  const Tensor& b = inputs[1];
  const std::vector<std::uint64_t> a_off = broadcast_offsets(a.spec(), out_spec);
  const std::vector<std::uint64_t> b_off = broadcast_offsets(b.spec(), out_spec);
  const DataType a_type = a.spec().data_type();
  const DataType b_type = b.spec().data_type();
  const bool sfpu = a_type == DataType::Float32 && b_type == DataType::Float32;
  const bool fp32 = fp32_dest({a.spec(), b.spec()}, out_spec);

  // Device: operands as the unpacker delivers them (the SFPU path reads full fp32 from Dst).
  std::vector<float> va =
      gather(sfpu ? a.values() : src_register_values(a.values(), a_type), a_off);
  std::vector<float> vb =
      gather(sfpu ? b.values() : src_register_values(b.values(), b_type), b_off);
  auto values = std::make_shared<std::vector<float>>(va.size());
  switch (options_.type) {
    case BinaryOpType::Add:
      for (std::size_t i = 0; i < va.size(); ++i) (*values)[i] = va[i] + vb[i];
      round_to_dst(*values, fp32);
      break;
    case BinaryOpType::Sub:
      for (std::size_t i = 0; i < va.size(); ++i) (*values)[i] = va[i] - vb[i];
      round_to_dst(*values, fp32);
      break;
    case BinaryOpType::Mul:
      if (sfpu) {
        for (std::size_t i = 0; i < va.size(); ++i) (*values)[i] = va[i] * vb[i];
      } else {
        // mul_tiles: a is SrcA, b is SrcB; each fidelity phase accumulates into Dst.
        numerics::fidelity_eltwise_mul(va, vb, *values, options_.compute.math_fidelity, fp32,
                                       a_type, b_type);
      }
      break;
  }
  if (!options_.activation.empty()) {
    apply_unary(options_.activation, *values, options_.compute.math_approx_mode);
    round_to_dst(*values, fp32);
  }
  pack_to_output(*values, out_spec);

  // fp32 golden from the golden operands.
  const std::vector<float> ga = gather(a.has_golden() ? a.golden() : a.values(), a_off);
  const std::vector<float> gb = gather(b.has_golden() ? b.golden() : b.values(), b_off);
  auto golden = std::make_shared<std::vector<float>>(ga.size());
  for (std::size_t i = 0; i < ga.size(); ++i) {
    switch (options_.type) {
      case BinaryOpType::Add:
        (*golden)[i] = ga[i] + gb[i];
        break;
      case BinaryOpType::Sub:
        (*golden)[i] = ga[i] - gb[i];
        break;
      case BinaryOpType::Mul:
        (*golden)[i] = ga[i] * gb[i];
        break;
    }
  }
  if (!options_.activation.empty()) apply_unary_exact(options_.activation, *golden);
  return {Tensor(out_spec, values, golden)};
}

void BinaryOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                     const std::vector<TensorSpec>& outputs) const {
  build_stream_program(program, stream_spec(inputs, outputs[0], program.spec()));
}

PerfModel BinaryOp::perf_model(const std::vector<TensorSpec>& inputs,
                               const std::vector<TensorSpec>& outputs,
                               const arch::DeviceSpec& device) const {
  PerfModel model = Operation::perf_model(inputs, outputs, device);
  const double tiles = static_cast<double>(outputs[0].num_tiles());
  const double cycles =
      tiles * static_cast<double>(tile_cycles(inputs, outputs[0], device)) / device.worker_count();
  model.compute_ns = cycles * 1000.0 / device.clock_mhz;
  return model;
}

std::uint64_t BinaryOp::flops(const std::vector<TensorSpec>& inputs,
                              const std::vector<TensorSpec>& outputs) const {
  (void)inputs;
  return outputs[0].logical_shape().volume();
}

}  // namespace wormsim::ops
