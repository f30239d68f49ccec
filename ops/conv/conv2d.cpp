#include "ops/conv/conv2d.hpp"

#include <algorithm>
#include <cmath>
#include <span>

#include "ops/conv/halo.hpp"
#include "ops/numerics/fidelity_matmul.hpp"
#include "ops/numerics/number_formats.hpp"
#include "ops/unary_functions.hpp"

namespace wormsim::ops {
namespace {

// The op name errors give: a transposed window belongs to conv_transpose2d.
const char* op_name(const SlidingWindow& window) {
  return window.transpose ? "conv_transpose2d" : "conv2d";
}

std::uint64_t div_up(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

// Entry e of K sequence `seq` as (ky, kx, c).
struct KEntry {
  std::uint32_t ky, kx, c;
};

KEntry k_entry(const SlidingWindow& w, bool block, std::uint32_t slice, std::uint32_t in_channels,
               std::uint32_t seq, std::uint32_t e) {
  if (!block) return {seq, e / in_channels, e % in_channels};
  return {e / (w.kernel_w * slice), (e / slice) % w.kernel_w, seq * slice + e % slice};
}

std::uint32_t sequence_length(const SlidingWindow& w, bool block, std::uint32_t slice,
                              std::uint32_t in_channels) {
  return block ? w.kernel_h * w.kernel_w * slice : w.kernel_w * in_channels;
}

// Contiguous runs one output row's entries of a K block form in the halo buffer, whose sticks
// hold `stick_channels` values (entries in order; a break wherever the next entry is not the
// next value in L1).
std::uint32_t gather_segments(const SlidingWindow& w, bool block, std::uint32_t slice,
                              std::uint32_t in_channels, std::uint32_t stick_channels,
                              const ConvKBlock& kb) {
  auto address = [&](std::uint32_t e) {
    const KEntry k = k_entry(w, block, slice, in_channels, kb.sequence, e);
    const std::uint64_t c_local = block ? k.c - kb.sequence * slice : k.c;
    return (static_cast<std::uint64_t>(k.ky) * w.dilation_h * w.padded_w() +
            static_cast<std::uint64_t>(k.kx) * w.dilation_w) *
               stick_channels +
           c_local;
  };
  std::uint32_t segments = 0;
  std::uint64_t next = ~0ull;
  for (std::uint32_t e = kb.first; e < kb.first + kb.count; ++e) {
    const std::uint64_t a = address(e);
    if (a != next) ++segments;
    next = a + 1;
  }
  return segments;
}

// tt-metal's split-reader choice (is_split_reader_viable in conv2d_utils.cpp): always for block
// sharding; for height sharding when half the act reads plus the longer of weights and tilize
// beat the serial act reads plus tilize, or the weights. The three times here are wormsim's own
// estimates of one K block, from the same spec constants the kernels are timed with.
bool split_reader_pays(const ConvPlan& plan, DataType weight_type, bool fp32_dest_acc,
                       const arch::DeviceSpec& device) {
  if (plan.block) return true;
  const arch::NocSpec& noc = device.noc;
  const ConvKBlock& kb = plan.k_blocks.front();
  const double rows = static_cast<double>(plan.act_block_h) * kTileHeight;
  const double act_bytes = rows * kb.count * element_bytes(plan.halo->stick_type);
  const double act = std::max(rows * kb.gather_segments * noc.request_issue_cycles,
                              act_bytes / noc.link_bytes_per_cycle);
  const double weight_bytes =
      static_cast<double>(plan.in0_block_w) * plan.per_core_N * tile_bytes(weight_type);
  const double weights =
      weight_bytes * (1.0 / noc.niu_inject_dram_bytes_per_cycle + 1.0 / noc.link_bytes_per_cycle);
  const double tilize =
      static_cast<double>(plan.act_block_h) * plan.in0_block_w *
      tilize_tile_cycles(device, plan.halo->stick_type, plan.act_type, fp32_dest_acc);
  return act / 2 + std::max(weights, tilize) < std::max(act + tilize, weights);
}

std::vector<std::uint32_t> divisors_descending(std::uint32_t n) {
  std::vector<std::uint32_t> out;
  for (std::uint32_t d = n; d >= 1; --d) {
    if (n % d == 0) out.push_back(d);
  }
  return out;
}

std::pair<std::uint32_t, std::uint32_t> choose_subblock(std::uint32_t h_tiles,
                                                        std::uint32_t w_tiles, std::uint32_t dst) {
  std::pair<std::uint32_t, std::uint32_t> best{1, 1};
  for (std::uint32_t h = 1; h <= dst; ++h) {
    for (std::uint32_t w = 1; h * w <= dst; ++w) {
      if (h_tiles % h != 0 || w_tiles % w != 0) continue;
      const std::uint32_t area = h * w;
      const std::uint32_t best_area = best.first * best.second;
      if (area > best_area || (area == best_area && w > best.second)) best = {h, w};
    }
  }
  return best;
}

std::uint64_t aligned(std::uint64_t bytes, const arch::DeviceSpec& device) {
  const std::uint64_t a = std::max<std::uint32_t>(device.l1.alignment_bytes, 1);
  return div_up(bytes, a) * a;
}

}  // namespace

std::string_view to_string(ConvShardLayout layout) {
  return layout == ConvShardLayout::Block ? "BLOCK_SHARDED" : "HEIGHT_SHARDED";
}

namespace {

// tt-metal runs a 1x1, stride-1, unpadded, ungrouped conv as a matmul (conv2d_utils.cpp
// use_matmul_for_1x1_conv; ttnn::linear on the [1, 1, NHW, C] input). When that input is a TILE
// tensor in L1 already sharded as the conv's output rows (height), or rows and channel slices
// (block), its shard is the matmul's in0 as it is: no halo, no window gather, no tilize.
bool runs_on_its_input_shard(const SlidingWindow& w, std::uint32_t groups, const TensorSpec& input,
                             const ConvPlan& plan) {
  const bool pointwise = w.kernel_h == 1 && w.kernel_w == 1 && w.stride_h == 1 && w.stride_w == 1 &&
                         w.dilation_h == 1 && w.dilation_w == 1 && w.pad_top == 0 &&
                         w.pad_bottom == 0 && w.pad_left == 0 && w.pad_right == 0 && !w.transpose &&
                         w.input_step_h == 1 && w.input_step_w == 1 && groups == 1;
  if (!pointwise || input.layout() != Layout::Tile || !input.memory_config().is_l1()) return false;
  const TensorMemoryLayout wanted =
      plan.block ? TensorMemoryLayout::BlockSharded : TensorMemoryLayout::HeightSharded;
  if (input.memory_config().layout() != wanted) return false;
  const auto& shard = input.shard_spec().shape;
  return shard[0] == plan.halo->partition.output_rows_per_core &&
         (!plan.block || shard[1] == plan.channels_per_slice);
}

}  // namespace

const ConvPlan& Conv2dOp::plan() const {
  if (!plan_) throw Error("conv2d: plan() needs output_specs() to have run");
  return *plan_;
}

std::vector<TensorSpec> Conv2dOp::output_specs(const std::vector<TensorSpec>& inputs,
                                               const arch::DeviceSpec& device) const {
  const std::string op = op_name(options_.window);
  if (inputs.size() < 2 || inputs.size() > 3) {
    throw Error(op + " takes input, weight and an optional bias; got " +
                std::to_string(inputs.size()) + " inputs");
  }
  const TensorSpec& input = inputs[0];
  const TensorSpec& weight = inputs[1];
  const SlidingWindow& w = options_.window;
  w.validate(op);
  const auto in_dims = input.logical_shape().wzyx();
  if (in_dims[0] * in_dims[1] != 1 || in_dims[2] != w.input_sticks()) {
    throw Error(op + ": input " + to_string(input.logical_shape()) +
                " must be [1, 1, N*H*W, C] with N*H*W = " + std::to_string(w.batch) + "*" +
                std::to_string(w.input_h) + "*" + std::to_string(w.input_w) + " = " +
                std::to_string(w.input_sticks()) +
                "; flatten the NHWC activation or fix batch_size/input_height/input_width");
  }
  const std::uint32_t c_in = options_.in_channels != 0 ? options_.in_channels : in_dims[3];
  if (c_in != in_dims[3]) {
    throw Error(op + ": in_channels=" + std::to_string(c_in) + " but the input has " +
                std::to_string(in_dims[3]) + " channels");
  }
  if (weight.layout() != Layout::Tile)
    throw Error(op + ": the weight must be in TILE layout (TT-NN's prepared weights)");
  const auto w_dims = weight.logical_shape().wzyx();
  const std::uint32_t c_out = options_.out_channels != 0 ? options_.out_channels : w_dims[3];
  const std::uint64_t k_rows = static_cast<std::uint64_t>(w.kernel_h) * w.kernel_w * c_in;
  if (w_dims[0] * w_dims[1] != 1 || w_dims[2] != k_rows || w_dims[3] != c_out) {
    throw Error(op + ": weight " + to_string(weight.logical_shape()) +
                " must be [1, 1, kh*kw*in_channels, " + "out_channels] = [1, 1, " +
                std::to_string(k_rows) + ", " + std::to_string(c_out) +
                "] (channels mismatch between input, weight and params)");
  }
  const std::uint32_t groups = options_.groups;
  if (groups == 0 || c_in % groups != 0 || c_out % groups != 0) {
    throw Error(op + ": groups=" + std::to_string(groups) + " must divide in_channels=" +
                std::to_string(c_in) + " and out_channels=" + std::to_string(c_out));
  }
  if (inputs.size() == 3) {
    const TensorSpec& bias = inputs[2];
    if (bias.layout() != Layout::Tile || bias.logical_shape().x() != c_out ||
        bias.logical_shape().volume() != c_out) {
      throw Error(op + ": bias " + to_string(bias.logical_shape()) + " must be a TILE [1, 1, 1, " +
                  std::to_string(c_out) + "] tensor");
    }
  }
  if (!options_.activation.empty()) sfpu_tile_cycles(device, options_.activation);
  has_bias_ = inputs.size() == 3;
  in_channels_ = c_in;
  out_channels_ = c_out;

  ConvPlan plan;
  plan.block = options_.shard_layout == ConvShardLayout::Block;
  const std::uint32_t gx_req = options_.grid_x != 0 ? options_.grid_x : device.worker_grid_x();
  const std::uint32_t gy_req = options_.grid_y != 0 ? options_.grid_y : device.worker_grid_y();
  NhwPartition partition =
      partition_nhw(op, input, w.output_sticks(), input.physical_width(), plan.block,
                    /*tile_aligned=*/true, gx_req, gy_req, device);
  plan.grid_x = static_cast<std::uint32_t>(partition.groups.size());
  plan.grid_y = static_cast<std::uint32_t>(partition.cores_per_group());
  plan.per_core_M = static_cast<std::uint32_t>(partition.output_rows_per_core / kTileHeight);
  const auto nt = static_cast<std::uint32_t>(div_up(c_out, kTileWidth));
  plan.per_core_N = static_cast<std::uint32_t>(div_up(nt, plan.grid_x));
  if (plan.block) {
    if (c_in % plan.grid_x != 0) {
      throw Error(op + ": block sharding over " + std::to_string(plan.grid_x) +
                  " columns needs in_channels=" + std::to_string(c_in) + " to split evenly");
    }
    if (static_cast<std::uint64_t>(plan.per_core_N) * (plan.grid_x - 1) >= nt) {
      throw Error(
          op + ": block sharding over " + std::to_string(plan.grid_x) + " columns needs at least " +
          std::to_string(plan.grid_x) +
          " output-channel tiles per column set, but out_channels=" + std::to_string(c_out) +
          " has " + std::to_string(nt) + "; use fewer grid columns or height sharding");
    }
  }
  plan.channels_per_slice = plan.block ? c_in / plan.grid_x : c_in;
  plan.halo = plan_window_halo(op, input, w, std::move(partition));
  const HaloPlan& halo = *plan.halo;
  plan.act_in_place = runs_on_its_input_shard(w, options_.groups, input, plan);

  // Output spec.
  const DataType out_type = options_.output_dtype.value_or(
      is_block_float(input.data_type()) ? DataType::BFloat16 : input.data_type());
  plan.act_type = plan.act_in_place ? input.data_type() : out_type;
  plan.act_cb_blocks = options_.act_double_buffer || plan.act_in_place ? 2 : 1;
  const Shape out_shape({1, 1, static_cast<std::uint32_t>(w.output_sticks()), c_out});
  MemoryConfig out_memory;
  if (!options_.output_in_dram) {
    ShardSpec shard;
    shard.orientation = ShardOrientation::RowMajor;
    if (plan.block) {
      const CoreCoord first = halo.partition.groups.front().front();
      shard.grid = CoreRangeSet(
          CoreRange(first, CoreCoord{first.x + plan.grid_x - 1, first.y + plan.grid_y - 1}));
      shard.shape = {plan.per_core_M * kTileHeight, plan.per_core_N * kTileWidth};
      out_memory = MemoryConfig(TensorMemoryLayout::BlockSharded, BufferType::L1, shard);
    } else {
      if (input.is_sharded()) {
        shard.grid = input.shard_spec().grid;
        shard.orientation = input.shard_spec().orientation;
      } else {
        shard.grid = num_cores_to_core_range_set(plan.grid_y, gx_req, gy_req);
      }
      shard.shape = {plan.per_core_M * kTileHeight, nt * kTileWidth};
      out_memory = MemoryConfig(TensorMemoryLayout::HeightSharded, BufferType::L1, shard);
    }
  }
  const TensorSpec output(out_shape, out_type, Layout::Tile, out_memory);
  memory_attribute_ = to_csv_attribute_string(out_memory);

  // K blocking, act block height and subblocks: the largest blocks whose circular buffers fit
  // the L1 left next to the input and output shards.
  const std::uint32_t seq_len = sequence_length(w, plan.block, plan.channels_per_slice, c_in);
  const std::uint32_t sequences = plan.block ? plan.grid_x : w.kernel_h;
  const std::uint32_t dst = dst_tiles(device, options_.compute);
  const std::uint64_t budget_total = device.l1.usable_bytes;
  const std::uint64_t tensors =
      l1_bytes_per_core(input, device) + l1_bytes_per_core(output, device);
  const std::uint64_t budget = budget_total > tensors ? budget_total - tensors : 0;
  const DataType act_type = plan.act_type;
  const DataType interm = options_.compute.fp32_dest_acc_en ? DataType::Float32 : out_type;
  const DataType bias_type = has_bias_ ? inputs[2].data_type() : DataType::BFloat16;
  // The halo buffer and the halo's untilize CBs (none on the matmul path).
  std::uint64_t fixed =
      plan.act_in_place ? 0 : aligned(halo.max_window_sticks * halo.stick_bytes, device);
  if (input.layout() == Layout::Tile && !plan.act_in_place) {
    fixed += halo.input_sharded
                 ? aligned(static_cast<std::uint64_t>(halo_untilize_out_tiles(halo)) *
                               tile_bytes(halo.stick_type),
                           device)
                 : aligned(2ull * halo.input_slice_tiles * tile_bytes(input.data_type()), device);
  }
  if (has_bias_)
    fixed += aligned(static_cast<std::uint64_t>(plan.per_core_N) * tile_bytes(bias_type), device);
  const std::vector<std::uint32_t> act_heights =
      options_.act_block_h_ntiles != 0 ? std::vector<std::uint32_t>{options_.act_block_h_ntiles}
                                       : divisors_descending(plan.per_core_M);
  if (options_.act_block_h_ntiles != 0 && plan.per_core_M % options_.act_block_h_ntiles != 0) {
    throw Error(op + ": act_block_h_ntiles=" + std::to_string(options_.act_block_h_ntiles) +
                " must divide per_core_out_matrix_height_ntile=" + std::to_string(plan.per_core_M));
  }
  bool found = false;
  std::uint64_t smallest_need = ~0ull;
  const std::uint32_t max_split = static_cast<std::uint32_t>(div_up(seq_len, kTileWidth));
  for (std::uint32_t split = 1; split <= max_split && !found; ++split) {
    const auto bw = static_cast<std::uint32_t>(div_up(div_up(seq_len, split), kTileWidth));
    const auto chunks =
        static_cast<std::uint32_t>(div_up(seq_len, static_cast<std::uint64_t>(bw) * kTileWidth));
    const std::uint32_t nb = chunks * sequences;
    for (std::uint32_t abh : act_heights) {
      const auto [sh, sw] = choose_subblock(abh, plan.per_core_N, dst);
      for (bool resident : {true, false}) {
        const std::uint64_t act_block = static_cast<std::uint64_t>(abh) * bw * tile_bytes(act_type);
        const std::uint64_t act_blocks = plan.act_cb_blocks;
        std::uint64_t need = 0;
        if (!plan.block && !plan.act_in_place) {
          // The row-major act CB the readers fill, and the block the compute kernel tilizes.
          const std::uint64_t row_major =
              static_cast<std::uint64_t>(abh) * bw * tile_bytes(halo.stick_type);
          need = fixed + aligned(act_blocks * row_major, device) + aligned(act_block, device);
        } else {
          need = fixed + aligned(act_blocks * act_block, device);
        }
        if (plan.block && !plan.act_in_place) {
          // The own slice gathered row-major, then tilized for the multicast.
          const std::uint64_t slice_tiles = static_cast<std::uint64_t>(chunks) * abh * bw;
          need += aligned(slice_tiles * tile_bytes(halo.stick_type), device) +
                  aligned(slice_tiles * tile_bytes(act_type), device);
        }
        const std::uint64_t w_block =
            static_cast<std::uint64_t>(bw) * plan.per_core_N * tile_bytes(weight.data_type());
        need += aligned((resident ? nb : 2) * w_block, device);
        if (nb > 1)
          need += aligned(static_cast<std::uint64_t>(abh) * plan.per_core_N * tile_bytes(interm),
                          device);
        if (options_.output_in_dram)
          need += aligned(2ull * sh * plan.per_core_N * tile_bytes(out_type), device);
        smallest_need = std::min(smallest_need, need);
        if (need > budget) continue;
        plan.in0_block_w = bw;
        plan.chunks_per_sequence = chunks;
        plan.act_block_h = abh;
        plan.subblock_h = sh;
        plan.subblock_w = sw;
        plan.weights_resident = resident;
        plan.cb_bytes_per_core = need;
        found = true;
        break;
      }
      if (found) break;
    }
  }
  if (!found) {
    throw Error(op + ": its circular buffers need at least " + std::to_string(smallest_need) +
                " B of L1 per core but only " + std::to_string(budget) +
                " B are free next to the input and output shards; " +
                "use more cores, block sharding or a DRAM output");
  }
  for (std::uint32_t s = 0; s < sequences; ++s) {
    for (std::uint32_t c = 0; c < plan.chunks_per_sequence; ++c) {
      ConvKBlock kb;
      kb.sequence = s;
      kb.first = c * plan.in0_block_w * kTileWidth;
      kb.count = std::min(seq_len - std::min(seq_len, kb.first), plan.in0_block_w * kTileWidth);
      kb.gather_segments = gather_segments(w, plan.block, plan.channels_per_slice, c_in,
                                           halo.partition.channels_per_group, kb);
      plan.k_blocks.push_back(kb);
    }
  }
  const bool split_supported = plan.act_block_h >= 2 && !plan.act_in_place;
  plan.split_reader =
      split_supported && options_.force_split_reader.value_or(split_reader_pays(
                             plan, weight.data_type(), options_.compute.fp32_dest_acc_en, device));
  plan_ = std::move(plan);
  return {output};
}

std::string Conv2dOp::attributes() const {
  if (!plan_) return "{}";
  const ConvPlan& p = *plan_;
  const HaloPlan& halo = *p.halo;
  const CoreCoord first = halo.partition.groups.front().front();
  const CoreCoord last = halo.partition.groups.back().back();
  const CoreRangeSet grid(
      CoreRange(CoreCoord{std::min(first.x, last.x), std::min(first.y, last.y)},
                CoreCoord{std::max(first.x, last.x), std::max(first.y, last.y)}));
  const SlidingWindow& w = options_.window;
  std::string s =
      "{'activation': '" +
      (options_.activation.empty() ? std::string("std::nullopt") : options_.activation) + "'; ";
  s += "'block_config': 'OptimizedConvBlockConfig(act_block_h_ntiles=" +
       std::to_string(p.act_block_h) + ";act_block_w_ntiles=" + std::to_string(p.in0_block_w) +
       ";out_subblock_h_ntiles=" + std::to_string(p.subblock_h) +
       ";out_subblock_w_ntiles=" + std::to_string(p.subblock_w) + ")'; ";
  s += "'compute_kernel_config': '" + to_attribute_string(options_.compute) + "'; ";
  s += "'groups': '" + std::to_string(options_.groups) + "'; ";
  s += std::string("'has_bias': '") + (has_bias_ ? "true" : "false") + "'; ";
  s += "'input_tensor_shape': '{" + std::to_string(w.batch) + "; " + std::to_string(w.input_h) +
       "; " + std::to_string(w.input_w) + "; " + std::to_string(in_channels_) + "}'; ";
  s += "'memory_config': '" + memory_attribute_ + "'; ";
  s += "'output_channels': '" + std::to_string(out_channels_) + "'; ";
  s += "'parallelization_config': 'OptimizedConvParallelizationConfig(grid_size=(x=" +
       std::to_string(grid.bounding_box().width()) +
       ";y=" + std::to_string(grid.bounding_box().height()) +
       ");num_cores_nhw=" + std::to_string(p.grid_y) + ";num_cores_c=" + std::to_string(p.grid_x) +
       ";per_core_out_matrix_height_ntile=" + std::to_string(p.per_core_M) +
       ";per_core_out_matrix_width_ntile=" + std::to_string(p.per_core_N) + ")'; ";
  s += "'sliding_window_config': '" + w.attribute_string(p.grid_y, p.grid_x, grid) + "'; ";
  s += std::string("'shard_layout': '") + std::string(to_string(options_.shard_layout)) +
       "'; 'untilize_out': 'false'}";
  return s;
}

std::vector<Tensor> Conv2dOp::compute(const std::vector<Tensor>& inputs,
                                      const std::vector<TensorSpec>& outputs) const {
  const ConvPlan& p = plan();
  const SlidingWindow& w = options_.window;
  const Tensor& input = inputs[0];
  const Tensor& weight = inputs[1];
  const TensorSpec& out_spec = outputs[0];
  const std::size_t in_width = input.spec().physical_width();
  const std::size_t w_width = weight.spec().physical_width();
  const std::size_t m = out_spec.physical_height();
  const std::size_t n = out_spec.physical_width();
  const std::size_t block_cols = static_cast<std::size_t>(p.in0_block_w) * kTileWidth;
  const std::size_t k = block_cols * p.num_k_blocks();
  const std::uint32_t c_in = in_channels_;
  const std::uint32_t c_out = out_channels_;
  const std::uint32_t in_group = c_in / options_.groups;
  const std::uint32_t out_group = c_out / options_.groups;
  const std::uint64_t out_sticks = w.output_sticks();
  const std::uint32_t ohw = w.output_h() * w.output_w();

  // im2col in the device's K order (each K block padded to whole tiles) and the matching weights.
  std::vector<float> b(k * n, 0.0f);
  const std::vector<float>& x = input.values();
  // The K entry of every column first, then the patch rows one output stick at a time
  // (row-major writes: the column-at-a-time order thrashed the cache on large maps).
  struct Column {
    std::size_t col;
    KEntry entry;
  };
  std::vector<Column> columns;
  for (std::size_t blk = 0; blk < p.k_blocks.size(); ++blk) {
    const ConvKBlock& kb = p.k_blocks[blk];
    for (std::uint32_t e = 0; e < kb.count; ++e) {
      const KEntry ke = k_entry(w, p.block, p.channels_per_slice, c_in, kb.sequence, kb.first + e);
      const std::size_t col = blk * block_cols + e;
      columns.push_back({col, ke});
      const std::size_t w_row =
          (static_cast<std::size_t>(ke.ky) * w.kernel_w + ke.kx) * c_in + ke.c;
      const std::uint32_t g = ke.c / in_group;
      for (std::uint32_t co = g * out_group; co < (g + 1) * out_group; ++co) {
        b[col * n + co] = weight.values()[w_row * w_width + co];
      }
    }
  }
  // Columns that take consecutive channels of one kernel tap are copied as one run (a
  // transposed conv's spread input makes most taps miss, and each check is a division).
  struct Run {
    std::size_t col;
    std::uint32_t ky, kx, c, count;
  };
  std::vector<Run> runs;
  for (const Column& column : columns) {
    const KEntry& ke = column.entry;
    if (!runs.empty()) {
      Run& last = runs.back();
      if (last.ky == ke.ky && last.kx == ke.kx && last.col + last.count == column.col &&
          last.c + last.count == ke.c) {
        ++last.count;
        continue;
      }
    }
    runs.push_back({column.col, ke.ky, ke.kx, ke.c, 1});
  }
  numerics::MatmulNumerics num;
  num.fidelity = options_.compute.math_fidelity;
  num.fp32_dest_acc = options_.compute.fp32_dest_acc_en;
  num.packer_l1_acc = options_.compute.packer_l1_acc;
  num.in0_block_w = p.in0_block_w;
  num.in0_dtype = p.act_type;
  num.in1_dtype = weight.spec().data_type();
  const bool epilogue = has_bias_ || !options_.activation.empty();
  num.output_dtype = epilogue ? DataType::Float32 : out_spec.data_type();
  auto values = std::make_shared<std::vector<float>>(m * n, 0.0f);
  // Patch rows in chunks of whole tile rows: rows are independent through the FPU model (block
  // float shares exponents along a row only), and a full patch matrix of a large map with its
  // mantissa slices would take gigabytes.
  constexpr std::size_t kChunkRows = 64 * kTileHeight;
  std::vector<float> a;
  for (std::size_t first = 0; first < m; first += kChunkRows) {
    const std::size_t rows = std::min(kChunkRows, m - first);
    a.assign(rows * k, 0.0f);
    for (std::size_t r = 0; r < rows; ++r) {
      const std::uint64_t o = first + r;
      if (o >= out_sticks) break;  // padding rows stay zero
      const std::uint64_t img = o / ohw;
      const auto rem = static_cast<std::uint32_t>(o % ohw);
      const std::int64_t y0 =
          static_cast<std::int64_t>((rem / w.output_w()) * w.stride_h) - w.pad_top;
      const std::int64_t x0 =
          static_cast<std::int64_t>((rem % w.output_w()) * w.stride_w) - w.pad_left;
      float* row = a.data() + r * k;
      for (const Run& run : runs) {
        const std::int64_t y = w.input_row(y0 + static_cast<std::int64_t>(run.ky) * w.dilation_h);
        const std::int64_t xx = w.input_col(x0 + static_cast<std::int64_t>(run.kx) * w.dilation_w);
        if (y < 0 || xx < 0) continue;  // padding, or a zero a transposed conv inserts
        const std::uint64_t stick = (img * w.input_h + static_cast<std::uint64_t>(y)) * w.input_w +
                                    static_cast<std::uint64_t>(xx);
        std::copy_n(x.data() + stick * in_width + run.c, run.count, row + run.col);
      }
    }
    numerics::fidelity_matmul(a, b, std::span<float>(values->data() + first * n, rows * n), rows, k,
                              n, num);
  }
  std::vector<float> bias_device;
  std::vector<float> bias_golden;
  if (has_bias_) {
    const Tensor& bias = inputs[2];
    bias_device.assign(bias.values().begin(), bias.values().begin() + c_out);
    const std::vector<float>& bg = bias.has_golden() ? bias.golden() : bias.values();
    bias_golden.assign(bg.begin(), bg.begin() + c_out);
    for (std::size_t r = 0; r < m; ++r) {
      for (std::uint32_t co = 0; co < c_out; ++co) (*values)[r * n + co] += bias_device[co];
    }
  }
  if (!options_.activation.empty())
    apply_unary(options_.activation, *values, options_.compute.math_approx_mode);
  // Rows past the last output stick and padding columns hold no data.
  for (std::size_t r = 0; r < m; ++r) {
    for (std::size_t c = 0; c < n; ++c) {
      if (r >= out_sticks || c >= c_out) (*values)[r * n + c] = 0.0f;
    }
  }
  numerics::quantize(*values, m, n, out_spec.data_type(), numerics::BfpRounding::DevicePacker);

  const std::vector<float>& xg = input.has_golden() ? input.golden() : input.values();
  const std::vector<float>& wg = weight.has_golden() ? weight.golden() : weight.values();
  auto golden = std::make_shared<std::vector<float>>(
      direct_conv2d(w, xg, in_width, c_in, wg, w_width, c_out, options_.groups, bias_golden, n));
  golden->resize(m * n, 0.0f);
  if (!options_.activation.empty()) {
    const UnaryFunction activation = exact_unary_function(options_.activation);
    for (std::size_t r = 0; r < out_sticks; ++r) {
      for (std::uint32_t co = 0; co < c_out; ++co) {
        float& v = (*golden)[r * n + co];
        v = activation(v);
      }
    }
  }
  return {Tensor(out_spec, values, golden)};
}

std::vector<float> direct_conv2d(const SlidingWindow& w, const std::vector<float>& input,
                                 std::size_t in_width, std::uint32_t in_channels,
                                 const std::vector<float>& weights, std::size_t w_width,
                                 std::uint32_t out_channels, std::uint32_t groups,
                                 const std::vector<float>& bias, std::size_t out_width) {
  // The fp32 reference as im2col + sgemm per group, over chunks of output sticks so the
  // patch matrix stays small (a 3x3 conv on a 384x384 map would need >1 GB at once).
  const std::uint64_t out_sticks = w.output_sticks();
  const std::uint32_t in_group = in_channels / groups;
  const std::uint32_t out_group = out_channels / groups;
  const std::size_t taps = static_cast<std::size_t>(w.kernel_h) * w.kernel_w;
  const std::size_t k = taps * in_group;
  const std::uint32_t ohw = w.output_h() * w.output_w();
  constexpr std::uint64_t kChunkSticks = 2048;
  std::vector<float> out(out_sticks * out_width, 0.0f);
  std::vector<float> patches;
  std::vector<float> b(k * out_group);
  for (std::uint32_t g = 0; g < groups; ++g) {
    // Weight rows of the group's taps and channels: row (ky, kx, c) of the [kh*kw*C_in, C_out]
    // matrix, columns of the group's outputs.
    for (std::size_t t = 0; t < taps; ++t) {
      for (std::uint32_t c = 0; c < in_group; ++c) {
        const float* src = weights.data() + (t * in_channels + g * in_group + c) * w_width +
                           static_cast<std::size_t>(g) * out_group;
        std::copy(src, src + out_group,
                  b.begin() + static_cast<std::ptrdiff_t>((t * in_group + c) * out_group));
      }
    }
    for (std::uint64_t first = 0; first < out_sticks; first += kChunkSticks) {
      const std::uint64_t rows = std::min(kChunkSticks, out_sticks - first);
      patches.assign(rows * k, 0.0f);
      for (std::uint64_t r = 0; r < rows; ++r) {
        const std::uint64_t o = first + r;
        const std::uint64_t img = o / ohw;
        const auto rem = static_cast<std::uint32_t>(o % ohw);
        const std::uint32_t oh = rem / w.output_w();
        const std::uint32_t ow = rem % w.output_w();
        float* row = patches.data() + r * k;
        for (std::uint32_t ky = 0; ky < w.kernel_h; ++ky) {
          const std::int64_t y = w.input_row(
              static_cast<std::int64_t>(oh * w.stride_h + ky * w.dilation_h) - w.pad_top);
          if (y < 0) continue;
          for (std::uint32_t kx = 0; kx < w.kernel_w; ++kx) {
            const std::int64_t x = w.input_col(
                static_cast<std::int64_t>(ow * w.stride_w + kx * w.dilation_w) - w.pad_left);
            if (x < 0) continue;
            const std::uint64_t stick =
                (img * w.input_h + static_cast<std::uint64_t>(y)) * w.input_w +
                static_cast<std::uint64_t>(x);
            const float* src =
                input.data() + stick * in_width + static_cast<std::size_t>(g) * in_group;
            std::copy(src, src + in_group,
                      row + (static_cast<std::size_t>(ky) * w.kernel_w + kx) * in_group);
          }
        }
      }
      float* c = out.data() + first * out_width + static_cast<std::size_t>(g) * out_group;
      numerics::sgemm(patches.data(), b.data(), c, rows, k, out_group, out_width);
    }
  }
  if (!bias.empty()) {
    for (std::uint64_t o = 0; o < out_sticks; ++o) {
      for (std::uint32_t co = 0; co < out_channels; ++co) out[o * out_width + co] += bias[co];
    }
  }
  return out;
}

std::uint64_t Conv2dOp::tile_products() const {
  const ConvPlan& p = plan();
  const std::uint64_t m_tiles = div_up(options_.window.output_sticks(), kTileHeight);
  const std::uint64_t n_tiles = div_up(out_channels_, kTileWidth);
  return m_tiles * static_cast<std::uint64_t>(p.in0_block_w) * p.num_k_blocks() * n_tiles;
}

std::uint32_t Conv2dOp::compute_cores() const {
  const ConvPlan& p = plan();
  std::uint32_t rows = 0;
  for (std::size_t i = 0; i < p.halo->partition.cores_per_group(); ++i) {
    if (p.halo->partition.rows_of(i) > 0) ++rows;
  }
  return rows * p.grid_x;
}

PerfModel Conv2dOp::perf_model(const std::vector<TensorSpec>& inputs,
                               const std::vector<TensorSpec>& outputs,
                               const arch::DeviceSpec& device) const {
  PerfModel model = Operation::perf_model(inputs, outputs, device);
  const double cycles =
      static_cast<double>(tile_products()) *
      device.compute.matmul_tile_cycles[static_cast<int>(options_.compute.math_fidelity)] /
      std::max<std::uint32_t>(compute_cores(), 1);
  model.compute_ns = cycles * 1000.0 / device.clock_mhz;
  return model;
}

std::uint64_t Conv2dOp::flops(const std::vector<TensorSpec>& inputs,
                              const std::vector<TensorSpec>& outputs) const {
  // From the specs, not from output_specs()'s cached channels: a graph counts FLOPs without
  // planning the op.
  const SlidingWindow& w = options_.window;
  const std::uint64_t c_in =
      options_.in_channels != 0 ? options_.in_channels : inputs.at(0).logical_shape().x();
  const std::uint64_t c_out =
      options_.out_channels != 0 ? options_.out_channels : outputs.at(0).logical_shape().x();
  return 2ull * w.output_sticks() * c_out * w.kernel_h * w.kernel_w * (c_in / options_.groups);
}

}  // namespace wormsim::ops
