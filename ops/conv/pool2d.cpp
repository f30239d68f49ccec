#include "ops/conv/pool2d.hpp"

#include <algorithm>
#include <limits>

#include "ops/conv/halo.hpp"
#include "ops/numerics/fidelity_matmul.hpp"
#include "ops/numerics/number_formats.hpp"

namespace wormsim::ops {
namespace {

using noc::NocId;
using sim::Cycle;
using sim::Task;

std::uint64_t div_up(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

std::string op_name(PoolType type) { return type == PoolType::Max ? "max_pool2d" : "avg_pool2d"; }

// Taps the FPU reduces per MVMUL pass before a 16-bit Dst rounds (one face height).
constexpr std::size_t kDstRoundTaps = 16;

struct PoolRun {
  Program* program{nullptr};
  HaloPlan* halo{nullptr};
  Pool2dOptions options;
  TensorSpec output;
  bool out_in_dram{false};
  std::uint32_t out_stick_bytes{0};  // bytes of one output stick's channel slice
  explicit PoolRun(TensorSpec out) : output(std::move(out)) {}
};

Task pool_reader(PoolRun& run, std::size_t g, std::size_t i, noc::NocPort& port, HaloCbs halo_cbs,
                 sim::CircularBuffer* windows) {
  Program& program = *run.program;
  const HaloPlan& halo = *run.halo;
  co_await halo_send(program, halo, g, i, 0, 2, port, halo_cbs);
  co_await halo_gather(program, halo, g, i, port, halo_cbs);
  const std::uint64_t rows = halo.partition.rows_of(i);
  const SlidingWindow& w = run.options.window;
  const std::uint64_t per_row_cmds =
      static_cast<std::uint64_t>(w.kernel_h) * (w.dilation_w == 1 ? 1 : w.kernel_w);
  const std::uint64_t window_bytes =
      static_cast<std::uint64_t>(w.kernel_h) * w.kernel_w * halo.stick_bytes;
  for (std::uint64_t done = 0; done < rows; done += kTileHeight) {
    const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(kTileHeight, rows - done));
    co_await windows->reserve_back(n);
    co_await read_local_runs(program, port, halo.partition.groups[g][i], n * per_row_cmds,
                             n * window_bytes);
    windows->push_back(n);
  }
}

Task pool_compute(PoolRun& run, std::size_t g, std::size_t i, HaloCbs halo_cbs,
                  sim::CircularBuffer* windows, sim::CircularBuffer* out) {
  Program& program = *run.program;
  const HaloPlan& halo = *run.halo;
  const arch::DeviceSpec& spec = program.spec();
  co_await halo_untilize(program, halo, g, i, halo_cbs);
  const std::uint64_t rows = halo.partition.rows_of(i);
  const SlidingWindow& w = run.options.window;
  // Per output stick: its window tilized into (taps x channel-slice) tiles, each reduced.
  const std::uint64_t channel_tiles = div_up(halo.partition.channels_per_group, kTileWidth);
  const std::uint64_t tap_tiles =
      div_up(static_cast<std::uint64_t>(w.kernel_h) * w.kernel_w, kTileHeight);
  const Cycle per_stick =
      channel_tiles * tap_tiles *
      (unpack_tile_cycles(spec, halo.stick_type) + spec.compute.reduce_tile_cycles);
  const Cycle per_block = spec.compute.block_overhead_cycles +
                          channel_tiles * pack_tile_cycles(spec, run.output.data_type());
  for (std::uint64_t done = 0; done < rows; done += kTileHeight) {
    const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(kTileHeight, rows - done));
    co_await windows->wait_front(n);
    co_await program.compute(halo.partition.groups[g][i], per_block + n * per_stick);
    windows->pop_front(n);
    co_await out->reserve_back(n);
    out->push_back(n);
  }
}

Task pool_writer(PoolRun& run, std::size_t g, std::size_t i, noc::NocPort& port, HaloCbs halo_cbs,
                 sim::CircularBuffer* out) {
  Program& program = *run.program;
  const HaloPlan& halo = *run.halo;
  co_await halo_send(program, halo, g, i, 1, 2, port, halo_cbs);
  if (!run.out_in_dram) co_return;
  const std::uint64_t rows = halo.partition.rows_of(i);
  const std::uint64_t first = halo.partition.first_row(i);
  for (std::uint64_t done = 0; done < rows; done += kTileHeight) {
    const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(kTileHeight, rows - done));
    co_await out->wait_front(n);
    for (std::uint32_t k = 0; k < n; ++k) {
      co_await port.write(interleaved_page_endpoint(run.output, first + done + k, program.fabric()),
                          run.out_stick_bytes);
    }
    out->pop_front(n);
  }
  co_await port.write_barrier();
}

}  // namespace

const HaloPlan& Pool2dOp::plan() const {
  if (!plan_) throw Error(op_name(options_.type) + ": plan() needs output_specs() to have run");
  return *plan_;
}

std::optional<arch::MathFidelity> Pool2dOp::math_fidelity() const {
  if (options_.type == PoolType::Max) return std::nullopt;
  return options_.compute.math_fidelity;
}

std::vector<TensorSpec> Pool2dOp::output_specs(const std::vector<TensorSpec>& inputs,
                                               const arch::DeviceSpec& device) const {
  const std::string op = op_name(options_.type);
  if (inputs.size() != 1)
    throw Error(op + " takes one input, got " + std::to_string(inputs.size()));
  const TensorSpec& input = inputs[0];
  const SlidingWindow& w = options_.window;
  w.validate(op);
  if (std::max(w.pad_top, w.pad_bottom) * 2 > w.kernel_h ||
      std::max(w.pad_left, w.pad_right) * 2 > w.kernel_w) {
    throw Error(op +
                ": padding must be at most half the kernel size (PyTorch's rule), got padding (" +
                std::to_string(w.pad_top) + ", " + std::to_string(w.pad_bottom) + ", " +
                std::to_string(w.pad_left) + ", " + std::to_string(w.pad_right) + ") for a " +
                std::to_string(w.kernel_h) + "x" + std::to_string(w.kernel_w) + " kernel");
  }
  const auto dims = input.logical_shape().wzyx();
  if (dims[0] * dims[1] != 1 || dims[2] != w.input_sticks()) {
    throw Error(op + ": input " + to_string(input.logical_shape()) +
                " must be [1, 1, N*H*W, C] with N*H*W = " + std::to_string(w.input_sticks()));
  }
  channels_ = dims[3];
  const std::uint32_t gx = options_.grid_x != 0 ? options_.grid_x : device.worker_grid_x();
  const std::uint32_t gy = options_.grid_y != 0 ? options_.grid_y : device.worker_grid_y();
  NhwPartition partition =
      partition_nhw(op, input, w.output_sticks(), input.physical_width(), options_.block_sharded,
                    /*tile_aligned=*/false, gx, gy, device);
  plan_ = plan_window_halo(op, input, w, std::move(partition));
  const HaloPlan& p = *plan_;
  const std::uint32_t columns = static_cast<std::uint32_t>(p.partition.groups.size());
  if (channels_ % columns != 0) {
    throw Error(op + ": " + std::to_string(channels_) + " channels do not split over " +
                std::to_string(columns) + " grid columns");
  }
  MemoryConfig memory;
  if (!options_.output_in_dram) {
    ShardSpec shard;
    shard.shape = {static_cast<std::uint32_t>(p.partition.output_rows_per_core),
                   channels_ / columns};
    if (options_.block_sharded) {
      const CoreCoord first = p.partition.groups.front().front();
      shard.grid = CoreRangeSet(CoreRange(
          first,
          CoreCoord{first.x + columns - 1,
                    first.y + static_cast<std::uint32_t>(p.partition.cores_per_group()) - 1}));
      memory = MemoryConfig(TensorMemoryLayout::BlockSharded, BufferType::L1, shard);
    } else {
      shard.grid = input.is_sharded()
                       ? input.shard_spec().grid
                       : num_cores_to_core_range_set(
                             static_cast<std::uint32_t>(p.partition.cores_per_group()), gx, gy);
      if (input.is_sharded()) shard.orientation = input.shard_spec().orientation;
      memory = MemoryConfig(TensorMemoryLayout::HeightSharded, BufferType::L1, shard);
    }
  }
  memory_attribute_ = to_csv_attribute_string(memory);
  return {TensorSpec(Shape({1, 1, static_cast<std::uint32_t>(w.output_sticks()), channels_}),
                     p.stick_type, Layout::RowMajor, memory)};
}

std::string Pool2dOp::attributes() const {
  if (!plan_) return "{}";
  const HaloPlan& p = *plan_;
  const CoreCoord first = p.partition.groups.front().front();
  const CoreCoord last = p.partition.groups.back().back();
  const CoreRangeSet grid(
      CoreRange(CoreCoord{std::min(first.x, last.x), std::min(first.y, last.y)},
                CoreCoord{std::max(first.x, last.x), std::max(first.y, last.y)}));
  std::string s = "{'compute_kernel_config': '" + to_attribute_string(options_.compute) + "'; ";
  s += std::string("'count_include_pad': '") + (options_.count_include_pad ? "true" : "false") +
       "'; ";
  s += "'memory_config': '" + memory_attribute_ + "'; ";
  s += std::string("'pool_type': 'Pool2DType::") +
       (options_.type == PoolType::Max ? "MAX_POOL2D" : "AVG_POOL2D") + "'; ";
  s += "'sliding_window_config': '" +
       options_.window.attribute_string(static_cast<std::uint32_t>(p.partition.cores_per_group()),
                                        static_cast<std::uint32_t>(p.partition.groups.size()),
                                        grid) +
       "'}";
  return s;
}

std::vector<Tensor> Pool2dOp::compute(const std::vector<Tensor>& inputs,
                                      const std::vector<TensorSpec>& outputs) const {
  const SlidingWindow& w = options_.window;
  const Tensor& input = inputs[0];
  const TensorSpec& out_spec = outputs[0];
  const std::size_t in_width = input.spec().physical_width();
  const std::size_t c = channels_;
  const std::uint64_t out_sticks = w.output_sticks();
  const std::size_t taps = static_cast<std::size_t>(w.kernel_h) * w.kernel_w;
  auto values = std::make_shared<std::vector<float>>(out_sticks * c, 0.0f);
  auto golden = std::make_shared<std::vector<float>>(out_sticks * c, 0.0f);
  const std::vector<float>& xd = input.values();
  const std::vector<float>& xg = input.has_golden() ? input.golden() : input.values();
  std::vector<std::int64_t> sticks(taps);
  std::vector<float> tap_values(taps * c);
  std::vector<float> scalers(taps * c);
  std::vector<float> products(taps * c);
  for (std::uint64_t o = 0; o < out_sticks; ++o) {
    const std::uint64_t first = w.window_first(o);
    std::size_t valid = 0;
    for (std::uint32_t ky = 0; ky < w.kernel_h; ++ky) {
      for (std::uint32_t kx = 0; kx < w.kernel_w; ++kx) {
        const std::int64_t s =
            w.input_stick(first + static_cast<std::uint64_t>(ky) * w.dilation_h * w.padded_w() +
                          kx * w.dilation_w);
        sticks[ky * w.kernel_w + kx] = s;
        if (s >= 0) ++valid;
      }
    }
    float* out_d = values->data() + o * c;
    float* out_g = golden->data() + o * c;
    if (options_.type == PoolType::Max) {
      for (std::size_t ch = 0; ch < c; ++ch) {
        float md = -std::numeric_limits<float>::infinity();
        float mg = md;
        for (std::int64_t s : sticks) {
          if (s < 0) continue;
          md = std::max(md, xd[static_cast<std::size_t>(s) * in_width + ch]);
          mg = std::max(mg, xg[static_cast<std::size_t>(s) * in_width + ch]);
        }
        out_d[ch] = valid > 0 ? md : 0.0f;
        out_g[ch] = valid > 0 ? mg : 0.0f;
      }
      continue;
    }
    const std::size_t divisor = options_.count_include_pad ? taps : std::max<std::size_t>(valid, 1);
    // The FPU multiplies each tap by the bf16 scaler (SrcB) and sums the taps in Dst.
    const float scaler = numerics::round_to_bf16(1.0f / static_cast<float>(divisor));
    for (std::size_t t = 0; t < taps; ++t) {
      for (std::size_t ch = 0; ch < c; ++ch) {
        tap_values[t * c + ch] =
            sticks[t] < 0 ? 0.0f : xd[static_cast<std::size_t>(sticks[t]) * in_width + ch];
      }
    }
    std::fill(scalers.begin(), scalers.end(), scaler);
    numerics::fidelity_eltwise_mul(tap_values, scalers, products, options_.compute.math_fidelity,
                                   true, input.spec().data_type(), DataType::BFloat16);
    for (std::size_t ch = 0; ch < c; ++ch) {
      float acc = 0.0f;
      double exact = 0.0;
      for (std::size_t t = 0; t < taps; ++t) {
        acc += products[t * c + ch];
        if (!options_.compute.fp32_dest_acc_en && (t + 1) % kDstRoundTaps == 0)
          acc = numerics::round_to_bf16(acc);
        if (sticks[t] >= 0) exact += xg[static_cast<std::size_t>(sticks[t]) * in_width + ch];
      }
      out_d[ch] = acc;
      out_g[ch] = static_cast<float>(exact / static_cast<double>(divisor));
    }
  }
  numerics::quantize(*values, out_sticks, c, out_spec.data_type(),
                     numerics::BfpRounding::DevicePacker);
  return {Tensor(out_spec, values, golden)};
}

void Pool2dOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                     const std::vector<TensorSpec>& outputs) const {
  (void)inputs;
  auto halo = std::make_shared<HaloPlan>(plan());
  auto run = std::make_shared<PoolRun>(outputs[0]);
  program.keep_alive(halo);
  program.keep_alive(run);
  run->program = &program;
  run->halo = halo.get();
  run->options = options_;
  run->out_in_dram = !outputs[0].memory_config().is_l1() || !outputs[0].is_sharded();
  const std::uint32_t columns = static_cast<std::uint32_t>(halo->partition.groups.size());
  run->out_stick_bytes = channels_ / columns * element_bytes(outputs[0].data_type());
  const SlidingWindow& w = options_.window;
  const std::uint32_t window_bytes = w.kernel_h * w.kernel_w * halo->stick_bytes;
  for (std::size_t g = 0; g < halo->partition.groups.size(); ++g) {
    for (std::size_t i = 0; i < halo->partition.cores_per_group(); ++i) {
      const CoreCoord core = halo->partition.groups[g][i];
      const HaloCbs cbs = create_halo_cbs(program, *halo, g, i, false);
      sim::CircularBuffer* windows =
          &program.create_cb(core, "windows", 2 * kTileHeight, window_bytes);
      const auto out_rows = static_cast<std::uint32_t>(
          std::max<std::uint64_t>(halo->partition.output_rows_per_core, 1));
      sim::CircularBuffer* out =
          run->out_in_dram ? &program.create_cb(core, "out", 2 * kTileHeight, run->out_stick_bytes)
                           : &program.create_cb(core, "out", out_rows, run->out_stick_bytes,
                                                /*backed_by_tensor=*/true);
      program.add_kernel(
          core, Risc::Ncrisc,
          pool_reader(*run, g, i, program.noc_port(core, Risc::Ncrisc, NocId::Noc1), cbs, windows));
      program.add_kernel(
          core, Risc::Brisc,
          pool_writer(*run, g, i, program.noc_port(core, Risc::Brisc, NocId::Noc0), cbs, out));
      program.add_kernel(core, Risc::Trisc0, pool_compute(*run, g, i, cbs, windows, out));
    }
  }
}

}  // namespace wormsim::ops
