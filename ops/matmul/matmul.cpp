#include "ops/matmul/matmul.hpp"

#include <algorithm>
#include <cmath>

#include "ops/numerics/fidelity_matmul.hpp"
#include "ops/numerics/number_formats.hpp"
#include "ops/unary_functions.hpp"
#include "sim/parallel.hpp"

namespace wormsim::ops {
namespace {

std::string join_problem(const std::string& a, const std::string& b) { return a.empty() ? b : a + "; " + b; }

std::uint64_t outer_volume(const Shape& shape) {
  const auto wzyx = shape.wzyx();
  return static_cast<std::uint64_t>(wzyx[0]) * wzyx[1];
}

// Largest divisor of n that is <= limit (>= 1).
std::uint32_t largest_divisor_at_most(std::uint64_t n, std::uint64_t limit) {
  for (std::uint64_t d = std::min(n, limit); d > 1; --d) {
    if (n % d == 0) return static_cast<std::uint32_t>(d);
  }
  return 1;
}

// Subblock (h, w): the largest area that fits half of Dst and divides the per-core block,
// preferring wide subblocks (the writer then emits whole rows), as TT-NN's table does.
std::pair<std::uint32_t, std::uint32_t> choose_subblock(std::uint32_t per_core_M, std::uint32_t per_core_N,
                                                        std::uint32_t dst) {
  std::pair<std::uint32_t, std::uint32_t> best{1, 1};
  for (std::uint32_t h = 1; h <= dst; ++h) {
    for (std::uint32_t w = 1; h * w <= dst; ++w) {
      if (per_core_M % h != 0 || per_core_N % w != 0) continue;
      const auto area = h * w;
      const auto best_area = best.first * best.second;
      if (area > best_area || (area == best_area && w > best.second)) best = {h, w};
    }
  }
  return best;
}

// The L1 the matmul's circular buffers need on one core: double-buffered operand blocks, and
// the output block unless the output is an L1 shard (then the CB is the shard itself).
std::uint64_t matmul_cb_bytes(std::uint32_t block_h, std::uint32_t block_w, std::uint32_t kw, std::uint32_t in0_tile,
                              std::uint32_t in1_tile, std::uint32_t out_tile, bool out_is_l1_shard) {
  const std::uint64_t operands = 2ull * block_h * kw * in0_tile + 2ull * kw * block_w * in1_tile;
  return operands + (out_is_l1_shard ? 0 : static_cast<std::uint64_t>(block_h) * block_w * out_tile);
}

bool is_l1_shard(const MemoryConfig& memory) { return memory.is_l1() && memory.is_sharded(); }

}  // namespace

std::string_view to_string(MatmulProgramKind kind) {
  switch (kind) {
    case MatmulProgramKind::MultiCoreReuse: return "MatmulMultiCoreReuseProgramConfig";
    case MatmulProgramKind::MultiCast2D: return "MatmulMultiCoreReuseMultiCastProgramConfig";
    case MatmulProgramKind::MultiCast1D: return "MatmulMultiCoreReuseMultiCast1DProgramConfig";
    case MatmulProgramKind::DramSharded: return "MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig";
  }
  return "?";
}

std::string to_attribute_string(const MatmulProgramConfig& c) {
  std::string s(to_string(c.kind));
  s += "(";
  if (c.kind != MatmulProgramKind::DramSharded) {
    s += "compute_with_storage_grid_size=(x=" + std::to_string(c.grid_x) + ";y=" + std::to_string(c.grid_y) + ");";
  }
  s += "in0_block_w=" + std::to_string(c.in0_block_w);
  if (c.kind != MatmulProgramKind::DramSharded) {
    s += ";out_subblock_h=" + std::to_string(c.out_subblock_h) + ";out_subblock_w=" + std::to_string(c.out_subblock_w);
  }
  if (c.kind == MatmulProgramKind::MultiCast2D && (c.out_block_h != 0 || c.out_block_w != 0)) {
    s += ";out_block_h=" + std::to_string(c.block_h()) + ";out_block_w=" + std::to_string(c.block_w());
  }
  s += ";per_core_M=" + std::to_string(c.per_core_M) + ";per_core_N=" + std::to_string(c.per_core_N);
  if (c.kind == MatmulProgramKind::MultiCast2D) s += std::string(";transpose_mcast=") + (c.transpose_mcast ? "1" : "0");
  if (c.kind == MatmulProgramKind::MultiCast1D) {
    s += std::string(";fuse_batch=") + (c.fuse_batch ? "1" : "0") + ";mcast_in0=" + (c.mcast_in0 ? "1" : "0");
  }
  s += ";fused_activation=" + (c.fused_activation.empty() ? std::string("std::nullopt") : c.fused_activation) + ")";
  return s;
}

MatmulShape matmul_shape(const TensorSpec& in0, const TensorSpec& in1) {
  MatmulShape shape;
  shape.Kt = in0.width_tiles();
  shape.Nt = in1.width_tiles();
  const std::uint64_t in1_batches = outer_volume(in1.padded_shape());
  if (in1_batches > 1) {
    shape.batch = in1_batches;
    shape.Mt = in0.padded_shape().y() / kTileHeight;
  } else {
    shape.Mt = in0.height_tiles();  // batch of in0 folds into M
  }
  return shape;
}

std::string matmul_config_problem(const MatmulProgramConfig& c, const TensorSpec& in0, const TensorSpec& in1,
                                  const ComputeKernelConfig& compute, const arch::DeviceSpec& device) {
  const MatmulShape s = matmul_shape(in0, in1);
  std::string problem;
  if (c.grid_x == 0 || c.grid_y == 0 || c.grid_x > device.worker_grid_x() || c.grid_y > device.worker_grid_y()) {
    problem = join_problem(problem, "grid " + std::to_string(c.grid_x) + "x" + std::to_string(c.grid_y) +
                                        " does not fit the " + std::to_string(device.worker_grid_x()) + "x" +
                                        std::to_string(device.worker_grid_y()) + " worker grid");
    return problem;
  }
  if (c.in0_block_w == 0 || s.Kt % c.in0_block_w != 0) {
    problem = join_problem(problem, "in0_block_w=" + std::to_string(c.in0_block_w) + " does not divide K=" +
                                        std::to_string(s.Kt) + " tiles");
  }
  if (c.per_core_M == 0 || c.per_core_N == 0) return join_problem(problem, "per_core_M/N must be >= 1");
  if (c.per_core_M % c.block_h() != 0 || c.per_core_N % c.block_w() != 0) {
    return join_problem(problem, "out_block " + std::to_string(c.block_h()) + "x" + std::to_string(c.block_w()) +
                                     " does not divide per_core_M x per_core_N = " + std::to_string(c.per_core_M) + "x" +
                                     std::to_string(c.per_core_N));
  }
  if (c.out_subblock_h == 0 || c.out_subblock_w == 0 || c.block_h() % c.out_subblock_h != 0 ||
      c.block_w() % c.out_subblock_w != 0) {
    problem = join_problem(problem, "out_subblock " + std::to_string(c.out_subblock_h) + "x" +
                                        std::to_string(c.out_subblock_w) + " does not divide the output block " +
                                        std::to_string(c.block_h()) + "x" + std::to_string(c.block_w()));
  }
  if (c.out_subblock_h * c.out_subblock_w > dst_tiles(device, compute)) {
    problem = join_problem(problem, "out_subblock_h*out_subblock_w = " +
                                        std::to_string(c.out_subblock_h * c.out_subblock_w) + " exceeds the " +
                                        std::to_string(dst_tiles(device, compute)) + " Dst tiles available");
  }
  const std::uint64_t rows = c.kind == MatmulProgramKind::MultiCast2D
                                 ? (c.transpose_mcast ? c.grid_x : c.grid_y)
                                 : 1;
  const std::uint64_t cols = c.kind == MatmulProgramKind::MultiCast2D
                                 ? (c.transpose_mcast ? c.grid_y : c.grid_x)
                                 : 1;
  const std::uint64_t cores = static_cast<std::uint64_t>(c.grid_x) * c.grid_y;
  std::uint64_t m_cover = 0;
  std::uint64_t n_cover = 0;
  switch (c.kind) {
    case MatmulProgramKind::MultiCast2D:
      m_cover = rows * c.per_core_M;
      n_cover = cols * c.per_core_N;
      break;
    case MatmulProgramKind::MultiCast1D:
    case MatmulProgramKind::DramSharded:
      m_cover = c.mcast_in0 || c.kind == MatmulProgramKind::DramSharded ? c.per_core_M : cores * c.per_core_M;
      n_cover = c.mcast_in0 || c.kind == MatmulProgramKind::DramSharded ? cores * c.per_core_N : c.per_core_N;
      break;
    case MatmulProgramKind::MultiCoreReuse:
      m_cover = s.Mt;  // work is spread over cores in (batch, M block, N block) units
      n_cover = s.Nt;
      if (s.Mt % c.per_core_M != 0 || s.Nt % c.per_core_N != 0) {
        problem = join_problem(problem, "per_core_M/N must divide M/N tiles for MultiCoreReuse");
      }
      break;
  }
  if (m_cover < s.Mt || n_cover < s.Nt) {
    problem = join_problem(problem, "per-core blocks cover " + std::to_string(m_cover) + "x" + std::to_string(n_cover) +
                                        " tiles but the output is " + std::to_string(s.Mt) + "x" + std::to_string(s.Nt));
  }
  if (s.batch > 1 && c.kind != MatmulProgramKind::MultiCoreReuse) {
    problem = join_problem(problem, std::string(to_string(c.kind)) +
                                        " needs in1 shared by every batch; batched in1 runs MultiCoreReuse");
  }
  const std::uint64_t cb = matmul_cb_bytes(c.block_h(), c.block_w(), c.in0_block_w, tile_bytes(in0.data_type()),
                                           tile_bytes(in1.data_type()), tile_bytes(in0.data_type()), false);
  const std::uint64_t resident = l1_bytes_per_core(in0, device) + l1_bytes_per_core(in1, device);
  if (cb + resident > device.l1.usable_bytes) {
    problem = join_problem(problem, "its circular buffers need " + std::to_string(cb) + " B of L1 per core next to " +
                                        std::to_string(resident) + " B of resident operands, more than the " +
                                        std::to_string(device.l1.usable_bytes) + " B usable");
  }
  return problem;
}

MatmulProgramConfig choose_matmul_config(const TensorSpec& in0, const TensorSpec& in1, const MemoryConfig& output,
                                         const ComputeKernelConfig& compute, const arch::DeviceSpec& device) {
  const MatmulShape s = matmul_shape(in0, in1);
  const std::uint32_t gx_max = device.worker_grid_x();
  const std::uint32_t gy_max = device.worker_grid_y();
  const std::uint32_t dst = dst_tiles(device, compute);
  MatmulProgramConfig c;
  const auto layout = in0.memory_config().layout();
  const bool in1_dram_sharded = in1.memory_config().is_dram() && in1.is_sharded();
  if (s.batch > 1) {
    c.kind = MatmulProgramKind::MultiCoreReuse;
    c.grid_x = gx_max;
    c.grid_y = gy_max;
    c.per_core_M = largest_divisor_at_most(s.Mt, 8);
    c.per_core_N = largest_divisor_at_most(s.Nt, 8);
  } else if (in1_dram_sharded && layout == TensorMemoryLayout::WidthSharded) {
    c.kind = MatmulProgramKind::DramSharded;
    const auto cores = in0.shard_spec().grid.num_cores();
    c.grid_x = std::min<std::uint32_t>(cores, gx_max);
    c.grid_y = (cores + c.grid_x - 1) / c.grid_x;
    c.per_core_M = static_cast<std::uint32_t>(s.Mt);
    c.per_core_N = static_cast<std::uint32_t>((s.Nt + cores - 1) / cores);
  } else if (layout == TensorMemoryLayout::BlockSharded) {
    const CoreRange box = in0.shard_spec().grid.bounding_box();
    c.kind = MatmulProgramKind::MultiCast2D;
    c.grid_x = box.end().x - box.start().x + 1;
    c.grid_y = box.end().y - box.start().y + 1;
    c.per_core_M = static_cast<std::uint32_t>((s.Mt + c.grid_y - 1) / c.grid_y);
    c.per_core_N = static_cast<std::uint32_t>((s.Nt + c.grid_x - 1) / c.grid_x);
  } else if (layout == TensorMemoryLayout::WidthSharded ||
             (layout == TensorMemoryLayout::Interleaved && s.Mt <= gy_max / 2)) {
    // Few rows of tokens: parallelise N only and multicast in0 (1D, mcast_in0).
    const auto cores = static_cast<std::uint32_t>(std::min<std::uint64_t>(s.Nt, static_cast<std::uint64_t>(gx_max) * gy_max));
    c.kind = MatmulProgramKind::MultiCast1D;
    c.mcast_in0 = true;
    c.grid_x = std::min(cores, gx_max);
    c.grid_y = (cores + c.grid_x - 1) / c.grid_x;
    c.per_core_M = static_cast<std::uint32_t>(s.Mt);
    c.per_core_N = static_cast<std::uint32_t>((s.Nt + cores - 1) / cores);
  } else if (layout == TensorMemoryLayout::HeightSharded) {
    const auto cores = in0.shard_spec().grid.num_cores();
    c.kind = MatmulProgramKind::MultiCast1D;
    c.mcast_in0 = false;
    c.grid_x = std::min<std::uint32_t>(cores, gx_max);
    c.grid_y = (cores + c.grid_x - 1) / c.grid_x;
    c.per_core_M = static_cast<std::uint32_t>((s.Mt + cores - 1) / cores);
    c.per_core_N = static_cast<std::uint32_t>(s.Nt);
  } else {
    c.kind = MatmulProgramKind::MultiCast2D;
    c.grid_x = static_cast<std::uint32_t>(std::min<std::uint64_t>(gx_max, s.Nt));
    c.grid_y = static_cast<std::uint32_t>(std::min<std::uint64_t>(gy_max, s.Mt));
    c.per_core_M = static_cast<std::uint32_t>((s.Mt + c.grid_y - 1) / c.grid_y);
    c.per_core_N = static_cast<std::uint32_t>((s.Nt + c.grid_x - 1) / c.grid_x);
  }
  // K block: the largest divisor of K (of the per-core K shard when in0 is sharded along K)
  // whose double-buffered blocks leave L1 for the tensors themselves.
  std::uint64_t k_limit = s.Kt;
  if (c.kind == MatmulProgramKind::MultiCast2D && layout == TensorMemoryLayout::BlockSharded) k_limit = s.Kt / c.grid_x;
  if ((c.kind == MatmulProgramKind::MultiCast1D && c.mcast_in0) || c.kind == MatmulProgramKind::DramSharded) {
    k_limit = std::max<std::uint64_t>(1, s.Kt / (static_cast<std::uint64_t>(c.grid_x) * c.grid_y));
  }
  // CBs get the L1 the resident tensors leave: in0/in1 shards or interleaved pages, and the
  // output block when the output is an L1 shard.
  const std::uint32_t in0_tile = tile_bytes(in0.data_type());
  const std::uint32_t in1_tile = tile_bytes(in1.data_type());
  const bool out_shard = is_l1_shard(output);
  std::uint64_t resident = l1_bytes_per_core(in0, device) + l1_bytes_per_core(in1, device);
  if (out_shard) resident += static_cast<std::uint64_t>(c.per_core_M) * c.per_core_N * in0_tile;
  const std::uint64_t budget = device.l1.usable_bytes > resident ? device.l1.usable_bytes - resident : 0;
  // Pick the output block (2D only: a per-core output too big for L1 is walked in blocks) and
  // the K block together, minimising an estimate of cycles per output tile per K tile:
  //   math + partials packed once per K block + operand tiles fetched per output tile
  // (each output block re-fetches in0 for its rows and in1 for its columns).
  const double math = device.compute.matmul_tile_cycles[static_cast<int>(compute.math_fidelity)];
  const double pack = pack_tile_cycles(device, compute.fp32_dest_acc_en ? DataType::Float32 : in0.data_type());
  const double fetch = static_cast<double>(in0_tile) / device.noc.link_bytes_per_cycle;
  std::vector<std::uint32_t> heights{c.per_core_M};
  std::vector<std::uint32_t> widths{c.per_core_N};
  if (c.kind == MatmulProgramKind::MultiCast2D) {
    heights.clear();
    widths.clear();
    for (std::uint32_t d = 1; d <= c.per_core_M; ++d) {
      if (c.per_core_M % d == 0) heights.push_back(d);
    }
    for (std::uint32_t d = 1; d <= c.per_core_N; ++d) {
      if (c.per_core_N % d == 0) widths.push_back(d);
    }
  }
  double best = -1;
  c.in0_block_w = 1;
  for (std::uint64_t w = std::max<std::uint64_t>(1, k_limit); w >= 1; --w) {
    if (s.Kt % w != 0 || k_limit % w != 0) continue;
    for (std::uint32_t bh : heights) {
      for (std::uint32_t bw : widths) {
        if (matmul_cb_bytes(bh, bw, static_cast<std::uint32_t>(w), in0_tile, in1_tile, in0_tile, out_shard) > budget) {
          continue;
        }
        const double estimate = math + pack / static_cast<double>(w) + fetch * (1.0 / bh + 1.0 / bw);
        if (best < 0 || estimate < best) {
          best = estimate;
          c.in0_block_w = static_cast<std::uint32_t>(w);
          c.out_block_h = bh == c.per_core_M ? 0 : bh;
          c.out_block_w = bw == c.per_core_N ? 0 : bw;
        }
      }
    }
  }
  const auto [h, w] = choose_subblock(c.block_h(), c.block_w(), dst);
  c.out_subblock_h = h;
  c.out_subblock_w = w;
  return c;
}

std::string MatmulOp::attributes() const {
  std::string s = "{'compute_kernel_config': '" + to_attribute_string(options_.compute) + "'; ";
  s += "'program_config': '" + to_attribute_string(resolved_) + "'";
  if (!options_.activation.empty()) s += "; 'activation': '" + options_.activation + "'";
  s += "}";
  return s;
}

std::vector<TensorSpec> MatmulOp::output_specs(const std::vector<TensorSpec>& inputs,
                                               const arch::DeviceSpec& device) const {
  if (inputs.size() < 2 || inputs.size() > 3) {
    throw Error("Matmul takes in0, in1 and an optional bias; got " + std::to_string(inputs.size()) + " inputs");
  }
  const TensorSpec& in0 = inputs[0];
  const TensorSpec& in1 = inputs[1];
  for (const TensorSpec* t : {&in0, &in1}) {
    if (t->layout() != Layout::Tile) throw Error("Matmul needs TILE layout operands; tilize " + to_string(*t) + " first");
  }
  if (in0.logical_shape().x() != in1.padded_shape().y() && in0.padded_shape().x() != in1.padded_shape().y()) {
    throw Error("Matmul shapes do not match: in0 is " + to_string(in0.logical_shape()) + " and in1 is " +
                to_string(in1.logical_shape()) + "; in0's last dim must equal in1's second-to-last");
  }
  const std::uint64_t in1_batches = outer_volume(in1.padded_shape());
  if (in1_batches > 1 && in1_batches != outer_volume(in0.padded_shape())) {
    throw Error("Matmul batch mismatch: in1 " + to_string(in1.logical_shape()) + " has " + std::to_string(in1_batches) +
                " batches but in0 " + to_string(in0.logical_shape()) + " has " +
                std::to_string(outer_volume(in0.padded_shape())));
  }
  if (inputs.size() == 3 && inputs[2].logical_shape().x() != in1.logical_shape().x()) {
    throw Error("Matmul bias " + to_string(inputs[2].logical_shape()) + " must have N = " +
                std::to_string(in1.logical_shape().x()) + " columns");
  }
  if (!options_.activation.empty()) sfpu_tile_cycles(device, options_.activation);

  if (options_.program_config) {
    const std::string problem = matmul_config_problem(*options_.program_config, in0, in1, options_.compute, device);
    if (problem.empty()) {
      resolved_ = *options_.program_config;
      fallback_.clear();
    } else if (options_.strict) {
      throw Error("Matmul program config is invalid for in0 " + to_string(in0.logical_shape()) + " x in1 " +
                  to_string(in1.logical_shape()) + ": " + problem + " (drop --strict to fall back to an automatic config)");
    } else {
      resolved_ = choose_matmul_config(in0, in1, options_.output_memory, options_.compute, device);
      fallback_ = problem;
    }
  } else {
    resolved_ = choose_matmul_config(in0, in1, options_.output_memory, options_.compute, device);
    fallback_.clear();
  }
  if (!options_.activation.empty()) resolved_.fused_activation = options_.activation;
  const std::string problem = matmul_config_problem(resolved_, in0, in1, options_.compute, device);
  if (!problem.empty()) {
    throw Error("Matmul in0 " + to_string(in0.logical_shape()) + " x in1 " + to_string(in1.logical_shape()) +
                " has no valid program config on " + device.name + ": " + problem);
  }
  std::vector<std::uint32_t> dims = in0.logical_shape().dims();
  dims.back() = in1.logical_shape().x();
  const DataType out_dtype = options_.output_dtype.value_or(in0.data_type());
  return {TensorSpec(Shape(dims), out_dtype, Layout::Tile, options_.output_memory)};
}

std::vector<Tensor> MatmulOp::compute(const std::vector<Tensor>& inputs, const std::vector<TensorSpec>& outputs) const {
  const Tensor& in0 = inputs[0];
  const Tensor& in1 = inputs[1];
  const TensorSpec& out_spec = outputs[0];
  const MatmulShape s = matmul_shape(in0.spec(), in1.spec());
  const std::size_t m = s.Mt * kTileHeight;
  const std::size_t k = s.Kt * kTileWidth;
  const std::size_t n = s.Nt * kTileWidth;
  auto values = std::make_shared<std::vector<float>>(out_spec.padded_shape().volume(), 0.0f);
  auto golden = std::make_shared<std::vector<float>>(out_spec.padded_shape().volume(), 0.0f);
  numerics::MatmulNumerics num;
  num.fidelity = options_.compute.math_fidelity;
  num.fp32_dest_acc = options_.compute.fp32_dest_acc_en;
  num.packer_l1_acc = options_.compute.packer_l1_acc;
  num.in0_block_w = resolved_.in0_block_w;
  num.in0_dtype = in0.spec().data_type();
  num.in1_dtype = in1.spec().data_type();
  num.output_dtype = out_spec.data_type();
  const bool has_bias = inputs.size() == 3;
  // A fused bias or activation runs before the final pack: keep Dst's values until then.
  if (has_bias || !options_.activation.empty()) num.output_dtype = DataType::Float32;
  const std::vector<float>& in0_golden = in0.has_golden() ? in0.golden() : in0.values();
  const std::vector<float>& in1_golden = in1.has_golden() ? in1.golden() : in1.values();
  for (std::uint64_t b = 0; b < s.batch; ++b) {
    const std::size_t a_off = b * m * k;
    const std::size_t b_off = s.batch > 1 ? b * k * n : 0;
    const std::size_t c_off = b * m * n;
    numerics::fidelity_matmul(std::span(in0.values()).subspan(a_off, m * k), std::span(in1.values()).subspan(b_off, k * n),
                              std::span(*values).subspan(c_off, m * n), m, k, n, num);
    numerics::sgemm(in0_golden.data() + a_off, in1_golden.data() + b_off, golden->data() + c_off, m,
                    k, n, n);
  }
  const std::size_t rows = values->size() / n;
  if (has_bias) {
    const Tensor& bias = inputs[2];
    const std::vector<float>& bias_golden = bias.has_golden() ? bias.golden() : bias.values();
    const float* bias_values = bias.values().data();
    sim::run_ranges(rows, sim::kParallelValues / n + 1, [&](std::size_t first, std::size_t last) {
      for (std::size_t r = first; r < last; ++r) {
        for (std::size_t c = 0; c < n; ++c) {
          (*values)[r * n + c] += bias_values[c];
          (*golden)[r * n + c] += bias_golden[c];
        }
      }
    });
  }
  if (!options_.activation.empty()) {
    apply_unary(options_.activation, *values, options_.compute.math_approx_mode);
    apply_unary_exact(options_.activation, *golden);
  }
  numerics::quantize(*values, rows, n, out_spec.data_type());
  return {Tensor(out_spec, values, golden)};
}

PerfModel MatmulOp::perf_model(const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs,
                               const arch::DeviceSpec& device) const {
  PerfModel model = Operation::perf_model(inputs, outputs, device);
  const MatmulShape s = matmul_shape(inputs[0], inputs[1]);
  const double tile_products = static_cast<double>(s.batch * s.Mt * s.Kt * s.Nt);
  const double cores = static_cast<double>(device.worker_count());
  const double cycles = tile_products * device.compute.matmul_tile_cycles[static_cast<int>(options_.compute.math_fidelity)] / cores;
  model.compute_ns = cycles * 1000.0 / device.clock_mhz;
  return model;
}

std::uint64_t MatmulOp::flops(const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const {
  (void)outputs;
  const MatmulShape s = matmul_shape(inputs[0], inputs[1]);
  return 2ull * s.batch * s.Mt * s.Kt * s.Nt * kTileHeight * kTileWidth * kTileWidth;
}

}  // namespace wormsim::ops
