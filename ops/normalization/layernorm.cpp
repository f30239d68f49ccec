#include "ops/normalization/layernorm.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "ops/normalization/row_numerics.hpp"

namespace wormsim::ops {
namespace {

using sim::Cycle;

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

DataType intermediate_format(const ComputeKernelConfig& config) {
  return config.fp32_dest_acc_en ? DataType::Float32 : DataType::BFloat16;
}

// gamma (inputs[1]) and beta (inputs[2]) must hold one value per normalized column.
void check_affine(const std::vector<TensorSpec>& inputs, std::uint32_t columns,
                  const std::string& op) {
  const char* names[] = {"gamma", "beta"};
  for (std::size_t i = 1; i < inputs.size(); ++i) {
    const Shape& s = inputs[i].logical_shape();
    if (s.x() != columns || s.volume() != columns) {
      throw Error(op + ": " + names[i - 1] + " " + to_string(s) +
                  " must hold one value per column: shape [1, 1, 1, " + std::to_string(columns) +
                  "] (or [" + std::to_string(columns) + "])");
    }
  }
}

MemoryConfig output_memory(const std::optional<MemoryConfig>& requested, const TensorSpec& input) {
  return requested ? *requested : input.memory_config();
}

// Costs of the fused gamma multiply and beta add on every output tile.
Cycle affine_tile_cycles(const std::vector<TensorSpec>& inputs, DataType im,
                         const arch::DeviceSpec& device, arch::MathFidelity fidelity) {
  const arch::ComputeSpec& c = device.compute;
  Cycle cycles = 0;
  if (inputs.size() > 1) {
    cycles += pack_tile_cycles(device, im) + unpack_tile_cycles(device, im) +
              unpack_tile_cycles(device, inputs[1].data_type()) +
              c.eltwise_mul_tile_cycles[static_cast<int>(fidelity)];
  }
  if (inputs.size() > 2) {
    cycles += pack_tile_cycles(device, im) + unpack_tile_cycles(device, im) +
              unpack_tile_cycles(device, inputs[2].data_type()) + c.eltwise_add_tile_cycles;
  }
  return cycles;
}

// 1 / sqrt(var + eps) of one statistic tile: add eps, one SFPU rsqrt (TT-NN's norm kernels
// call rsqrt_tile), pack.
Cycle rstd_cycles(DataType im, const arch::DeviceSpec& device, bool approx) {
  return device.compute.eltwise_add_tile_cycles + sfpu_cycles(device, "rsqrt", approx) +
         pack_tile_cycles(device, im);
}

const std::vector<float>& golden_or_values(const Tensor& t) {
  return t.has_golden() ? t.golden() : t.values();
}

}  // namespace

double row_program_ideal_cycles(const RowProgramSpec& spec, std::uint64_t domains,
                                const arch::DeviceSpec& device) {
  double cycles = 0;
  for (const RowPass& p : spec.passes) {
    cycles += static_cast<double>(spec.input.num_tiles()) * static_cast<double>(p.tile_cycles) +
              static_cast<double>(domains) * static_cast<double>(p.domain_cycles);
  }
  return cycles / device.worker_count();
}

// ---- LayerNormOp ----

std::string LayerNormOp::attributes() const {
  std::string s = "{'compute_kernel_config': '" + to_attribute_string(options_.compute) + "'; ";
  s += "'eps': '" + format_number(options_.epsilon) + "'; ";
  s += "'norm_type': 'LayerNormType::" +
       std::string(options_.type == NormType::LayerNorm ? "LAYERNORM" : "RMSNORM") + "'; ";
  s += "'output_mem_config': '" + memory_attribute(memory_) + "'; ";
  s += "'program_config': '" +
       std::string(sharded_ ? "LayerNormShardedMultiCoreProgramConfig()"
                            : "LayerNormDefaultProgramConfig()") +
       "'}";
  return s;
}

std::vector<TensorSpec> LayerNormOp::output_specs(const std::vector<TensorSpec>& inputs,
                                                  const arch::DeviceSpec& device) const {
  const std::string op = options_.type == NormType::LayerNorm ? "layernorm" : "rmsnorm";
  if (inputs.empty() || inputs.size() > 3) {
    throw Error(op + " takes the input, optional gamma and optional beta; got " +
                std::to_string(inputs.size()) + " inputs");
  }
  require_tile_layout(inputs, op);
  const TensorSpec& in = inputs[0];
  check_affine(inputs, in.logical_shape().x(), op);
  if (options_.epsilon < 0) throw Error(op + ": epsilon must be >= 0");
  rstd_cycles(intermediate_format(options_.compute), device,
              options_.compute.math_approx_mode);  // the spec must cost rsqrt
  TensorSpec out(in.logical_shape(), options_.output_dtype.value_or(in.data_type()), Layout::Tile,
                 output_memory(options_.output_memory, in));
  validate_for_device(out, device);
  memory_ = out.memory_config();
  sharded_ = in.is_sharded();
  return {out};
}

RowProgramSpec LayerNormOp::row_program(const std::vector<TensorSpec>& inputs,
                                        const TensorSpec& output,
                                        const arch::DeviceSpec& device) const {
  const arch::ComputeSpec& c = device.compute;
  const DataType im = intermediate_format(options_.compute);
  const Cycle unpack_in = unpack_tile_cycles(device, inputs[0].data_type());
  const Cycle unpack_im = unpack_tile_cycles(device, im);
  const Cycle pack_im = pack_tile_cycles(device, im);
  const Cycle mul = c.eltwise_mul_tile_cycles[static_cast<int>(options_.compute.math_fidelity)];
  const Cycle add = c.eltwise_add_tile_cycles;
  const Cycle reduce = c.reduce_tile_cycles;
  const Cycle finish = affine_tile_cycles(inputs, im, device, options_.compute.math_fidelity) +
                       pack_tile_cycles(device, output.data_type());

  RowProgramSpec spec(inputs[0], output);
  spec.intermediate = im;
  spec.block_tiles = dst_tiles(device, options_.compute);
  spec.domain_of_row = [](std::uint64_t row) { return row; };
  for (std::size_t i = 1; i < inputs.size(); ++i) spec.column_operands.push_back(inputs[i]);
  if (options_.type == NormType::LayerNorm) {
    // E[x] (reduce with scaler 1/W); x - E[x] into an intermediate; its square; E[(x - E[x])^2].
    spec.passes.push_back(RowPass{"mean", unpack_in + reduce, pack_im, true, false});
    const Cycle centre = unpack_in + unpack_im + add + pack_im;
    const Cycle square = 2 * unpack_im + mul + pack_im;
    spec.passes.push_back(RowPass{"variance", centre + square + unpack_im + reduce,
                                  rstd_cycles(im, device, options_.compute.math_approx_mode), true,
                                  false});
    spec.passes.push_back(RowPass{"normalize", 2 * unpack_im + mul + finish, 0, false, true});
  } else {
    spec.passes.push_back(RowPass{"mean_square", 2 * unpack_in + mul + pack_im + unpack_im + reduce,
                                  rstd_cycles(im, device, options_.compute.math_approx_mode), true,
                                  false});
    spec.passes.push_back(
        RowPass{"normalize", unpack_in + unpack_im + mul + finish, 0, false, true});
  }
  return spec;
}

std::vector<Tensor> LayerNormOp::compute(const std::vector<Tensor>& inputs,
                                         const std::vector<TensorSpec>& outputs) const {
  const Tensor& in = inputs[0];
  const TensorSpec& out_spec = outputs[0];
  const bool fp32 = options_.compute.fp32_dest_acc_en;
  const arch::MathFidelity fidelity = options_.compute.math_fidelity;
  const bool layer = options_.type == NormType::LayerNorm;
  const std::uint32_t n = in.spec().logical_shape().x();
  const std::vector<float> x = src_register_values(in.values(), in.spec().data_type());
  const std::vector<float>& xg = golden_or_values(in);
  const bool has_gamma = inputs.size() > 1;
  const bool has_beta = inputs.size() > 2;
  // gamma / beta: row 0 of their padded buffers.
  std::vector<float> gamma, beta;
  if (has_gamma) gamma = src_register_values(inputs[1].values(), inputs[1].spec().data_type());
  if (has_beta) beta = src_register_values(inputs[2].values(), inputs[2].spec().data_type());
  const float scaler = bf16_constant(1.0 / n);
  const float eps = bf16_constant(options_.epsilon);

  auto values = std::make_shared<std::vector<float>>(out_spec.padded_shape().volume(), 0.0f);
  auto golden = std::make_shared<std::vector<float>>(out_spec.padded_shape().volume(), 0.0f);
  std::vector<float> centred(n);
  for (std::uint64_t off : logical_row_offsets(in.spec())) {
    const std::span<const float> row(x.data() + off, n);
    // Device.
    float mean = 0.0f;
    if (layer) mean = device_row_sum(row, scaler, fp32);
    for (std::uint32_t i = 0; i < n; ++i)
      centred[i] = layer ? round_to_dst(row[i] - mean, fp32) : row[i];
    const std::vector<float> squares = fpu_multiply(centred, centred, fidelity, fp32);
    const float var = device_row_sum(squares, scaler, fp32);
    const float rstd = round_to_dst(1.0f / std::sqrt(round_to_dst(var + eps, fp32)), fp32);
    std::vector<float> y = fpu_multiply_scalar(centred, rstd, fidelity, fp32);
    if (has_gamma) {
      round_to_dst(y, fp32);
      y = fpu_multiply(y, std::span<const float>(gamma.data(), n), fidelity, fp32);
    }
    if (has_beta) {
      for (std::uint32_t i = 0; i < n; ++i) y[i] = round_to_dst(y[i] + beta[i], fp32);
    }
    std::copy(y.begin(), y.end(), values->begin() + static_cast<std::ptrdiff_t>(off));
    // fp32 golden in double.
    double gmean = 0.0;
    if (layer) {
      for (std::uint32_t i = 0; i < n; ++i) gmean += xg[off + i];
      gmean /= n;
    }
    double gvar = 0.0;
    for (std::uint32_t i = 0; i < n; ++i) gvar += (xg[off + i] - gmean) * (xg[off + i] - gmean);
    gvar /= n;
    const double grstd = 1.0 / std::sqrt(gvar + options_.epsilon);
    for (std::uint32_t i = 0; i < n; ++i) {
      double v = (xg[off + i] - gmean) * grstd;
      if (has_gamma) v *= golden_or_values(inputs[1])[i];
      if (has_beta) v += golden_or_values(inputs[2])[i];
      (*golden)[off + i] = static_cast<float>(v);
    }
  }
  pack_to_output(*values, out_spec);
  return {Tensor(out_spec, values, golden)};
}

void LayerNormOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                        const std::vector<TensorSpec>& outputs) const {
  build_row_program(program, row_program(inputs, outputs[0], program.spec()));
}

PerfModel LayerNormOp::perf_model(const std::vector<TensorSpec>& inputs,
                                  const std::vector<TensorSpec>& outputs,
                                  const arch::DeviceSpec& device) const {
  PerfModel model = Operation::perf_model(inputs, outputs, device);
  const RowProgramSpec spec = row_program(inputs, outputs[0], device);
  model.compute_ns =
      row_program_ideal_cycles(spec, inputs[0].height_tiles(), device) * 1000.0 / device.clock_mhz;
  return model;
}

// ---- GroupNormOp ----

std::string GroupNormOp::attributes() const {
  std::string s = "{'compute_kernel_config': '" + to_attribute_string(options_.compute) + "'; ";
  s += "'eps': '" + format_number(options_.epsilon) + "'; ";
  s += "'num_groups': '" + std::to_string(options_.num_groups) + "'; ";
  s += "'output_mem_config': '" + memory_attribute(memory_) + "'}";
  return s;
}

std::vector<TensorSpec> GroupNormOp::output_specs(const std::vector<TensorSpec>& inputs,
                                                  const arch::DeviceSpec& device) const {
  if (inputs.empty() || inputs.size() > 3) {
    throw Error("groupnorm takes the input, optional gamma and optional beta; got " +
                std::to_string(inputs.size()) + " inputs");
  }
  require_tile_layout(inputs, "groupnorm");
  const TensorSpec& in = inputs[0];
  const Shape& shape = in.logical_shape();
  if (shape.rank() != 4 || shape.z() != 1) {
    throw Error("groupnorm: input " + to_string(shape) +
                " must be [N, 1, H*W, C] (TT-NN's group norm layout)");
  }
  if (shape.y() % kTileHeight != 0) {
    throw Error("groupnorm: H*W = " + std::to_string(shape.y()) + " must be a multiple of " +
                std::to_string(kTileHeight) + " so that no tile mixes two batches");
  }
  if (options_.num_groups == 0 || shape.x() % options_.num_groups != 0) {
    throw Error("groupnorm: C = " + std::to_string(shape.x()) +
                " is not divisible by num_groups = " + std::to_string(options_.num_groups));
  }
  check_affine(inputs, shape.x(), "groupnorm");
  if (options_.epsilon < 0) throw Error("groupnorm: epsilon must be >= 0");
  rstd_cycles(intermediate_format(options_.compute), device, options_.compute.math_approx_mode);
  TensorSpec out(shape, options_.output_dtype.value_or(in.data_type()), Layout::Tile,
                 output_memory(options_.output_memory, in));
  validate_for_device(out, device);
  memory_ = out.memory_config();
  return {out};
}

RowProgramSpec GroupNormOp::row_program(const std::vector<TensorSpec>& inputs,
                                        const TensorSpec& output,
                                        const arch::DeviceSpec& device) const {
  const arch::ComputeSpec& c = device.compute;
  const DataType im = intermediate_format(options_.compute);
  const Cycle unpack_in = unpack_tile_cycles(device, inputs[0].data_type());
  const Cycle unpack_im = unpack_tile_cycles(device, im);
  const Cycle unpack_mask = unpack_tile_cycles(device, DataType::BFloat16);
  const Cycle pack_im = pack_tile_cycles(device, im);
  const Cycle mul = c.eltwise_mul_tile_cycles[static_cast<int>(options_.compute.math_fidelity)];
  const Cycle add = c.eltwise_add_tile_cycles;
  const Cycle reduce = c.reduce_tile_cycles;
  const std::uint32_t channels = inputs[0].logical_shape().x();
  const std::uint32_t per_group = channels / options_.num_groups;
  // Each tile is processed once per group it overlaps (masked by that group's channel mask).
  std::uint64_t overlaps = 0;
  const std::uint64_t wt = inputs[0].width_tiles();
  for (std::uint64_t t = 0; t < wt; ++t) {
    const std::uint32_t first = static_cast<std::uint32_t>(t * kTileWidth);
    const std::uint32_t last = std::min<std::uint32_t>(channels, first + kTileWidth) - 1;
    overlaps += first < channels ? last / per_group - first / per_group + 1 : 1;
  }
  const Cycle groups_per_tile = std::max<Cycle>(1, (overlaps + wt - 1) / wt);
  const Cycle finish = affine_tile_cycles(inputs, im, device, options_.compute.math_fidelity) +
                       pack_tile_cycles(device, output.data_type());

  RowProgramSpec spec(inputs[0], output);
  spec.intermediate = im;
  spec.block_tiles = dst_tiles(device, options_.compute);
  const std::uint64_t batch_rows = inputs[0].padded_shape().y() / kTileHeight;
  spec.domain_of_row = [batch_rows](std::uint64_t row) { return row / batch_rows; };
  spec.whole_block_units = true;
  spec.stat_tiles_per_domain = (options_.num_groups + kTileWidth - 1) / kTileWidth;
  for (std::size_t i = 1; i < inputs.size(); ++i) spec.column_operands.push_back(inputs[i]);
  const Cycle groups = options_.num_groups;
  const Cycle masked_reduce = unpack_in + unpack_mask + mul + pack_im + unpack_im + reduce;
  spec.passes.push_back(
      RowPass{"mean", groups_per_tile * masked_reduce, groups * pack_im, true, false});
  const Cycle centre_square =
      unpack_in + unpack_im + add + pack_im + 2 * unpack_im + mul + pack_im + unpack_im + reduce;
  spec.passes.push_back(RowPass{"variance", groups_per_tile * centre_square,
                                groups * rstd_cycles(im, device, options_.compute.math_approx_mode),
                                true, false});
  const Cycle normalize = unpack_in + unpack_im + add + unpack_im + mul;
  spec.passes.push_back(RowPass{"normalize", groups_per_tile * normalize + finish, 0, false, true});
  return spec;
}

std::vector<Tensor> GroupNormOp::compute(const std::vector<Tensor>& inputs,
                                         const std::vector<TensorSpec>& outputs) const {
  const Tensor& in = inputs[0];
  const TensorSpec& out_spec = outputs[0];
  const bool fp32 = options_.compute.fp32_dest_acc_en;
  const arch::MathFidelity fidelity = options_.compute.math_fidelity;
  const auto l = in.spec().logical_shape().wzyx();
  const auto p = in.spec().padded_shape().wzyx();
  const std::uint32_t batches = l[0];
  const std::uint32_t hw = l[2];
  const std::uint32_t channels = l[3];
  const std::uint32_t per_group = channels / options_.num_groups;
  const std::vector<float> x = src_register_values(in.values(), in.spec().data_type());
  const std::vector<float>& xg = golden_or_values(in);
  const bool has_gamma = inputs.size() > 1;
  const bool has_beta = inputs.size() > 2;
  std::vector<float> gamma, beta;
  if (has_gamma) gamma = src_register_values(inputs[1].values(), inputs[1].spec().data_type());
  if (has_beta) beta = src_register_values(inputs[2].values(), inputs[2].spec().data_type());
  const double count = static_cast<double>(hw) * per_group;
  const float scaler = bf16_constant(1.0 / count);
  const float eps = bf16_constant(options_.epsilon);

  auto values = std::make_shared<std::vector<float>>(out_spec.padded_shape().volume(), 0.0f);
  auto golden = std::make_shared<std::vector<float>>(out_spec.padded_shape().volume(), 0.0f);
  auto at = [&](std::uint32_t n, std::uint32_t y, std::uint32_t ch) {
    return (static_cast<std::uint64_t>(n) * p[1] * p[2] + y) * p[3] + ch;
  };
  // The device reduces one tile (32 rows x the group's columns in that tile) at a time.
  auto device_group_sum = [&](const std::vector<float>& v, std::uint32_t c0) {
    float total = 0.0f;
    for (std::uint32_t y0 = 0; y0 < hw; y0 += kTileHeight) {
      for (std::uint32_t t0 = c0 - c0 % kTileWidth; t0 < c0 + per_group; t0 += kTileWidth) {
        float part = 0.0f;
        const std::uint32_t lo = std::max(c0, t0);
        const std::uint32_t hi = std::min(c0 + per_group, t0 + kTileWidth);
        for (std::uint32_t y = y0; y < y0 + kTileHeight; ++y) {
          for (std::uint32_t ch = lo; ch < hi; ++ch)
            part += v[static_cast<std::size_t>(y) * per_group + (ch - c0)];
        }
        total = round_to_dst(total + part * scaler, fp32);
      }
    }
    return total;
  };
  std::vector<float> group(static_cast<std::size_t>(hw) * per_group);
  std::vector<float> centred(group.size());
  for (std::uint32_t n = 0; n < batches; ++n) {
    for (std::uint32_t g = 0; g < options_.num_groups; ++g) {
      const std::uint32_t c0 = g * per_group;
      for (std::uint32_t y = 0; y < hw; ++y) {
        for (std::uint32_t ch = 0; ch < per_group; ++ch)
          group[static_cast<std::size_t>(y) * per_group + ch] = x[at(n, y, c0 + ch)];
      }
      // Device.
      const float mean = device_group_sum(group, c0);
      for (std::size_t i = 0; i < group.size(); ++i)
        centred[i] = round_to_dst(group[i] - mean, fp32);
      const float var = device_group_sum(fpu_multiply(centred, centred, fidelity, fp32), c0);
      const float rstd = round_to_dst(1.0f / std::sqrt(round_to_dst(var + eps, fp32)), fp32);
      std::vector<float> y = fpu_multiply_scalar(centred, rstd, fidelity, fp32);
      if (has_gamma) {
        round_to_dst(y, fp32);
        std::vector<float> g_row(y.size());
        for (std::size_t i = 0; i < y.size(); ++i) g_row[i] = gamma[c0 + i % per_group];
        y = fpu_multiply(y, g_row, fidelity, fp32);
      }
      for (std::size_t i = 0; i < y.size(); ++i) {
        const std::uint32_t row = static_cast<std::uint32_t>(i / per_group);
        const std::uint32_t ch = c0 + static_cast<std::uint32_t>(i % per_group);
        (*values)[at(n, row, ch)] = has_beta ? round_to_dst(y[i] + beta[ch], fp32) : y[i];
      }
      // fp32 golden in double.
      double gmean = 0.0;
      for (std::uint32_t r = 0; r < hw; ++r) {
        for (std::uint32_t ch = c0; ch < c0 + per_group; ++ch) gmean += xg[at(n, r, ch)];
      }
      gmean /= count;
      double gvar = 0.0;
      for (std::uint32_t r = 0; r < hw; ++r) {
        for (std::uint32_t ch = c0; ch < c0 + per_group; ++ch)
          gvar += (xg[at(n, r, ch)] - gmean) * (xg[at(n, r, ch)] - gmean);
      }
      gvar /= count;
      const double grstd = 1.0 / std::sqrt(gvar + options_.epsilon);
      for (std::uint32_t r = 0; r < hw; ++r) {
        for (std::uint32_t ch = c0; ch < c0 + per_group; ++ch) {
          double v = (xg[at(n, r, ch)] - gmean) * grstd;
          if (has_gamma) v *= golden_or_values(inputs[1])[ch];
          if (has_beta) v += golden_or_values(inputs[2])[ch];
          (*golden)[at(n, r, ch)] = static_cast<float>(v);
        }
      }
    }
  }
  pack_to_output(*values, out_spec);
  return {Tensor(out_spec, values, golden)};
}

void GroupNormOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                        const std::vector<TensorSpec>& outputs) const {
  build_row_program(program, row_program(inputs, outputs[0], program.spec()));
}

PerfModel GroupNormOp::perf_model(const std::vector<TensorSpec>& inputs,
                                  const std::vector<TensorSpec>& outputs,
                                  const arch::DeviceSpec& device) const {
  PerfModel model = Operation::perf_model(inputs, outputs, device);
  const RowProgramSpec spec = row_program(inputs, outputs[0], device);
  model.compute_ns = row_program_ideal_cycles(spec, inputs[0].logical_shape().w(), device) *
                     1000.0 / device.clock_mhz;
  return model;
}

}  // namespace wormsim::ops
