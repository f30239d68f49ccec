#include "ops/operation.hpp"

#include <algorithm>

#include "ops/numerics/pcc.hpp"
#include "ops/op_timing_reuse.hpp"

namespace wormsim::ops {

std::uint64_t dram_bytes(const TensorSpec& spec) {
  return spec.memory_config().is_dram() ? spec.total_bytes() : 0;
}

double ideal_bandwidth_ns(const std::vector<TensorSpec>& tensors, const arch::DeviceSpec& device) {
  const double chip_bytes_per_ns = device.dram.bank_achievable_bytes_per_cycle *
                                   static_cast<double>(device.dram.banks.size()) * device.clock_mhz / 1000.0;
  double worst = 1.0;  // tt-metal charges L1-resident tensors one nanosecond
  for (const TensorSpec& t : tensors) {
    if (t.memory_config().is_dram()) worst = std::max(worst, static_cast<double>(t.total_bytes()) / chip_bytes_per_ns);
  }
  return worst;
}

PerfModel Operation::perf_model(const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs,
                                const arch::DeviceSpec& device) const {
  std::vector<TensorSpec> all = inputs;
  all.insert(all.end(), outputs.begin(), outputs.end());
  PerfModel model;
  model.compute_ns = 1.0;
  model.bandwidth_ns = ideal_bandwidth_ns(all, device);
  return model;
}

OpResult execute(Device& device, const Operation& op, const std::vector<Tensor>& inputs, const ExecuteOptions& options) {
  std::vector<TensorSpec> in_specs;
  for (const Tensor& t : inputs) in_specs.push_back(t.spec());
  OpResult result;
  OpRecord& record = result.record;
  record.op_code = op.op_code();
  record.inputs = in_specs;
  // output_specs() first: it resolves what the op runs with (a matmul's program config, SDPA's
  // grid, scale and output memory, an eltwise op's memory config), which attributes(),
  // math_fidelity() and fallback_reason() then report.
  record.outputs = op.output_specs(in_specs, device.spec());
  record.attributes = op.attributes();
  record.math_fidelity = op.math_fidelity();
  record.fallback_reason = op.fallback_reason();
  record.perf_model = op.perf_model(in_specs, record.outputs, device.spec());
  record.flops = op.flops(in_specs, record.outputs);
  for (const TensorSpec& t : in_specs) record.dram_bytes_read += dram_bytes(t);
  for (const TensorSpec& t : record.outputs) record.dram_bytes_written += dram_bytes(t);

  const bool with_values =
      options.numerics && std::all_of(inputs.begin(), inputs.end(), [](const Tensor& t) { return t.has_values(); });
  if (with_values) {
    result.outputs = op.compute(inputs, record.outputs);
    const Tensor& out = result.outputs.front();
    record.pcc = out.golden_pcc();
  } else {
    for (const TensorSpec& spec : record.outputs) result.outputs.emplace_back(spec);
  }

  Program program(device, options.chip, op.op_code());
  auto build = [&] { op.build(program, in_specs, record.outputs); };
  std::string key;  // empty: always simulated
  if (!options.reuse_key.empty()) {
    key = options.reuse_key + "\nchip " + std::to_string(options.chip) + "\n" + record.attributes;
    for (const TensorSpec& t : in_specs) key += "\nin " + to_string(t);
    for (const TensorSpec& t : record.outputs) key += "\nout " + to_string(t);
  }
  record.timing = device.timing_reuse().run(program, key, build);
  return result;
}

}  // namespace wormsim::ops
