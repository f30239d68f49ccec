#include "ops/eltwise/unary.hpp"

#include <algorithm>
#include <cmath>

#include "ops/numerics/number_formats.hpp"
#include "ops/unary_functions.hpp"

namespace wormsim::ops {
namespace {

bool is_32_bit(DataType type) {
  return type == DataType::Float32 || type == DataType::Int32 || type == DataType::UInt32;
}

bool is_float(DataType type) { return type != DataType::Int32 && type != DataType::UInt32; }

MemoryConfig default_memory(const std::optional<MemoryConfig>& requested, const TensorSpec& input) {
  return requested ? *requested : input.memory_config();
}

PerfModel stream_perf_model(const Operation& op, const std::vector<TensorSpec>& inputs,
                            const std::vector<TensorSpec>& outputs, const arch::DeviceSpec& device,
                            sim::Cycle tile_cycles) {
  PerfModel model = op.Operation::perf_model(inputs, outputs, device);
  const double cycles = static_cast<double>(outputs[0].num_tiles()) *
                        static_cast<double>(tile_cycles) / device.worker_count();
  model.compute_ns = cycles * 1000.0 / device.clock_mhz;
  return model;
}

}  // namespace

StreamProgramSpec unary_stream_spec(const TensorSpec& input, const TensorSpec& output,
                                    sim::Cycle tile_cycles, std::uint32_t block_tiles) {
  return StreamProgramSpec{
      {StreamOperand{input, [](TileRC t) { return t; }}}, output, tile_cycles, block_tiles};
}

// ---- UnaryOp ----

bool UnaryOp::fp32_dest(const TensorSpec& input, const TensorSpec& output) const {
  return options_.compute.fp32_dest_acc_en || is_32_bit(input.data_type()) ||
         is_32_bit(output.data_type());
}

std::string UnaryOp::attributes() const {
  std::string s = "{'fp32_dest_acc_en': '" + bool_attribute(fp32_dest_) + "'; ";
  s += "'op_chain': '{" + unary_attribute(options_.function) + "}'; ";
  s += "'output_dtype': '" + dtype_attribute(output_dtype_) + "'; ";
  s += "'output_memory_config': '" + memory_attribute(memory_) + "'; ";
  s += "'preserve_fp32_precision': '" + bool_attribute(options_.compute.fp32_dest_acc_en) + "'}";
  return s;
}

std::vector<TensorSpec> UnaryOp::output_specs(const std::vector<TensorSpec>& inputs,
                                              const arch::DeviceSpec& device) const {
  const std::string& op = options_.function;
  if (inputs.size() != 1)
    throw Error(op + " takes one input; got " + std::to_string(inputs.size()));
  require_tile_layout(inputs, op);
  if (!is_known_unary(op)) unary_exact(op, 0.0f);  // throws with the list of known functions
  sfpu_cycles(device, op, options_.compute.math_approx_mode);  // the spec must cost it
  const TensorSpec& in = inputs[0];
  if (!is_float(in.data_type())) {
    throw Error(op + ": input dtype " + std::string(to_string(in.data_type())) +
                " is an integer type; typecast it to a float type first");
  }
  const DataType out_dtype = options_.output_dtype.value_or(in.data_type());
  TensorSpec out(in.logical_shape(), out_dtype, Layout::Tile,
                 default_memory(options_.output_memory, in));
  validate_for_device(out, device);
  memory_ = out.memory_config();
  output_dtype_ = out_dtype;
  fp32_dest_ = fp32_dest(in, out);
  return {out};
}

sim::Cycle UnaryOp::tile_cycles(const TensorSpec& input, const TensorSpec& output,
                                const arch::DeviceSpec& device) const {
  return unpack_tile_cycles(device, input.data_type()) +
         sfpu_cycles(device, options_.function, options_.compute.math_approx_mode) +
         pack_tile_cycles(device, output.data_type());
}

std::vector<Tensor> UnaryOp::compute(const std::vector<Tensor>& inputs,
                                     const std::vector<TensorSpec>& outputs) const {
  const Tensor& in = inputs[0];
  const TensorSpec& out_spec = outputs[0];
  const bool fp32 = fp32_dest(in.spec(), out_spec);
  // Dst holds the input in fp32 (unpacked straight to Dst) or as bf16 via SrcA.
  auto values = std::make_shared<std::vector<float>>(
      fp32 ? in.values() : src_register_values(in.values(), in.spec().data_type()));
  round_to_dst(*values, fp32);
  apply_unary(options_.function, *values, options_.compute.math_approx_mode);
  round_to_dst(*values, fp32);
  pack_to_output(*values, out_spec);
  auto golden = std::make_shared<std::vector<float>>(in.has_golden() ? in.golden() : in.values());
  apply_unary_exact(options_.function, *golden);
  return {Tensor(out_spec, values, golden)};
}

void UnaryOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                    const std::vector<TensorSpec>& outputs) const {
  ComputeKernelConfig config = options_.compute;
  config.fp32_dest_acc_en = fp32_dest(inputs[0], outputs[0]);
  build_stream_program(
      program,
      unary_stream_spec(inputs[0], outputs[0], tile_cycles(inputs[0], outputs[0], program.spec()),
                        dst_tiles(program.spec(), config)));
}

PerfModel UnaryOp::perf_model(const std::vector<TensorSpec>& inputs,
                              const std::vector<TensorSpec>& outputs,
                              const arch::DeviceSpec& device) const {
  return stream_perf_model(*this, inputs, outputs, device,
                           tile_cycles(inputs[0], outputs[0], device));
}

// ---- TypecastOp ----

std::string TypecastOp::attributes() const {
  const bool fp32 = options_.compute.fp32_dest_acc_en || is_32_bit(input_dtype_) ||
                    is_32_bit(options_.output_dtype);
  std::string s = "{'fp32_dest_acc_en': '" + bool_attribute(fp32) + "'; ";
  s += "'input_dtype': '" + dtype_attribute(input_dtype_) + "'; ";
  s += "'output_dtype': '" + dtype_attribute(options_.output_dtype) + "'; ";
  s += "'output_memory_config': '" + memory_attribute(memory_) + "'}";
  return s;
}

std::vector<TensorSpec> TypecastOp::output_specs(const std::vector<TensorSpec>& inputs,
                                                 const arch::DeviceSpec& device) const {
  if (inputs.size() != 1)
    throw Error("typecast takes one input; got " + std::to_string(inputs.size()));
  require_tile_layout(inputs, "typecast");
  sfpu_tile_cycles(device, "typecast");
  const TensorSpec& in = inputs[0];
  TensorSpec out(in.logical_shape(), options_.output_dtype, Layout::Tile,
                 default_memory(options_.output_memory, in));
  validate_for_device(out, device);
  memory_ = out.memory_config();
  input_dtype_ = in.data_type();
  return {out};
}

sim::Cycle TypecastOp::tile_cycles(const TensorSpec& input, const TensorSpec& output,
                                   const arch::DeviceSpec& device) const {
  return unpack_tile_cycles(device, input.data_type()) + sfpu_tile_cycles(device, "typecast") +
         pack_tile_cycles(device, output.data_type());
}

std::vector<Tensor> TypecastOp::compute(const std::vector<Tensor>& inputs,
                                        const std::vector<TensorSpec>& outputs) const {
  const Tensor& in = inputs[0];
  const TensorSpec& out_spec = outputs[0];
  const bool fp32 = options_.compute.fp32_dest_acc_en || is_32_bit(in.spec().data_type()) ||
                    is_32_bit(out_spec.data_type());
  auto values = std::make_shared<std::vector<float>>(in.values());
  round_to_dst(*values, fp32);
  pack_to_output(*values, out_spec);
  // The reference keeps full precision; an integer target rounds like the device.
  auto golden = std::make_shared<std::vector<float>>(in.has_golden() ? in.golden() : in.values());
  if (!is_float(out_spec.data_type())) pack_to_output(*golden, out_spec);
  return {Tensor(out_spec, values, golden)};
}

void TypecastOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                       const std::vector<TensorSpec>& outputs) const {
  ComputeKernelConfig config = options_.compute;
  config.fp32_dest_acc_en = config.fp32_dest_acc_en || is_32_bit(inputs[0].data_type()) ||
                            is_32_bit(outputs[0].data_type());
  build_stream_program(
      program,
      unary_stream_spec(inputs[0], outputs[0], tile_cycles(inputs[0], outputs[0], program.spec()),
                        dst_tiles(program.spec(), config)));
}

PerfModel TypecastOp::perf_model(const std::vector<TensorSpec>& inputs,
                                 const std::vector<TensorSpec>& outputs,
                                 const arch::DeviceSpec& device) const {
  return stream_perf_model(*this, inputs, outputs, device,
                           tile_cycles(inputs[0], outputs[0], device));
}

}  // namespace wormsim::ops
