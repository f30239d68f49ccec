// UpsampleOp: TT-NN's upsample (nearest and bilinear).
#include <algorithm>
#include <cmath>
#include <memory>

#include "ops/conv/halo.hpp"
#include "ops/conv/pool2d.hpp"
#include "ops/numerics/fidelity_matmul.hpp"
#include "ops/numerics/number_formats.hpp"

namespace wormsim::ops {
namespace {

using noc::NocId;
using sim::Cycle;
using sim::Task;

constexpr const char* kOp = "upsample";

std::uint64_t div_up(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

struct Geometry {
  std::uint32_t n, h, w, c;
};

Geometry geometry(const TensorSpec& spec) {
  const auto d = spec.logical_shape().wzyx();
  return {d[0], d[1], d[2], d[3]};
}

// PyTorch's bilinear source coordinate (align_corners=False): the two neighbours and the weight
// of the second.
struct Source {
  std::uint32_t i0, i1;
  float frac;
};

Source bilinear_source(std::uint32_t out, std::uint32_t scale, std::uint32_t in_size) {
  float src = (static_cast<float>(out) + 0.5f) / static_cast<float>(scale) - 0.5f;
  if (src < 0.0f) src = 0.0f;
  const auto i0 = std::min(static_cast<std::uint32_t>(src), in_size - 1);
  const std::uint32_t i1 = std::min(i0 + 1, in_size - 1);
  return {i0, i1, src - static_cast<float>(i0)};
}

struct UpsampleRun {
  Program* program{nullptr};
  UpsampleOptions options;
  Geometry in{};
  TensorSpec input;
  TensorSpec output;
  HaloPlan* halo{nullptr};
  std::uint32_t stick_bytes{0};
  UpsampleRun(TensorSpec i, TensorSpec o) : input(std::move(i)), output(std::move(o)) {}
};

// Nearest, sharded: each input image row of the shard becomes sh rows of W*sw sticks, written
// stick by stick into the core's output shard.
Task nearest_sharded(UpsampleRun& run, CoreCoord core, std::uint64_t input_rows,
                     noc::NocPort& port) {
  const std::uint64_t copies =
      static_cast<std::uint64_t>(run.options.scale_h) * run.options.scale_w;
  for (std::uint64_t r = 0; r < input_rows; r += run.in.w) {
    const std::uint64_t sticks = std::min<std::uint64_t>(run.in.w, input_rows - r);
    co_await write_local_runs(*run.program, port, core, sticks * copies,
                              sticks * copies * run.stick_bytes);
  }
}

// Nearest, interleaved: the reader fetches input sticks, the writer stores each sh*sw times.
Task nearest_reader(UpsampleRun& run, noc::NocPort& port, sim::CircularBuffer& cb,
                    std::uint64_t first, std::uint64_t count) {
  for (std::uint64_t s = first; s < first + count; ++s) {
    co_await cb.reserve_back(1);
    co_await port.read(interleaved_page_endpoint(run.input, s, run.program->fabric()),
                       run.stick_bytes);
    co_await port.read_barrier();
    cb.push_back(1);
  }
}

Task nearest_writer(UpsampleRun& run, noc::NocPort& port, sim::CircularBuffer& cb,
                    std::uint64_t first, std::uint64_t count) {
  const Geometry& g = run.in;
  const std::uint32_t ow = g.w * run.options.scale_w;
  const std::uint32_t oh = g.h * run.options.scale_h;
  for (std::uint64_t s = first; s < first + count; ++s) {
    co_await cb.wait_front(1);
    const std::uint64_t n = s / (static_cast<std::uint64_t>(g.h) * g.w);
    const std::uint64_t y = (s / g.w) % g.h;
    const std::uint64_t x = s % g.w;
    for (std::uint32_t i = 0; i < run.options.scale_h; ++i) {
      for (std::uint32_t j = 0; j < run.options.scale_w; ++j) {
        const std::uint64_t out =
            (n * oh + y * run.options.scale_h + i) * ow + x * run.options.scale_w + j;
        co_await port.write(interleaved_page_endpoint(run.output, out, run.program->fabric()),
                            run.stick_bytes);
      }
    }
    cb.pop_front(1);
  }
  co_await port.write_barrier();
}

// Bilinear: halo, then per block of 32 output sticks the reader gathers the 4 neighbours of each
// (two runs of two adjacent sticks) and the compute weights and sums them per channel tile.
Task bilinear_reader(UpsampleRun& run, std::size_t i, noc::NocPort& port, HaloCbs cbs,
                     sim::CircularBuffer& windows) {
  Program& program = *run.program;
  const HaloPlan& halo = *run.halo;
  co_await halo_send(program, halo, 0, i, 0, 2, port, cbs);
  co_await halo_gather(program, halo, 0, i, port, cbs);
  const std::uint64_t rows = halo.partition.rows_of(i);
  for (std::uint64_t done = 0; done < rows; done += kTileHeight) {
    const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(kTileHeight, rows - done));
    co_await windows.reserve_back(n);
    co_await read_local_runs(program, port, halo.partition.groups[0][i], 2ull * n,
                             4ull * n * run.stick_bytes);
    windows.push_back(n);
  }
}

Task bilinear_compute(UpsampleRun& run, std::size_t i, HaloCbs cbs, sim::CircularBuffer& windows,
                      sim::CircularBuffer& out) {
  Program& program = *run.program;
  const HaloPlan& halo = *run.halo;
  const arch::DeviceSpec& spec = program.spec();
  const CoreCoord core = halo.partition.groups[0][i];
  co_await halo_untilize(program, halo, 0, i, cbs);
  const std::uint64_t channel_tiles = div_up(run.in.c, kTileWidth);
  const Cycle per_stick =
      channel_tiles *
      (unpack_tile_cycles(spec, halo.stick_type) +
       spec.compute.eltwise_mul_tile_cycles[static_cast<int>(run.options.compute.math_fidelity)] +
       spec.compute.reduce_tile_cycles);
  const Cycle per_block = spec.compute.block_overhead_cycles +
                          channel_tiles * pack_tile_cycles(spec, run.output.data_type());
  const std::uint64_t rows = halo.partition.rows_of(i);
  for (std::uint64_t done = 0; done < rows; done += kTileHeight) {
    const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(kTileHeight, rows - done));
    co_await windows.wait_front(n);
    co_await program.compute(core, per_block + n * per_stick);
    windows.pop_front(n);
    co_await out.reserve_back(n);
    out.push_back(n);
  }
}

}  // namespace

std::optional<arch::MathFidelity> UpsampleOp::math_fidelity() const {
  if (options_.mode == UpsampleMode::Nearest) return std::nullopt;
  return options_.compute.math_fidelity;
}

std::vector<TensorSpec> UpsampleOp::output_specs(const std::vector<TensorSpec>& inputs,
                                                 const arch::DeviceSpec& device) const {
  if (inputs.size() != 1)
    throw Error(std::string(kOp) + " takes one input, got " + std::to_string(inputs.size()));
  const TensorSpec& input = inputs[0];
  if (input.logical_shape().rank() != 4 || input.layout() != Layout::RowMajor) {
    throw Error(std::string(kOp) + ": input must be a ROW_MAJOR [N, H, W, C] tensor, got " +
                to_string(input));
  }
  if (options_.scale_h == 0 || options_.scale_w == 0)
    throw Error(std::string(kOp) + ": scale_factor must be positive");
  const Geometry g = geometry(input);
  const MemoryConfig& memory = input.memory_config();
  const bool sharded = memory.is_sharded();
  if (sharded && (!memory.is_l1() || memory.layout() != TensorMemoryLayout::HeightSharded)) {
    throw Error(std::string(kOp) + ": a sharded input must be L1 HEIGHT_SHARDED, got " +
                std::string(to_string(memory.layout())));
  }
  const Shape out_shape({g.n, g.h * options_.scale_h, g.w * options_.scale_w, g.c});
  const std::uint64_t out_sticks =
      static_cast<std::uint64_t>(g.n) * g.h * options_.scale_h * g.w * options_.scale_w;
  MemoryConfig out_memory = memory;
  if (options_.mode == UpsampleMode::Nearest) {
    if (sharded) {
      const ShardSpec& in_shard = input.shard_spec();
      if (in_shard.height() % g.w != 0) {
        throw Error(
            std::string(kOp) +
            ": nearest upsample of a height-sharded input needs shards of whole image rows; " +
            "shard height " + std::to_string(in_shard.height()) +
            " is not a multiple of W=" + std::to_string(g.w));
      }
      ShardSpec shard = in_shard;
      shard.shape = {in_shard.height() * options_.scale_h * options_.scale_w, in_shard.width()};
      out_memory = MemoryConfig(TensorMemoryLayout::HeightSharded, BufferType::L1, shard);
    }
  } else {
    if (!sharded) {
      throw Error(
          std::string(kOp) +
          ": bilinear mode needs an L1 HEIGHT_SHARDED input (TT-NN runs it on shards with a " +
          "halo); shard the input first");
    }
    NhwPartition partition =
        partition_nhw(kOp, input, out_sticks, input.physical_width(), false, false,
                      device.worker_grid_x(), device.worker_grid_y(), device);
    const NhwPartition part = partition;
    const UpsampleOptions o = options_;
    // Core i needs the input rows of its first output stick's upper neighbour through its last
    // output stick's lower one, whole rows.
    plan_ = plan_halo(
        kOp, input, std::move(partition),
        [part, g, o](std::size_t, std::size_t i) -> std::pair<std::uint64_t, std::uint64_t> {
          const std::uint64_t rows = part.rows_of(i);
          if (rows == 0) return {0, 0};
          const std::uint64_t ow = static_cast<std::uint64_t>(g.w) * o.scale_w;
          const std::uint64_t oh = static_cast<std::uint64_t>(g.h) * o.scale_h;
          auto row_of = [&](std::uint64_t stick, bool upper) {
            const std::uint64_t n = stick / (oh * ow);
            const auto y = static_cast<std::uint32_t>((stick / ow) % oh);
            const Source s = bilinear_source(y, o.scale_h, g.h);
            return n * g.h + (upper ? s.i0 : s.i1);
          };
          const std::uint64_t first = row_of(part.first_row(i), true) * g.w;
          const std::uint64_t last = (row_of(part.first_row(i) + rows - 1, false) + 1) * g.w;
          return {first, last - first};
        },
        [](std::uint64_t p) { return static_cast<std::int64_t>(p); });
    ShardSpec shard = input.shard_spec();
    shard.shape = {static_cast<std::uint32_t>(plan_->partition.output_rows_per_core),
                   input.shard_spec().width()};
    out_memory = MemoryConfig(TensorMemoryLayout::HeightSharded, BufferType::L1, shard);
  }
  memory_attribute_ = to_csv_attribute_string(out_memory);
  return {TensorSpec(out_shape, input.data_type(), Layout::RowMajor, out_memory)};
}

std::string UpsampleOp::attributes() const {
  return "{'compute_kernel_config': '" + to_attribute_string(options_.compute) + "'; 'mode': '" +
         (options_.mode == UpsampleMode::Nearest ? "nearest" : "bilinear") +
         "'; 'output_mem_config': '" + memory_attribute_ + "'; 'scale_factor_h': '" +
         std::to_string(options_.scale_h) + "'; 'scale_factor_w': '" +
         std::to_string(options_.scale_w) + "'}";
}

std::vector<Tensor> UpsampleOp::compute(const std::vector<Tensor>& inputs,
                                        const std::vector<TensorSpec>& outputs) const {
  const Tensor& input = inputs[0];
  const TensorSpec& out_spec = outputs[0];
  const Geometry g = geometry(input.spec());
  const std::uint32_t sh = options_.scale_h;
  const std::uint32_t sw = options_.scale_w;
  const std::uint32_t oh = g.h * sh;
  const std::uint32_t ow = g.w * sw;
  const std::size_t c = g.c;
  auto values = std::make_shared<std::vector<float>>(out_spec.padded_shape().volume(), 0.0f);
  auto golden = std::make_shared<std::vector<float>>(out_spec.padded_shape().volume(), 0.0f);
  const std::vector<float>& xd = input.values();
  const std::vector<float>& xg = input.has_golden() ? input.golden() : input.values();
  auto stick = [&](std::uint32_t n, std::uint32_t y, std::uint32_t x) {
    return ((static_cast<std::size_t>(n) * g.h + y) * g.w + x) * c;
  };
  std::vector<float> taps(4 * c);
  std::vector<float> weights(4 * c);
  std::vector<float> products(4 * c);
  for (std::uint32_t n = 0; n < g.n; ++n) {
    for (std::uint32_t y = 0; y < oh; ++y) {
      for (std::uint32_t x = 0; x < ow; ++x) {
        const std::size_t out = ((static_cast<std::size_t>(n) * oh + y) * ow + x) * c;
        if (options_.mode == UpsampleMode::Nearest) {
          const std::size_t in = stick(n, y / sh, x / sw);
          std::copy(xd.begin() + static_cast<std::ptrdiff_t>(in),
                    xd.begin() + static_cast<std::ptrdiff_t>(in + c),
                    values->begin() + static_cast<std::ptrdiff_t>(out));
          std::copy(xg.begin() + static_cast<std::ptrdiff_t>(in),
                    xg.begin() + static_cast<std::ptrdiff_t>(in + c),
                    golden->begin() + static_cast<std::ptrdiff_t>(out));
          continue;
        }
        const Source sy = bilinear_source(y, sh, g.h);
        const Source sx = bilinear_source(x, sw, g.w);
        const std::size_t corner[4] = {stick(n, sy.i0, sx.i0), stick(n, sy.i0, sx.i1),
                                       stick(n, sy.i1, sx.i0), stick(n, sy.i1, sx.i1)};
        const float exact[4] = {(1.0f - sy.frac) * (1.0f - sx.frac), (1.0f - sy.frac) * sx.frac,
                                sy.frac * (1.0f - sx.frac), sy.frac * sx.frac};
        for (std::size_t t = 0; t < 4; ++t) {
          const float wt = numerics::round_to_bf16(exact[t]);  // weights reach the FPU as bf16
          for (std::size_t ch = 0; ch < c; ++ch) {
            taps[t * c + ch] = xd[corner[t] + ch];
            weights[t * c + ch] = wt;
          }
        }
        numerics::fidelity_eltwise_mul(taps, weights, products, options_.compute.math_fidelity,
                                       true, input.spec().data_type(), DataType::BFloat16);
        for (std::size_t ch = 0; ch < c; ++ch) {
          float acc = products[ch] + products[c + ch] + products[2 * c + ch] + products[3 * c + ch];
          if (!options_.compute.fp32_dest_acc_en) acc = numerics::round_to_bf16(acc);
          (*values)[out + ch] = acc;
          double ref = 0.0;
          for (std::size_t t = 0; t < 4; ++t)
            ref += static_cast<double>(exact[t]) * xg[corner[t] + ch];
          (*golden)[out + ch] = static_cast<float>(ref);
        }
      }
    }
  }
  numerics::quantize(*values, out_spec.physical_height(), out_spec.physical_width(),
                     out_spec.data_type());
  return {Tensor(out_spec, values, golden)};
}

void UpsampleOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                       const std::vector<TensorSpec>& outputs) const {
  auto run = std::make_shared<UpsampleRun>(inputs[0], outputs[0]);
  program.keep_alive(run);
  run->program = &program;
  run->options = options_;
  run->in = geometry(inputs[0]);
  run->stick_bytes = run->in.c * element_bytes(inputs[0].data_type());
  const arch::DeviceSpec& spec = program.spec();
  if (options_.mode == UpsampleMode::Bilinear) {
    auto halo = std::make_shared<HaloPlan>(*plan_);
    program.keep_alive(halo);
    run->halo = halo.get();
    for (std::size_t i = 0; i < halo->partition.cores_per_group(); ++i) {
      const CoreCoord core = halo->partition.groups[0][i];
      const HaloCbs cbs = create_halo_cbs(program, *halo, 0, i, false);
      sim::CircularBuffer& windows =
          program.create_cb(core, "windows", 2 * kTileHeight, 4 * run->stick_bytes);
      sim::CircularBuffer& out =
          program.create_cb(core, "out",
                            static_cast<std::uint32_t>(
                                std::max<std::uint64_t>(halo->partition.output_rows_per_core, 1)),
                            run->stick_bytes, /*backed_by_tensor=*/true);
      program.add_kernel(core, Risc::Ncrisc,
                         bilinear_reader(*run, i, program.noc_port(core, Risc::Ncrisc, NocId::Noc1),
                                         cbs, windows));
      program.add_kernel(core, Risc::Brisc,
                         halo_send(program, *halo, 0, i, 1, 2,
                                   program.noc_port(core, Risc::Brisc, NocId::Noc0), cbs));
      program.add_kernel(core, Risc::Trisc0, bilinear_compute(*run, i, cbs, windows, out));
    }
    return;
  }
  if (inputs[0].is_sharded()) {
    for (const ShardPlacement& shard : shard_placements(inputs[0])) {
      program.create_cb(
          shard.core, "out",
          static_cast<std::uint32_t>(shard.rows * options_.scale_h * options_.scale_w),
          run->stick_bytes, /*backed_by_tensor=*/true);
      program.add_kernel(shard.core, Risc::Ncrisc,
                         nearest_sharded(*run, shard.core, shard.rows,
                                         program.noc_port(shard.core, Risc::Ncrisc, NocId::Noc1)));
    }
    return;
  }
  const std::uint64_t sticks = inputs[0].physical_height();
  const std::uint64_t cores = std::min<std::uint64_t>(spec.worker_count(), sticks);
  for (std::uint64_t k = 0; k < cores; ++k) {
    const std::uint64_t first = sticks * k / cores;
    const std::uint64_t count = sticks * (k + 1) / cores - first;
    const CoreCoord core = l1_bank_core(static_cast<std::uint32_t>(k), spec);
    sim::CircularBuffer& cb = program.create_cb(core, "sticks", 2 * kTileHeight, run->stick_bytes);
    program.add_kernel(
        core, Risc::Ncrisc,
        nearest_reader(*run, program.noc_port(core, Risc::Ncrisc, NocId::Noc1), cb, first, count));
    program.add_kernel(
        core, Risc::Brisc,
        nearest_writer(*run, program.noc_port(core, Risc::Brisc, NocId::Noc0), cb, first, count));
  }
}

}  // namespace wormsim::ops
