#include "ops/attention/sdpa.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/numerics/fidelity_matmul.hpp"
#include "ops/numerics/number_formats.hpp"

namespace wormsim::ops {
namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

std::uint64_t div_up(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

void check_operand(const TensorSpec& t, const char* name) {
  if (t.logical_shape().rank() != 4) {
    throw Error(std::string(kOp) + ": " + name + " " + to_string(t.logical_shape()) +
                " must be 4-D [B, H, S, D]");
  }
  if (t.layout() != Layout::Tile)
    throw Error(std::string(kOp) + ": " + name + " must be in TILE layout");
  if (t.is_sharded()) {
    throw Error(std::string(kOp) + ": " + name +
                " must be interleaved (TT-NN's prefill SDPA reads Q, K, V and the mask " +
                "from interleaved buffers); got " +
                std::string(to_string(t.memory_config().layout())));
  }
}

// Rows r0..r0+rows of a [.., S, D] head as a dense [rows x cols] matrix (padded columns).
std::vector<float> head_rows(const std::vector<float>& values, std::size_t head_offset,
                             std::size_t r0, std::size_t rows, std::size_t cols) {
  std::vector<float> out(rows * cols);
  std::copy(values.begin() + static_cast<std::ptrdiff_t>(head_offset + r0 * cols),
            values.begin() + static_cast<std::ptrdiff_t>(head_offset + (r0 + rows) * cols),
            out.begin());
  return out;
}

}  // namespace

std::uint32_t SdpaOp::k_chunks_for(std::uint32_t q_chunk) const {
  const std::uint32_t all = sk_ / options_.k_chunk_size;
  if (!options_.is_causal) return all;
  const std::uint64_t q_end = static_cast<std::uint64_t>(q_chunk + 1) * options_.q_chunk_size;
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(all, div_up(q_end, options_.k_chunk_size)));
}

std::vector<TensorSpec> SdpaOp::output_specs(const std::vector<TensorSpec>& inputs,
                                             const arch::DeviceSpec& device) const {
  if (inputs.size() < 3 || inputs.size() > 4) {
    throw Error(std::string(kOp) + " takes Q, K, V and an optional mask; got " +
                std::to_string(inputs.size()) + " inputs");
  }
  const TensorSpec& q = inputs[0];
  const TensorSpec& k = inputs[1];
  const TensorSpec& v = inputs[2];
  check_operand(q, "Q");
  check_operand(k, "K");
  check_operand(v, "V");
  const auto qd = q.logical_shape().wzyx();
  const auto kd = k.logical_shape().wzyx();
  const auto vd = v.logical_shape().wzyx();
  if (kd != vd || kd[0] != qd[0] || kd[3] != qd[3]) {
    throw Error(std::string(kOp) + ": shapes do not match: Q " + to_string(q.logical_shape()) +
                ", K " + to_string(k.logical_shape()) + ", V " + to_string(v.logical_shape()) +
                "; K and V must be [B, NKH, Sk, D] with Q's B and D");
  }
  if (kd[1] == 0 || qd[1] % kd[1] != 0) {
    throw Error(std::string(kOp) + ": K/V heads (" + std::to_string(kd[1]) +
                ") must divide Q heads (" + std::to_string(qd[1]) + ")");
  }
  const std::uint32_t qc = options_.q_chunk_size;
  const std::uint32_t kc = options_.k_chunk_size;
  if (qc == 0 || kc == 0 || qc % kTileHeight != 0 || kc % kTileHeight != 0) {
    throw Error(std::string(kOp) + ": q_chunk_size=" + std::to_string(qc) +
                " and k_chunk_size=" + std::to_string(kc) + " must be positive multiples of 32");
  }
  if (qd[2] % qc != 0 || kd[2] % kc != 0) {
    throw Error(std::string(kOp) + ": q_chunk_size=" + std::to_string(qc) + " must divide Sq=" +
                std::to_string(qd[2]) + " and k_chunk_size=" + std::to_string(kc) +
                " must divide Sk=" + std::to_string(kd[2]) +
                " (pad the sequence or choose other chunk sizes)");
  }
  has_mask_ = inputs.size() == 4;
  if (options_.is_causal && (has_mask_ || qd[2] != kd[2])) {
    throw Error(
        std::string(kOp) +
        ": is_causal needs Sq == Sk and no attn_mask (TT-NN builds the causal mask itself)");
  }
  if (has_mask_) {
    const TensorSpec& m = inputs[3];
    check_operand(m, "attn_mask");
    const auto md = m.logical_shape().wzyx();
    if ((md[0] != 1 && md[0] != qd[0]) || (md[1] != 1 && md[1] != qd[1]) || md[2] != qd[2] ||
        md[3] != kd[2]) {
      throw Error(std::string(kOp) + ": attn_mask " + to_string(m.logical_shape()) +
                  " must be [B or 1, NQH or 1, Sq, Sk] = [" + std::to_string(qd[0]) + ", " +
                  std::to_string(qd[1]) + ", " + std::to_string(qd[2]) + ", " +
                  std::to_string(kd[2]) + "]");
    }
  }
  batch_ = qd[0];
  q_heads_ = qd[1];
  kv_heads_ = kd[1];
  sq_ = qd[2];
  sk_ = kd[2];
  d_ = qd[3];
  scale_ = options_.scale.value_or(1.0f / std::sqrt(static_cast<float>(d_)));

  // Work split: batch, then heads, then Q chunks.
  const std::uint32_t gx = options_.grid_x != 0 ? options_.grid_x : device.worker_grid_x();
  const std::uint32_t gy = options_.grid_y != 0 ? options_.grid_y : device.worker_grid_y();
  if (gx > device.worker_grid_x() || gy > device.worker_grid_y()) {
    throw Error(std::string(kOp) + ": grid " + std::to_string(gx) + "x" + std::to_string(gy) +
                " does not fit the worker grid");
  }
  grid_x_ = gx;
  const std::uint32_t cores = gx * gy;
  const std::uint32_t q_chunks = sq_ / qc;
  const std::uint32_t bp = std::min(batch_, cores);
  const std::uint32_t hp = std::min(cores / bp, q_heads_);
  const std::uint32_t qp = std::min(cores / (bp * hp), q_chunks);
  const std::uint32_t b_per = static_cast<std::uint32_t>(div_up(batch_, bp));
  const std::uint32_t h_per = static_cast<std::uint32_t>(div_up(q_heads_, hp));
  const std::uint32_t q_per = static_cast<std::uint32_t>(div_up(q_chunks, qp));
  work_.assign(static_cast<std::size_t>(bp) * hp * qp, {});
  for (std::uint32_t bi = 0; bi < bp; ++bi) {
    for (std::uint32_t hi = 0; hi < hp; ++hi) {
      for (std::uint32_t qi = 0; qi < qp; ++qi) {
        auto& units = work_[(static_cast<std::size_t>(bi) * hp + hi) * qp + qi];
        for (std::uint32_t b = bi * b_per; b < std::min(batch_, (bi + 1) * b_per); ++b) {
          for (std::uint32_t h = hi * h_per; h < std::min(q_heads_, (hi + 1) * h_per); ++h) {
            for (std::uint32_t c = qi * q_per; c < std::min(q_chunks, (qi + 1) * q_per); ++c)
              units.push_back({b, h, c});
          }
        }
      }
    }
  }

  // L1: double-buffered Q, K, V (and mask) chunks, the score / output intermediates.
  const std::uint64_t sqt = qc / kTileHeight;
  const std::uint64_t skt = kc / kTileHeight;
  const std::uint64_t dht = div_up(d_, kTileWidth);
  const DataType out_type = options_.output_dtype.value_or(q.data_type());
  const std::uint64_t im = tile_bytes(DataType::BFloat16);
  std::uint64_t need =
      2 * sqt * dht * tile_bytes(q.data_type()) + 2 * skt * dht * tile_bytes(k.data_type()) +
      2 * skt * dht * tile_bytes(v.data_type()) + sqt * skt * im * 2 /* scores, P */ +
      3 * sqt * dht * im /* partial outputs */ + 6 * sqt * im /* max, sum, correction */ +
      sqt * dht * tile_bytes(out_type);
  if (has_mask_ || options_.is_causal)
    need += 2 * sqt * skt * (has_mask_ ? tile_bytes(inputs[3].data_type()) : im);
  if (need > device.l1.usable_bytes) {
    throw Error(std::string(kOp) + ": q_chunk_size=" + std::to_string(qc) +
                " / k_chunk_size=" + std::to_string(kc) + " need " + std::to_string(need) +
                " B of L1 per core, more than the " + std::to_string(device.l1.usable_bytes) +
                " B usable; use smaller chunks");
  }
  memory_attribute_ = to_csv_attribute_string(options_.output_memory);
  return {TensorSpec(q.logical_shape(), out_type, Layout::Tile, options_.output_memory)};
}

std::string SdpaOp::attributes() const {
  std::string s = "{'compute_kernel_config': '" + to_attribute_string(options_.compute) + "'; ";
  s += std::string("'is_causal': '") + (options_.is_causal ? "true" : "false") + "'; ";
  s += "'output_mem_config': '" + memory_attribute_ + "'; ";
  s += "'program_config': 'SDPAProgramConfig(compute_with_storage_grid_size=(x=" +
       std::to_string(grid_x_) +
       ";y=" + std::to_string(work_.empty() ? 1 : div_up(work_.size(), grid_x_)) +
       ");q_chunk_size=" + std::to_string(options_.q_chunk_size) +
       ";k_chunk_size=" + std::to_string(options_.k_chunk_size) +
       ";exp_approx_mode=" + (options_.compute.math_approx_mode ? "1" : "0") + ")'; ";
  s += "'scale': '" + std::to_string(scale_) + "'}";
  return s;
}

std::vector<Tensor> SdpaOp::compute(const std::vector<Tensor>& inputs,
                                    const std::vector<TensorSpec>& outputs) const {
  const Tensor& q = inputs[0];
  const Tensor& k = inputs[1];
  const Tensor& v = inputs[2];
  const TensorSpec& out_spec = outputs[0];
  const std::size_t dp = q.spec().padded_shape().x();  // padded head dim (zeros past D)
  const std::size_t sq = sq_;
  const std::size_t sk = sk_;
  const std::size_t qc = options_.q_chunk_size;
  const std::size_t kc = options_.k_chunk_size;
  const std::uint32_t group = q_heads_ / kv_heads_;
  const ComputeKernelConfig& cc = options_.compute;
  const bool fp32_dst = cc.fp32_dest_acc_en;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  auto values = std::make_shared<std::vector<float>>(out_spec.padded_shape().volume(), 0.0f);
  auto golden = std::make_shared<std::vector<float>>(out_spec.padded_shape().volume(), 0.0f);
  auto bf16 = [](float x) { return numerics::round_to_bf16(x); };
  // 16-bit Dst rounds each FPU result; fp32 Dst keeps it until the bf16 intermediate CB.
  auto dst = [&](float x) { return fp32_dst ? x : numerics::round_to_bf16(x); };
  const std::size_t q_head = sq * dp;
  const std::size_t k_head = sk * dp;
  const auto md = has_mask_ ? inputs[3].spec().logical_shape().wzyx()
                            : std::array<std::uint32_t, 4>{1, 1, 1, 1};
  const std::size_t mask_cols = has_mask_ ? inputs[3].spec().padded_shape().x() : 0;
  const std::size_t mask_rows = has_mask_ ? inputs[3].spec().padded_shape().y() : 0;
  auto mask_offset = [&](std::uint32_t b, std::uint32_t h) {
    return ((static_cast<std::size_t>(md[0] == 1 ? 0 : b) * (md[1] == 1 ? 1 : q_heads_)) +
            (md[1] == 1 ? 0 : h)) *
           mask_rows * mask_cols;
  };
  numerics::MatmulNumerics qk_num;
  qk_num.fidelity = cc.math_fidelity;
  qk_num.fp32_dest_acc = fp32_dst;
  qk_num.in0_dtype = q.spec().data_type();
  qk_num.in1_dtype = k.spec().data_type();
  qk_num.output_dtype = DataType::BFloat16;
  numerics::MatmulNumerics pv_num = qk_num;
  pv_num.in0_dtype = DataType::BFloat16;
  pv_num.in1_dtype = v.spec().data_type();

  for (std::uint32_t b = 0; b < batch_; ++b) {
    for (std::uint32_t h = 0; h < q_heads_; ++h) {
      const std::uint32_t kvh = h / group;
      const std::size_t qo = (static_cast<std::size_t>(b) * q_heads_ + h) * q_head;
      const std::size_t ko = (static_cast<std::size_t>(b) * kv_heads_ + kvh) * k_head;
      // ---- device: flash attention over K chunks ----
      for (std::uint32_t c = 0; c < sq / qc; ++c) {
        const std::vector<float> qm = head_rows(q.values(), qo, c * qc, qc, dp);
        std::vector<float> run_max(qc, neg_inf);
        std::vector<float> run_sum(qc, 0.0f);
        std::vector<float> out(qc * dp, 0.0f);
        std::vector<float> scores(qc * kc);
        std::vector<float> pv(qc * dp);
        for (std::uint32_t j = 0; j < k_chunks_for(c); ++j) {
          const std::vector<float> km = head_rows(k.values(), ko, j * kc, kc, dp);
          std::vector<float> kt(dp * kc);
          for (std::size_t r = 0; r < kc; ++r) {
            for (std::size_t d = 0; d < dp; ++d) kt[d * kc + r] = km[r * dp + d];
          }
          numerics::fidelity_matmul(qm, kt, scores, qc, dp, kc, qk_num);
          std::vector<float> cur_max(qc, neg_inf);
          for (std::size_t r = 0; r < qc; ++r) {
            for (std::size_t col = 0; col < kc; ++col) {
              float t = scale_ * scores[r * kc + col];
              const std::size_t qi = c * qc + r;
              const std::size_t ki = j * kc + col;
              if (options_.is_causal && ki > qi) t = neg_inf;
              if (has_mask_) t += inputs[3].values()[mask_offset(b, h) + qi * mask_cols + ki];
              scores[r * kc + col] = bf16(t);
              cur_max[r] = std::max(cur_max[r], scores[r * kc + col]);
            }
            cur_max[r] = std::max(cur_max[r], run_max[r]);
          }
          // P = exp(s - max) on the SFPU, packed to bf16; its row sums.
          std::vector<float> cur_sum(qc, 0.0f);
          for (std::size_t r = 0; r < qc; ++r) {
            float sum = 0.0f;
            for (std::size_t col = 0; col < kc; ++col) {
              float& s = scores[r * kc + col];
              s = (s == neg_inf) ? 0.0f : bf16(std::exp(dst(s - cur_max[r])));
              sum += s;
            }
            cur_sum[r] = bf16(sum);
          }
          numerics::fidelity_matmul(scores,
                                    std::span(v.values()).subspan(ko + j * kc * dp, kc * dp), pv,
                                    qc, kc, dp, pv_num);
          if (j == 0) {
            out = pv;
            run_sum = cur_sum;
          } else {
            std::vector<float> alpha(qc * dp);
            for (std::size_t r = 0; r < qc; ++r) {
              const float a = bf16(std::exp(dst(run_max[r] - cur_max[r])));
              run_sum[r] = bf16(dst(bf16(dst(a * run_sum[r])) + cur_sum[r]));
              std::fill(alpha.begin() + static_cast<std::ptrdiff_t>(r * dp),
                        alpha.begin() + static_cast<std::ptrdiff_t>((r + 1) * dp), a);
            }
            std::vector<float> scaled(qc * dp);
            numerics::fidelity_eltwise_mul(out, alpha, scaled, cc.math_fidelity, fp32_dst);
            for (std::size_t i = 0; i < out.size(); ++i)
              out[i] = bf16(dst(bf16(scaled[i]) + pv[i]));
          }
          run_max = cur_max;
        }
        std::vector<float> recip(qc * dp);
        for (std::size_t r = 0; r < qc; ++r) {
          std::fill(recip.begin() + static_cast<std::ptrdiff_t>(r * dp),
                    recip.begin() + static_cast<std::ptrdiff_t>((r + 1) * dp),
                    bf16(1.0f / run_sum[r]));
        }
        std::vector<float> final_out(qc * dp);
        numerics::fidelity_eltwise_mul(out, recip, final_out, cc.math_fidelity, fp32_dst);
        std::copy(final_out.begin(), final_out.end(),
                  values->begin() + static_cast<std::ptrdiff_t>(qo + c * qc * dp));
      }
      // ---- golden: exact softmax(scale * Q K^T + mask) V ----
      const std::vector<float>& qg = q.has_golden() ? q.golden() : q.values();
      const std::vector<float>& kg = k.has_golden() ? k.golden() : k.values();
      const std::vector<float>& vg = v.has_golden() ? v.golden() : v.values();
      std::vector<double> p(sk);
      for (std::size_t i = 0; i < sq; ++i) {
        double m = -std::numeric_limits<double>::infinity();
        for (std::size_t j = 0; j < sk; ++j) {
          double dot = 0.0;
          for (std::size_t d = 0; d < d_; ++d)
            dot += static_cast<double>(qg[qo + i * dp + d]) * kg[ko + j * dp + d];
          double t = scale_ * dot;
          if (options_.is_causal && j > i) t = -std::numeric_limits<double>::infinity();
          if (has_mask_) {
            const std::vector<float>& mg =
                inputs[3].has_golden() ? inputs[3].golden() : inputs[3].values();
            t += mg[mask_offset(b, h) + i * mask_cols + j];
          }
          p[j] = t;
          m = std::max(m, t);
        }
        double sum = 0.0;
        for (double& t : p) {
          t = std::isinf(t) && t < 0 ? 0.0 : std::exp(t - m);
          sum += t;
        }
        for (std::size_t d = 0; d < d_; ++d) {
          double acc = 0.0;
          for (std::size_t j = 0; j < sk; ++j) acc += p[j] * vg[ko + j * dp + d];
          (*golden)[qo + i * dp + d] = static_cast<float>(acc / sum);
        }
      }
    }
  }
  numerics::quantize(*values, out_spec.physical_height(), out_spec.physical_width(),
                     out_spec.data_type(), numerics::BfpRounding::DevicePacker);
  return {Tensor(out_spec, values, golden)};
}

std::uint64_t SdpaOp::tile_products() const {
  const std::uint64_t sqt = options_.q_chunk_size / kTileHeight;
  const std::uint64_t skt = options_.k_chunk_size / kTileHeight;
  const std::uint64_t dht = div_up(d_, kTileWidth);
  std::uint64_t chunks = 0;
  for (std::uint32_t c = 0; c < sq_ / options_.q_chunk_size; ++c) chunks += k_chunks_for(c);
  // QK^T: sqt x skt outputs over dht; PV: sqt x dht outputs over skt.
  return static_cast<std::uint64_t>(batch_) * q_heads_ * chunks * 2 * sqt * skt * dht;
}

PerfModel SdpaOp::perf_model(const std::vector<TensorSpec>& inputs,
                             const std::vector<TensorSpec>& outputs,
                             const arch::DeviceSpec& device) const {
  PerfModel model = Operation::perf_model(inputs, outputs, device);
  std::size_t cores = 0;
  for (const auto& units : work_) cores += units.empty() ? 0 : 1;
  const double cycles =
      static_cast<double>(tile_products()) *
      device.compute.matmul_tile_cycles[static_cast<int>(options_.compute.math_fidelity)] /
      static_cast<double>(std::max<std::size_t>(cores, 1));
  model.compute_ns = cycles * 1000.0 / device.clock_mhz;
  return model;
}

std::uint64_t SdpaOp::flops(const std::vector<TensorSpec>& inputs,
                            const std::vector<TensorSpec>& outputs) const {
  (void)inputs;
  (void)outputs;
  return tile_products() * 2ull * kTileHeight * kTileWidth * kTileWidth;
}

}  // namespace wormsim::ops
