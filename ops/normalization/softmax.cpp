#include "ops/normalization/softmax.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "ops/normalization/row_numerics.hpp"
#include "ops/unary_functions.hpp"
#include "sim/parallel.hpp"

namespace wormsim::ops {
namespace {

using sim::Cycle;

bool fp32_dest(const ComputeKernelConfig& config) { return config.fp32_dest_acc_en; }

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// Element offsets of the mask for each logical row of the input (broadcast dims read 0).
std::uint64_t mask_row_offset(const TensorSpec& mask, const TensorSpec& input,
                              std::uint64_t input_row_index) {
  const auto li = input.logical_shape().wzyx();
  const auto lm = mask.logical_shape().wzyx();
  const auto pm = mask.padded_shape().wzyx();
  const std::uint64_t y = input_row_index % li[2];
  const std::uint64_t z = (input_row_index / li[2]) % li[1];
  const std::uint64_t w = input_row_index / (static_cast<std::uint64_t>(li[2]) * li[1]);
  const std::uint64_t wm = lm[0] == 1 ? 0 : w;
  const std::uint64_t zm = lm[1] == 1 ? 0 : z;
  const std::uint64_t ym = lm[2] == 1 ? 0 : y;
  return ((wm * pm[1] + zm) * pm[2] + ym) * pm[3];
}

}  // namespace

std::string SoftmaxOp::attributes() const {
  std::string s = "{'compute_kernel_config': '" + to_attribute_string(options_.compute) + "'; ";
  s += "'inplace': '" + bool_attribute(options_.inplace) + "'; ";
  s += "'is_causal_mask': 'false'; ";
  s += "'numeric_stable': '" + bool_attribute(options_.numeric_stable) + "'; ";
  s += "'output_mem_config': '" + memory_attribute(memory_) + "'; ";
  s += "'program_config': 'SoftmaxDefaultProgramConfig()'; ";
  s += "'scale': '" + format_number(options_.scale) + "'}";
  return s;
}

std::vector<TensorSpec> SoftmaxOp::output_specs(const std::vector<TensorSpec>& inputs,
                                                const arch::DeviceSpec& device) const {
  if (inputs.empty() || inputs.size() > 2) {
    throw Error("softmax takes the input and an optional mask; got " +
                std::to_string(inputs.size()) + " inputs");
  }
  require_tile_layout(inputs, "softmax");
  const TensorSpec& in = inputs[0];
  if (in.is_sharded() && in.memory_config().layout() != TensorMemoryLayout::HeightSharded) {
    throw Error(
        "softmax: a sharded input must be HEIGHT_SHARDED (each core needs whole rows); got " +
        std::string(to_string(in.memory_config().layout())));
  }
  if (inputs.size() == 2) {
    const auto li = in.logical_shape().wzyx();
    const auto lm = inputs[1].logical_shape().wzyx();
    const bool ok = lm[3] == li[3] && (lm[2] == 1 || lm[2] == li[2]) &&
                    (lm[1] == 1 || lm[1] == li[1]) && (lm[0] == 1 || lm[0] == li[0]);
    if (!ok) {
      throw Error("softmax: mask " + to_string(inputs[1].logical_shape()) + " does not fit input " +
                  to_string(in.logical_shape()) + "; the mask needs the input's last dim (" +
                  std::to_string(li[3]) + ") and 1 or the input's size in every other dim, e.g. [" +
                  std::to_string(li[0]) + ", 1, 1, " + std::to_string(li[3]) + "]");
    }
  }
  DataType out_dtype = options_.output_dtype.value_or(in.data_type());
  MemoryConfig memory = options_.output_memory.value_or(in.memory_config());
  if (options_.inplace) {
    if (out_dtype != in.data_type() || memory != in.memory_config()) {
      throw Error(
          "softmax: in-place output must keep the input's dtype and memory config; drop "
          "output_dtype / "
          "output_memory or set inplace=false");
    }
  }
  TensorSpec out(in.logical_shape(), out_dtype, Layout::Tile, memory);
  if (out.is_sharded() && out.memory_config().layout() != TensorMemoryLayout::HeightSharded) {
    throw Error("softmax: a sharded output must be HEIGHT_SHARDED");
  }
  validate_for_device(out, device);
  sfpu_tile_cycles(device, "exp");
  sfpu_tile_cycles(device, "reciprocal");
  memory_ = memory;
  return {out};
}

RowProgramSpec SoftmaxOp::row_program(const std::vector<TensorSpec>& inputs,
                                      const TensorSpec& output,
                                      const arch::DeviceSpec& device) const {
  const arch::ComputeSpec& c = device.compute;
  const DataType im = fp32_dest(options_.compute) ? DataType::Float32 : DataType::BFloat16;
  const Cycle unpack_in = unpack_tile_cycles(device, inputs[0].data_type());
  const Cycle unpack_im = unpack_tile_cycles(device, im);
  const Cycle pack_im = pack_tile_cycles(device, im);
  const Cycle mul = c.eltwise_mul_tile_cycles[static_cast<int>(options_.compute.math_fidelity)];
  const bool has_mask = inputs.size() == 2;
  const bool scaled = options_.scale != 1.0;
  const bool approx = options_.compute.math_approx_mode;

  RowProgramSpec spec(inputs[0], output);
  spec.intermediate = im;
  spec.block_tiles = dst_tiles(device, options_.compute);
  spec.domain_of_row = [](std::uint64_t row) { return row; };
  if (has_mask) {
    spec.row_operand = inputs[1];
    spec.row_operand_tile = broadcast_tile_map(inputs[1], inputs[0]);
  }
  // Pass 1: t = x * scale + mask into an intermediate CB, and the row max (reduce).
  Cycle prepare = 0;
  if (scaled || has_mask) {
    prepare = unpack_in + pack_im;
    if (scaled) prepare += mul;
    if (has_mask)
      prepare += unpack_tile_cycles(device, inputs[1].data_type()) + c.eltwise_add_tile_cycles;
  }
  const Cycle unpack_t = prepare > 0 ? unpack_im : unpack_in;
  const Cycle max_reduce = options_.numeric_stable ? unpack_t + c.reduce_tile_cycles : 0;
  if (prepare + max_reduce > 0)
    spec.passes.push_back(RowPass{"scale_mask_max", prepare + max_reduce, 0, false, false});
  // Pass 2: exp(t - max) packed to the exps CB, summed by reduce; then 1/sum once per row.
  Cycle exp_pass =
      unpack_t + sfpu_cycles(device, "exp", approx) + pack_im + unpack_im + c.reduce_tile_cycles;
  if (options_.numeric_stable) exp_pass += unpack_im + c.eltwise_add_tile_cycles;
  const Cycle recip = sfpu_cycles(device, "reciprocal", approx) + pack_im;
  spec.passes.push_back(RowPass{"exp_sum", exp_pass, recip, false, false});
  // Pass 3: exps * (1/sum) (column broadcast), packed to the output.
  spec.passes.push_back(RowPass{"normalize",
                                2 * unpack_im + mul + pack_tile_cycles(device, output.data_type()),
                                0, false, true});
  return spec;
}

std::vector<Tensor> SoftmaxOp::compute(const std::vector<Tensor>& inputs,
                                       const std::vector<TensorSpec>& outputs) const {
  const Tensor& in = inputs[0];
  const TensorSpec& out_spec = outputs[0];
  const bool fp32 = fp32_dest(options_.compute);
  const arch::MathFidelity fidelity = options_.compute.math_fidelity;
  const std::uint32_t n = in.spec().logical_shape().x();
  const std::vector<float> x = src_register_values(in.values(), in.spec().data_type());
  const std::vector<float>& xg = in.has_golden() ? in.golden() : in.values();
  const Tensor* mask = inputs.size() == 2 ? &inputs[1] : nullptr;
  std::vector<float> mask_src;
  if (mask != nullptr) mask_src = src_register_values(mask->values(), mask->spec().data_type());
  const float scale = bf16_constant(options_.scale);

  auto values = std::make_shared<std::vector<float>>(out_spec.padded_shape().volume(), 0.0f);
  auto golden = std::make_shared<std::vector<float>>(out_spec.padded_shape().volume(), 0.0f);
  const std::vector<std::uint64_t> rows = logical_row_offsets(in.spec());
  const std::vector<float>* mask_golden =
      mask != nullptr ? (mask->has_golden() ? &mask->golden() : &mask->values()) : nullptr;
  // Rows are independent: they are spread over the cores when there are enough values.
  const std::size_t parallel_rows =
      std::max<std::size_t>(1, sim::kParallelValues / std::max(1u, n));
  sim::run_ranges(rows.size(), parallel_rows, [&](std::size_t first, std::size_t last) {
    std::vector<float> t(n);
    std::vector<double> tg(n);
    for (std::size_t r = first; r < last; ++r) {
      const std::uint64_t off = rows[r];
      const std::uint64_t moff = mask != nullptr ? mask_row_offset(mask->spec(), in.spec(), r) : 0;
      // Device.
      std::copy_n(x.begin() + static_cast<std::ptrdiff_t>(off), n, t.begin());
      if (options_.scale != 1.0) t = fpu_multiply_scalar(t, scale, fidelity, fp32);
      if (mask != nullptr) {
        for (std::uint32_t i = 0; i < n; ++i) t[i] = round_to_dst(t[i] + mask_src[moff + i], fp32);
      }
      const float max =
          options_.numeric_stable && n > 0 ? *std::max_element(t.begin(), t.end()) : 0.0f;
      for (std::uint32_t i = 0; i < n; ++i)
        t[i] = round_to_dst(std::exp(round_to_dst(t[i] - max, fp32)), fp32);
      const float inv = round_to_dst(1.0f / device_row_sum(t, 1.0f, fp32), fp32);
      const std::vector<float> y = fpu_multiply_scalar(t, inv, fidelity, fp32);
      std::copy(y.begin(), y.end(), values->begin() + static_cast<std::ptrdiff_t>(off));
      // fp32 golden (accumulated in double).
      double gmax = -std::numeric_limits<double>::infinity();
      for (std::uint32_t i = 0; i < n; ++i) {
        tg[i] = static_cast<double>(xg[off + i]) * options_.scale +
                (mask_golden != nullptr ? (*mask_golden)[moff + i] : 0.0);
        gmax = std::max(gmax, tg[i]);
      }
      double sum = 0.0;
      for (std::uint32_t i = 0; i < n; ++i) {
        tg[i] = std::exp(tg[i] - gmax);
        sum += tg[i];
      }
      for (std::uint32_t i = 0; i < n; ++i) (*golden)[off + i] = static_cast<float>(tg[i] / sum);
    }
  });
  pack_to_output(*values, out_spec);
  return {Tensor(out_spec, values, golden)};
}

void SoftmaxOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                      const std::vector<TensorSpec>& outputs) const {
  build_row_program(program, row_program(inputs, outputs[0], program.spec()));
}

PerfModel SoftmaxOp::perf_model(const std::vector<TensorSpec>& inputs,
                                const std::vector<TensorSpec>& outputs,
                                const arch::DeviceSpec& device) const {
  PerfModel model = Operation::perf_model(inputs, outputs, device);
  const RowProgramSpec spec = row_program(inputs, outputs[0], device);
  double cycles = 0;
  const double rows = static_cast<double>(inputs[0].height_tiles());
  for (const RowPass& p : spec.passes) {
    cycles += static_cast<double>(inputs[0].num_tiles()) * static_cast<double>(p.tile_cycles) +
              rows * static_cast<double>(p.domain_cycles);
  }
  model.compute_ns = cycles / device.worker_count() * 1000.0 / device.clock_mhz;
  return model;
}

}  // namespace wormsim::ops
