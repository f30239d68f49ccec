#include "workloads/placement_check.hpp"

#include <memory>

#include "ops/conv/conv2d.hpp"
#include "ops/device.hpp"
#include "ops/op_registry.hpp"
#include "ops/operation.hpp"
#include "ops/program.hpp"
#include "sim/error.hpp"

namespace wormsim::workloads {

std::string placement_problem(const arch::DeviceSpec& device, const std::string& op,
                              const nlohmann::json& params,
                              const std::vector<ops::TensorSpec>& inputs,
                              const std::vector<ResidentTensor>& resident) {
  try {
    const std::unique_ptr<ops::Operation> operation =
        ops::make_operation(op, params, inputs, device);
    const std::vector<ops::TensorSpec> outputs = operation->output_specs(inputs, device);
    for (const ops::TensorSpec& s : outputs) ops::validate_for_device(s, device);
    ops::Device scratch(device);
    for (const ResidentTensor& t : resident) {
      if (!t.spec.memory_config().is_dram()) scratch.allocate(0, t.spec, t.name);
    }
    for (std::size_t i = 0; i < inputs.size(); ++i)
      scratch.allocate(0, inputs[i], "input " + std::to_string(i));
    for (std::size_t i = 0; i < outputs.size(); ++i)
      scratch.allocate(0, outputs[i], "output " + std::to_string(i));
    ops::Program program(scratch, 0, operation->op_code());
    operation->build(program, inputs, outputs);
    return {};
  } catch (const Error& e) {
    const std::string what = e.what();
    return what.empty() ? std::string("rejected") : what;
  }
}

std::vector<std::uint32_t> smaller_act_blocks(const arch::DeviceSpec& device, const std::string& op,
                                              const nlohmann::json& params,
                                              const std::vector<ops::TensorSpec>& inputs) {
  if ((op != "conv2d" && op != "conv_transpose2d") || params.contains("act_block_h_ntiles"))
    return {};
  try {
    const auto made = ops::make_operation(op, params, inputs, device);
    const auto* conv = dynamic_cast<const ops::Conv2dOp*>(made.get());
    if (conv == nullptr) return {};
    conv->output_specs(inputs, device);
    const ops::ConvPlan& plan = conv->plan();
    std::vector<std::uint32_t> out;
    for (std::uint32_t d = plan.act_block_h - 1; d >= 1; --d) {
      if (plan.per_core_M % d == 0) out.push_back(d);
    }
    return out;
  } catch (const Error&) {
    return {};  // the op cannot plan here; the caller's other choices decide
  }
}

}  // namespace wormsim::workloads
