// GlobalAvgPool2dOp: TT-NN's global_avg_pool2d, a reduction over H*W (ReduceDeviceOperation).
#include <algorithm>
#include <memory>

#include "ops/conv/pool2d.hpp"
#include "ops/numerics/fidelity_matmul.hpp"
#include "ops/numerics/number_formats.hpp"

namespace wormsim::ops {
namespace {

using noc::NocId;
using sim::Cycle;
using sim::Task;

constexpr const char* kOp = "global_avg_pool2d";
// Tiles the reader fetches per CB block (double-buffered).
constexpr std::uint32_t kReadBlockTiles = 8;

struct ReduceRun {
  Program* program{nullptr};
  std::unique_ptr<TileLocator> in;
  std::unique_ptr<TileLocator> out;
  std::uint64_t tiles_per_column{0};  // Ht: tile rows of one batch
  std::uint64_t column_tiles{0};      // Ct
  DataType in_type{DataType::BFloat16};
  DataType out_type{DataType::BFloat16};
};

struct Unit {
  std::uint64_t batch;
  std::uint64_t column;
};

Task reduce_reader(ReduceRun& run, noc::NocPort& port, sim::CircularBuffer& in,
                   std::vector<Unit> units) {
  for (const Unit& u : units) {
    for (std::uint64_t t = 0; t < run.tiles_per_column; t += kReadBlockTiles) {
      const auto n = static_cast<std::uint32_t>(
          std::min<std::uint64_t>(kReadBlockTiles, run.tiles_per_column - t));
      co_await in.reserve_back(n);
      for (std::uint32_t k = 0; k < n; ++k) {
        co_await port.read(run.in->tile(u.batch * run.tiles_per_column + t + k, u.column),
                           run.in->page_bytes());
      }
      co_await port.read_barrier();
      in.push_back(n);
    }
  }
}

Task reduce_compute(ReduceRun& run, CoreCoord core, sim::CircularBuffer& in,
                    sim::CircularBuffer& out, std::size_t units) {
  Program& program = *run.program;
  const arch::DeviceSpec& spec = program.spec();
  const Cycle per_tile = unpack_tile_cycles(spec, run.in_type) + spec.compute.reduce_tile_cycles;
  for (std::size_t u = 0; u < units; ++u) {
    co_await program.compute(core, spec.compute.block_overhead_cycles);
    for (std::uint64_t t = 0; t < run.tiles_per_column; t += kReadBlockTiles) {
      const auto n = static_cast<std::uint32_t>(
          std::min<std::uint64_t>(kReadBlockTiles, run.tiles_per_column - t));
      co_await in.wait_front(n);
      co_await program.compute(core, n * per_tile);
      in.pop_front(n);
    }
    co_await program.compute(core, pack_tile_cycles(spec, run.out_type));
    co_await out.reserve_back(1);
    out.push_back(1);
  }
}

Task reduce_writer(ReduceRun& run, noc::NocPort& port, sim::CircularBuffer& out,
                   std::vector<Unit> units) {
  for (const Unit& u : units) {
    co_await out.wait_front(1);
    co_await port.write(run.out->tile(u.batch, u.column), run.out->page_bytes());
    out.pop_front(1);
  }
  co_await port.write_barrier();
}

}  // namespace

std::vector<TensorSpec> GlobalAvgPool2dOp::output_specs(const std::vector<TensorSpec>& inputs,
                                                        const arch::DeviceSpec& device) const {
  (void)device;
  if (inputs.size() != 1)
    throw Error(std::string(kOp) + " takes one input, got " + std::to_string(inputs.size()));
  const TensorSpec& input = inputs[0];
  if (input.logical_shape().rank() != 4) {
    throw Error(std::string(kOp) + ": input " + to_string(input.logical_shape()) +
                " must be [N, H, W, C]");
  }
  if (input.layout() != Layout::Tile) {
    throw Error(std::string(kOp) +
                ": input must be in TILE layout (TT-NN reduces tiles); tilize it first");
  }
  if (input.is_sharded()) {
    throw Error(std::string(kOp) +
                ": a sharded input is not modelled; give an interleaved (DRAM or L1) input");
  }
  const auto d = input.logical_shape().wzyx();
  scaler_ = 1.0f / static_cast<float>(static_cast<std::uint64_t>(d[1]) * d[2]);
  const DataType out_type = options_.output_dtype.value_or(input.data_type());
  const MemoryConfig memory = input.memory_config();
  memory_attribute_ = to_csv_attribute_string(memory);
  return {TensorSpec(Shape({d[0], 1, 1, d[3]}), out_type, Layout::Tile, memory)};
}

std::string GlobalAvgPool2dOp::attributes() const {
  return "{'compute_kernel_config': '" + to_attribute_string(options_.compute) +
         "'; 'dim': 'ReduceOpDim::H'; 'math_op': 'ReduceOpMath::SUM'; 'output_mem_config': '" +
         memory_attribute_ + "'; 'scaler': '" + std::to_string(scaler_) + "'}";
}

std::vector<Tensor> GlobalAvgPool2dOp::compute(const std::vector<Tensor>& inputs,
                                               const std::vector<TensorSpec>& outputs) const {
  const Tensor& input = inputs[0];
  const TensorSpec& out_spec = outputs[0];
  const auto logical = input.spec().logical_shape().wzyx();
  const auto padded = input.spec().padded_shape().wzyx();
  const std::size_t batch = logical[0];
  const std::size_t k = static_cast<std::size_t>(padded[1]) * padded[2];  // rows of one batch
  const std::size_t c = padded[3];
  const std::size_t out_rows = out_spec.padded_shape().y();
  // The scaler row (bf16, SrcB) against each batch's column of rows (SrcA); padding rows of W
  // and H carry a zero scaler.
  const float s = numerics::round_to_bf16(scaler_);
  std::vector<float> scaler(kTileHeight * k, 0.0f);
  for (std::size_t h = 0; h < logical[1]; ++h) {
    for (std::size_t w = 0; w < logical[2]; ++w) scaler[h * padded[2] + w] = s;
  }
  numerics::MatmulNumerics num;
  num.fidelity = options_.compute.math_fidelity;
  num.fp32_dest_acc = options_.compute.fp32_dest_acc_en;
  num.in0_dtype = DataType::BFloat16;
  num.in1_dtype = input.spec().data_type();
  num.output_dtype = DataType::Float32;
  auto values = std::make_shared<std::vector<float>>(out_spec.padded_shape().volume(), 0.0f);
  auto golden = std::make_shared<std::vector<float>>(out_spec.padded_shape().volume(), 0.0f);
  const std::vector<float>& xg = input.has_golden() ? input.golden() : input.values();
  std::vector<float> result(kTileHeight * c);
  for (std::size_t n = 0; n < batch; ++n) {
    const std::span<const float> column(input.values().data() + n * k * c, k * c);
    numerics::fidelity_matmul(scaler, column, result, kTileHeight, k, c, num);
    std::copy(result.begin(), result.begin() + static_cast<std::ptrdiff_t>(c),
              values->begin() + static_cast<std::ptrdiff_t>(n * out_rows * c));
    for (std::size_t ch = 0; ch < logical[3]; ++ch) {
      double sum = 0.0;
      for (std::size_t h = 0; h < logical[1]; ++h) {
        for (std::size_t w = 0; w < logical[2]; ++w)
          sum += xg[(n * k + h * padded[2] + w) * c + ch];
      }
      (*golden)[n * out_rows * c + ch] =
          static_cast<float>(sum / (static_cast<double>(logical[1]) * logical[2]));
    }
  }
  numerics::quantize(*values, batch * out_rows, c, out_spec.data_type(),
                     numerics::BfpRounding::DevicePacker);
  return {Tensor(out_spec, values, golden)};
}

void GlobalAvgPool2dOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                              const std::vector<TensorSpec>& outputs) const {
  auto run = std::make_shared<ReduceRun>();
  program.keep_alive(run);
  run->program = &program;
  run->in = std::make_unique<TileLocator>(inputs[0], program.fabric());
  run->out = std::make_unique<TileLocator>(outputs[0], program.fabric());
  const auto padded = inputs[0].padded_shape().wzyx();
  run->tiles_per_column = static_cast<std::uint64_t>(padded[1]) * padded[2] / kTileHeight;
  run->column_tiles = inputs[0].width_tiles();
  run->in_type = inputs[0].data_type();
  run->out_type = outputs[0].data_type();
  // Work units (batch, channel tile) split into contiguous runs over the worker grid.
  const std::uint64_t units = static_cast<std::uint64_t>(padded[0]) * run->column_tiles;
  const arch::DeviceSpec& spec = program.spec();
  const std::uint64_t cores = std::min<std::uint64_t>(units, spec.worker_count());
  for (std::uint64_t k = 0; k < cores; ++k) {
    const std::uint64_t begin = units * k / cores;
    const std::uint64_t end = units * (k + 1) / cores;
    std::vector<Unit> mine;
    for (std::uint64_t u = begin; u < end; ++u)
      mine.push_back(Unit{u / run->column_tiles, u % run->column_tiles});
    const CoreCoord core = l1_bank_core(static_cast<std::uint32_t>(k), spec);
    sim::CircularBuffer& in =
        program.create_cb(core, "in", 2 * kReadBlockTiles, tile_bytes(run->in_type));
    sim::CircularBuffer& out = program.create_cb(core, "out", 2, tile_bytes(run->out_type));
    program.add_kernel(
        core, Risc::Ncrisc,
        reduce_reader(*run, program.noc_port(core, Risc::Ncrisc, NocId::Noc1), in, mine));
    program.add_kernel(core, Risc::Trisc0, reduce_compute(*run, core, in, out, mine.size()));
    program.add_kernel(
        core, Risc::Brisc,
        reduce_writer(*run, program.noc_port(core, Risc::Brisc, NocId::Noc0), out, mine));
  }
}

}  // namespace wormsim::ops
