#pragma once
// ttnn.transformer.scaled_dot_product_attention: flash-attention prefill SDPA.
//
// Op code "ScaledDotProductAttention": the device op struct of tt-metal's
// ttnn/cpp/ttnn/operations/transformer/sdpa/device/sdpa_op.hpp (old operation infra, the same
// era as "Matmul" / "OptimizedConvNew"); tt-metal's 2025+ device-operation port reports
// "SDPAOperation".
//
// Inputs (interleaved, DRAM as on silicon, TILE): Q [B, NQH, Sq, D], K [B, NKH, Sk, D],
// V [B, NKH, Sk, D] (NKH divides NQH: grouped-query attention), optional additive mask
// [B or 1, NQH or 1, Sq, Sk]. Output [B, NQH, Sq, D].
//
// Kernels (sdpa_program_factory.cpp's scheme): the cores split batch, then heads, then Q chunks
// (parallel factors in that order); every core runs its (batch, head, q-chunk) units. Per unit
// the reader (NCRISC) reads the Q chunk, then per K chunk the K chunk, V chunk (and mask chunk)
// tile by tile from DRAM; the compute (TRISC) runs per K chunk QK^T (matmul tiles), mask add,
// row max, exp(x - max) (SFPU), row sum, P V (matmul tiles) and the online-softmax corrections,
// then the final 1/sum scaling; the writer (BRISC) generates the causal mask tiles for diagonal
// chunks and writes the output chunk. Causal attention skips the K chunks above the diagonal.
//
// Numerics: the same blockwise online softmax on device values, with the matmuls through
// numerics::fidelity_matmul (Q / P as in0, K^T / V as in1), intermediates (scores, P, running
// max / sum, partial output) rounded to bf16 as tt-metal's Float16_b intermediate CBs hold them,
// and the final output in the output format. Golden: exact fp32 softmax(scale * Q K^T + mask) V.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ops/compute_config.hpp"
#include "ops/operation.hpp"

namespace wormsim::ops {

struct SdpaOptions {
  std::optional<float> scale;      // default 1 / sqrt(D)
  bool is_causal{true};            // TT-NN's default
  std::uint32_t q_chunk_size{32};  // TT-NN's default without a program config
  std::uint32_t k_chunk_size{32};
  ComputeKernelConfig compute{arch::MathFidelity::HiFi2, true, false, false,
                              false};    // TT-NN's SDPA default
  std::optional<DataType> output_dtype;  // default Q's
  MemoryConfig output_memory{};          // DRAM interleaved
  std::uint32_t grid_x{0};               // compute_with_storage_grid_size (0: the worker grid)
  std::uint32_t grid_y{0};
};

// One core's work unit.
struct SdpaUnit {
  std::uint32_t batch{0};
  std::uint32_t head{0};
  std::uint32_t q_chunk{0};
};

class SdpaOp : public Operation {
 public:
  explicit SdpaOp(SdpaOptions options) : options_(std::move(options)) {}

  std::string op_code() const override { return "ScaledDotProductAttention"; }
  std::string attributes() const override;
  std::optional<arch::MathFidelity> math_fidelity() const override {
    return options_.compute.math_fidelity;
  }
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::vector<Tensor> compute(const std::vector<Tensor>& inputs,
                              const std::vector<TensorSpec>& outputs) const override;
  void build(Program& program, const std::vector<TensorSpec>& inputs,
             const std::vector<TensorSpec>& outputs) const override;
  PerfModel perf_model(const std::vector<TensorSpec>& inputs,
                       const std::vector<TensorSpec>& outputs,
                       const arch::DeviceSpec& device) const override;
  std::uint64_t flops(const std::vector<TensorSpec>& inputs,
                      const std::vector<TensorSpec>& outputs) const override;

  // Per core (row-major over the grid) its work units, from the last output_specs() call.
  const std::vector<std::vector<SdpaUnit>>& work() const { return work_; }
  // K chunks unit `q_chunk` processes (all, or up to the diagonal when causal).
  std::uint32_t k_chunks_for(std::uint32_t q_chunk) const;
  // QK^T plus PV tile products of the whole op.
  std::uint64_t tile_products() const;
  float scale() const { return scale_; }

 private:
  SdpaOptions options_;
  mutable std::vector<std::vector<SdpaUnit>> work_;
  mutable std::uint32_t grid_x_{1};
  mutable std::uint32_t batch_{1}, q_heads_{1}, kv_heads_{1}, sq_{32}, sk_{32}, d_{32};
  mutable float scale_{1.0f};
  mutable bool has_mask_{false};
  mutable std::string memory_attribute_;
};

}  // namespace wormsim::ops
