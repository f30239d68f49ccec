#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"
#include "ops/device.hpp"
#include "ops/program.hpp"
#include "ops/tensor.hpp"

namespace wormsim::ops {

// tt-metal's OpPerformanceModel: the op's ideal time if compute and bandwidth were perfect.
struct PerfModel {
  double compute_ns{0};    // PM COMPUTE
  double bandwidth_ns{0};  // PM BANDWIDTH
  double ideal_ns() const { return std::max(compute_ns, bandwidth_ns); }  // PM IDEAL
};

// Everything one op execution reports: the ops_perf_results row and more.
struct OpRecord {
  std::string op_code;                 // TT-NN device op name: "Matmul", "BinaryNgDeviceOperation"
  std::string op_type{"tt_dnn_device"};
  std::string attributes;              // program config and compute kernel config, tt-metal style
  std::optional<arch::MathFidelity> math_fidelity;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  ProgramTiming timing;
  PerfModel perf_model;
  std::uint64_t flops{0};
  std::uint64_t dram_bytes_read{0};
  std::uint64_t dram_bytes_written{0};
  std::optional<double> pcc;           // output vs its fp32 golden, when numerics ran
  std::string fallback_reason;         // non-empty when a requested program config was replaced
};

struct OpResult {
  std::vector<Tensor> outputs;
  OpRecord record;
};

// An op as TT-NN runs it: validate and derive output specs, compute format-faithful values and
// their fp32 golden, build the per-core program whose kernels time it.
class Operation {
 public:
  virtual ~Operation() = default;
  virtual std::string op_code() const = 0;
  virtual std::string attributes() const = 0;
  virtual std::optional<arch::MathFidelity> math_fidelity() const { return std::nullopt; }
  // Validates the inputs (throws wormsim::Error naming the op and the problem) and returns the
  // output specs.
  virtual std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                               const arch::DeviceSpec& device) const = 0;
  // Device values (number formats, math fidelity) and fp32 golden values of the outputs.
  virtual std::vector<Tensor> compute(const std::vector<Tensor>& inputs,
                                      const std::vector<TensorSpec>& outputs) const = 0;
  virtual void build(Program& program, const std::vector<TensorSpec>& inputs,
                     const std::vector<TensorSpec>& outputs) const = 0;
  virtual PerfModel perf_model(const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs,
                               const arch::DeviceSpec& device) const;
  virtual std::uint64_t flops(const std::vector<TensorSpec>& /*inputs*/, const std::vector<TensorSpec>& /*outputs*/) const {
    return 0;
  }
  // Set by ops that replaced an invalid requested program config with a valid one.
  virtual std::string fallback_reason() const { return {}; }
};

// Bytes a tensor moves to or from DRAM when an op reads or writes it whole.
std::uint64_t dram_bytes(const TensorSpec& spec);
// PM BANDWIDTH as tt-metal computes it: the largest DRAM tensor over the chip's DRAM
// bandwidth (L1 tensors count one nanosecond).
double ideal_bandwidth_ns(const std::vector<TensorSpec>& tensors, const arch::DeviceSpec& device);

struct ExecuteOptions {
  std::uint32_t chip{0};
  bool numerics{true};
  // What the op is, beyond its tensor specs and chip: its registered name and parameters, as
  // text. When set, an identical earlier op's timing may be replayed instead of simulating the
  // program again (Device::timing_reuse, ops/op_timing_reuse.hpp). Empty: always simulate.
  std::string reuse_key;
};

// Runs one op on `device` at the current time: numerics (when the inputs carry values and
// options.numerics is set), then its program. Output buffers are the caller's: see Device::allocate.
OpResult execute(Device& device, const Operation& op, const std::vector<Tensor>& inputs,
                 const ExecuteOptions& options = {});

}  // namespace wormsim::ops
