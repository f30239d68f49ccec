// scaled_dot_product_attention: flash-attention numerics against exact attention, causal
// masking, the work split, timing bounds and bad parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"
#include "ops/attention/sdpa.hpp"
#include "ops/isolated_run.hpp"
#include "ops/numerics/number_formats.hpp"
#include "ops/numerics/pcc.hpp"
#include "ops/op_registry.hpp"
#include "sim/error.hpp"

namespace wormsim::ops {
namespace {

const arch::DeviceSpec& n300() {
  static const arch::DeviceSpec spec = arch::load_device_spec_by_name("n300");
  return spec;
}

template <typename Body>
void expect_error(Body&& body, std::initializer_list<std::string> fragments) {
  try {
    body();
    ADD_FAILURE() << "expected wormsim::Error";
  } catch (const Error& error) {
    const std::string message = error.what();
    for (const std::string& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "'" << fragment << "' not in: " << message;
    }
  }
}

TensorSpec bhsd(std::uint32_t b, std::uint32_t h, std::uint32_t s, std::uint32_t d,
                DataType dtype = DataType::BFloat16) {
  return TensorSpec(Shape({b, h, s, d}), dtype, Layout::Tile);
}

OpResult run_with(const Operation& op, const std::vector<Tensor>& inputs) {
  Device device(n300());
  std::vector<DeviceBuffer> buffers;
  std::vector<TensorSpec> specs;
  for (const Tensor& t : inputs) {
    specs.push_back(t.spec());
    buffers.push_back(device.allocate(0, t.spec(), "input"));
  }
  for (const TensorSpec& out : op.output_specs(specs, n300()))
    buffers.push_back(device.allocate(0, out, "output"));
  OpResult result = execute(device, op, inputs);
  for (const DeviceBuffer& b : buffers) device.free(b);
  return result;
}

// Exact attention written from scratch over the tensors' golden values: softmax(scale Q K^T +
// mask) V per (batch, head), K/V head h / (NQH / NKH).
std::vector<float> reference_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                       const Tensor* mask, bool causal, float scale) {
  const auto qd = q.spec().logical_shape().wzyx();
  const auto kd = k.spec().logical_shape().wzyx();
  std::vector<float> out;
  for (std::uint32_t b = 0; b < qd[0]; ++b) {
    for (std::uint32_t h = 0; h < qd[1]; ++h) {
      const std::uint32_t kh = h / (qd[1] / kd[1]);
      for (std::uint32_t i = 0; i < qd[2]; ++i) {
        std::vector<double> s(kd[2]);
        double m = -INFINITY;
        for (std::uint32_t j = 0; j < kd[2]; ++j) {
          double dot = 0.0;
          for (std::uint32_t d = 0; d < qd[3]; ++d)
            dot += static_cast<double>(q.golden_at(b, h, i, d)) * k.golden_at(b, kh, j, d);
          s[j] = scale * dot;
          if (mask != nullptr) {
            const auto md = mask->spec().logical_shape().wzyx();
            s[j] += mask->golden_at(md[0] == 1 ? 0 : b, md[1] == 1 ? 0 : h, i, j);
          }
          if (causal && j > i) s[j] = -INFINITY;
          m = std::max(m, s[j]);
        }
        double sum = 0.0;
        for (double& e : s) {
          e = std::exp(e - m);
          sum += e;
        }
        for (std::uint32_t d = 0; d < qd[3]; ++d) {
          double acc = 0.0;
          for (std::uint32_t j = 0; j < kd[2]; ++j) acc += s[j] * v.golden_at(b, kh, j, d);
          out.push_back(static_cast<float>(acc / sum));
        }
      }
    }
  }
  return out;
}

struct SdpaCase {
  std::string name;
  std::uint32_t b, hq, hkv, s, d;
  bool causal;
  std::uint32_t q_chunk, k_chunk;
  arch::MathFidelity fidelity;
  double min_pcc;  // measured, with margin
};

class SdpaNumericsTest : public ::testing::TestWithParam<SdpaCase> {};

TEST_P(SdpaNumericsTest, MatchesExactAttention) {
  const SdpaCase& c = GetParam();
  SdpaOptions o;
  o.is_causal = c.causal;
  o.q_chunk_size = c.q_chunk;
  o.k_chunk_size = c.k_chunk;
  o.compute.math_fidelity = c.fidelity;
  const SdpaOp op(o);
  const std::vector<TensorSpec> inputs = {bhsd(c.b, c.hq, c.s, c.d), bhsd(c.b, c.hkv, c.s, c.d),
                                          bhsd(c.b, c.hkv, c.s, c.d)};
  const OpResult r = run_isolated(n300(), op, inputs, {true, 21});
  const Tensor q = random_tensor(inputs[0], 21);
  const Tensor k = random_tensor(inputs[1], 22);
  const Tensor v = random_tensor(inputs[2], 23);
  const std::vector<float> ref =
      reference_attention(q, k, v, nullptr, c.causal, 1.0f / std::sqrt(static_cast<float>(c.d)));
  const Tensor& out = r.outputs.at(0);
  EXPECT_EQ(out.spec().logical_shape(), inputs[0].logical_shape());
  EXPECT_LE(numerics::max_abs_error(ref, out.logical_golden()), 1e-5)
      << c.name << ": golden is not exact attention";
  const double pcc = numerics::pcc(ref, out.logical_values());
  EXPECT_GE(pcc, c.min_pcc) << c.name;
  EXPECT_EQ(r.record.op_code, "ScaledDotProductAttention");
  // Timing: never faster than the matmul tiles on the cores that have work, nor than reading
  // Q, K and V once from DRAM.
  std::size_t cores = 0;
  for (const auto& units : op.work()) cores += units.empty() ? 0 : 1;
  const double ideal = static_cast<double>(op.tile_products()) *
                       n300().compute.matmul_tile_cycles[static_cast<int>(c.fidelity)] /
                       static_cast<double>(cores);
  const double dram =
      static_cast<double>(inputs[0].total_bytes() + inputs[1].total_bytes() +
                          inputs[2].total_bytes()) /
      (n300().dram.bank_achievable_bytes_per_cycle * static_cast<double>(n300().dram.banks.size()));
  const double duration = static_cast<double>(r.record.timing.kernel_duration());
  EXPECT_GE(duration, ideal) << c.name;
  EXPECT_GE(duration, dram) << c.name;
  EXPECT_EQ(r.record.timing.core_count, cores);
}

INSTANTIATE_TEST_SUITE_P(Configs, SdpaNumericsTest,
                         // Measured PCC: 0.99996, 0.99998, 0.99998, 0.99998, 0.99973.
                         ::testing::Values(SdpaCase{"noncausal_hifi2", 1, 4, 4, 256, 64, false, 64,
                                                    64, arch::MathFidelity::HiFi2, 0.9999},
                                           SdpaCase{"causal_hifi2", 1, 4, 4, 256, 64, true, 64, 64,
                                                    arch::MathFidelity::HiFi2, 0.9999},
                                           SdpaCase{"causal_small_chunks", 2, 2, 2, 128, 64, true,
                                                    32, 32, arch::MathFidelity::HiFi2, 0.9999},
                                           SdpaCase{"gqa", 1, 8, 2, 128, 64, false, 64, 32,
                                                    arch::MathFidelity::HiFi4, 0.9999},
                                           SdpaCase{"head_dim_96_lofi", 1, 2, 2, 128, 96, true, 64,
                                                    64, arch::MathFidelity::LoFi, 0.9995}),
                         [](const auto& info) { return info.param.name; });

TEST(SdpaTest, LowerFidelityLosesAccuracy) {
  auto pcc = [](arch::MathFidelity fidelity) {
    SdpaOptions o;
    o.is_causal = false;
    o.compute.math_fidelity = fidelity;
    o.compute.fp32_dest_acc_en = true;
    return *run_isolated(n300(), SdpaOp(o),
                         {bhsd(1, 2, 128, 64), bhsd(1, 2, 128, 64), bhsd(1, 2, 128, 64)}, {true, 3})
                .record.pcc;
  };
  EXPECT_LT(pcc(arch::MathFidelity::LoFi), pcc(arch::MathFidelity::HiFi4));
}

// Causal: query i never sees keys after i. Changing the keys and values of the last K chunk
// leaves the first Q chunk's output bit-for-bit unchanged, and row 0 (which sees only key 0)
// is V row 0 exactly.
TEST(SdpaTest, CausalMaskHidesFutureKeys) {
  SdpaOptions o;
  o.q_chunk_size = 64;
  o.k_chunk_size = 64;
  const SdpaOp op(o);
  const TensorSpec spec = bhsd(1, 2, 128, 64);
  const Tensor q = random_tensor(spec, 1);
  const Tensor k = random_tensor(spec, 2);
  const Tensor v = random_tensor(spec, 3);
  const OpResult first = run_with(op, {q, k, v});
  Tensor k2 = random_tensor(spec, 2);
  Tensor v2 = random_tensor(spec, 3);
  for (std::uint32_t h = 0; h < 2; ++h) {
    for (std::uint32_t j = 64; j < 128; ++j) {
      for (std::uint32_t d = 0; d < 64; ++d) {
        k2.set(0, h, j, d, 4.0f);
        v2.set(0, h, j, d, -3.0f);
      }
    }
  }
  const OpResult second = run_with(op, {q, k2, v2});
  const Tensor& a = first.outputs.at(0);
  const Tensor& b = second.outputs.at(0);
  bool later_rows_changed = false;
  for (std::uint32_t h = 0; h < 2; ++h) {
    for (std::uint32_t i = 0; i < 128; ++i) {
      for (std::uint32_t d = 0; d < 64; ++d) {
        if (i < 64) {
          ASSERT_EQ(a.at(0, h, i, d), b.at(0, h, i, d)) << "row " << i << " saw a future key";
        } else if (a.at(0, h, i, d) != b.at(0, h, i, d)) {
          later_rows_changed = true;
        }
      }
      if (i == 0) {
        for (std::uint32_t d = 0; d < 64; ++d) EXPECT_EQ(a.at(0, h, 0, d), v.at(0, h, 0, d));
      }
    }
  }
  EXPECT_TRUE(later_rows_changed);
}

TEST(SdpaTest, AdditiveMaskMatchesExactAttention) {
  SdpaOptions o;
  o.is_causal = false;
  const SdpaOp op(o);
  const std::vector<TensorSpec> inputs = {bhsd(2, 2, 64, 64), bhsd(2, 2, 64, 64),
                                          bhsd(2, 2, 64, 64), bhsd(1, 1, 64, 64)};
  std::vector<Tensor> t;
  for (std::size_t i = 0; i < 3; ++i) t.push_back(random_tensor(inputs[i], 30 + i));
  // A padding-style mask: the last 24 keys are masked out for every query.
  Tensor mask = Tensor::zeros(inputs[3], true);
  for (std::uint32_t i = 0; i < 64; ++i) {
    for (std::uint32_t j = 40; j < 64; ++j)
      mask.set(0, 0, i, j, -std::numeric_limits<float>::infinity());
  }
  mask = mask.with_golden(std::make_shared<std::vector<float>>(mask.values()));
  t.push_back(mask);
  const OpResult r = run_with(op, t);
  const std::vector<float> ref = reference_attention(t[0], t[1], t[2], &t[3], false, 0.125f);
  EXPECT_GE(numerics::pcc(ref, r.outputs[0].logical_values()), 0.999);
  EXPECT_LE(numerics::max_abs_error(ref, r.outputs[0].logical_golden()), 1e-5);
}

TEST(SdpaTest, WorkSplitFollowsBatchHeadsThenQChunks) {
  SdpaOptions o;
  o.q_chunk_size = 64;
  const SdpaOp op(o);
  op.output_specs({bhsd(2, 8, 512, 64), bhsd(2, 8, 512, 64), bhsd(2, 8, 512, 64)}, n300());
  // 64 cores: 2 batches x 8 heads x 4 of the 8 Q chunks; two chunks per core.
  ASSERT_EQ(op.work().size(), 64u);
  for (const auto& units : op.work()) ASSERT_EQ(units.size(), 2u);
  EXPECT_EQ(op.work()[0][0].batch, 0u);
  EXPECT_EQ(op.work()[0][1].q_chunk, 1u);
  EXPECT_EQ(op.work()[63][0].batch, 1u);
  EXPECT_EQ(op.work()[63][0].head, 7u);
  EXPECT_EQ(op.work()[63][1].q_chunk, 7u);
  // Causal attention only visits K chunks up to the diagonal.
  EXPECT_EQ(op.k_chunks_for(0), 2u);  // 64 queries over 32-key chunks
  EXPECT_EQ(op.k_chunks_for(7), 16u);
}

TEST(SdpaTest, CausalSkipsChunksAndRunsFaster) {
  auto run = [](bool causal) {
    SdpaOptions o;
    o.is_causal = causal;
    o.q_chunk_size = o.k_chunk_size = 128;
    return run_isolated(n300(), SdpaOp(o),
                        {bhsd(1, 8, 1024, 64), bhsd(1, 8, 1024, 64), bhsd(1, 8, 1024, 64)},
                        {false, 0})
        .record.timing.kernel_duration();
  };
  const auto causal = run(true);
  const auto full = run(false);
  EXPECT_LT(causal, full);
  EXPECT_GT(causal, full / 4);
}

TEST(SdpaTest, RejectsBadParameters) {
  const TensorSpec t = bhsd(1, 4, 128, 64);
  SdpaOptions o;
  o.q_chunk_size = 96;
  expect_error(
      [&] {
        SdpaOp(o).output_specs({t, t, t}, n300());
      },
      {"q_chunk_size=96", "must divide Sq=128"});
  o.q_chunk_size = 48;
  expect_error([&] { SdpaOp(o).output_specs({t, t, t}, n300()); }, {"multiples of 32"});
  o.q_chunk_size = 64;
  expect_error(
      [&] {
        SdpaOp(o).output_specs({t, bhsd(1, 3, 128, 64), bhsd(1, 3, 128, 64)}, n300());
      },
      {"K/V heads (3)", "Q heads (4)"});
  expect_error(
      [&] {
        SdpaOp(o).output_specs({t, bhsd(1, 4, 128, 32), t}, n300());
      },
      {"shapes do not match"});
  expect_error(
      [&] {
        SdpaOp(o).output_specs({t, t, t, bhsd(1, 1, 128, 128)}, n300());
      },
      {"is_causal", "no attn_mask"});
  o.is_causal = false;
  expect_error(
      [&] {
        SdpaOp(o).output_specs({t, t, t, bhsd(1, 1, 128, 96)}, n300());
      },
      {"attn_mask", "[B or 1"});
  const TensorSpec sharded = t.with_memory_config(height_sharded(t, 8, n300()));
  expect_error([&] { SdpaOp(o).output_specs({sharded, t, t}, n300()); }, {"interleaved"});
  o.q_chunk_size = o.k_chunk_size = 1024;
  expect_error(
      [&] {
        SdpaOp(o).output_specs(
            {bhsd(1, 1, 1024, 256), bhsd(1, 1, 1024, 256), bhsd(1, 1, 1024, 256)}, n300());
      },
      {"L1", "smaller chunks"});
  expect_error(
      [&] {
        make_operation("scaled_dot_product_attention", nlohmann::json{{"q_chunk", 64}}, {t, t, t},
                       n300());
      },
      {"unknown parameter 'q_chunk'"});
}

}  // namespace
}  // namespace wormsim::ops
