#include "ops/eltwise/eltwise_program.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>

#include "ops/numerics/number_formats.hpp"
#include "ops/op_registry.hpp"

namespace wormsim::ops {
namespace {

using sim::Task;

TileRC tile_rc(std::uint64_t id, std::uint64_t width_tiles) {
  return {id / width_tiles, id % width_tiles};
}

// Everything the kernels of one streaming program share; kept alive by the Program.
struct StreamState {
  explicit StreamState(StreamProgramSpec spec) : plan(std::move(spec)) {}
  StreamProgramSpec plan;
  std::vector<std::unique_ptr<TileLocator>> inputs;
  std::unique_ptr<TileLocator> output;
  std::uint64_t out_width_tiles{1};
  std::vector<std::vector<std::uint64_t>> core_tiles;  // per core: output tile ids
};

// True if every tile the core needs of `locator`'s tensor sits in the core's own L1 shard.
bool all_local(const TensorSpec& spec, const TileLocator& locator, CoreCoord core,
               const std::vector<std::uint64_t>& tiles, std::uint64_t out_width,
               const std::function<TileRC(TileRC)>& tile_of) {
  if (!is_l1_sharded(spec)) return false;
  return std::all_of(tiles.begin(), tiles.end(), [&](std::uint64_t id) {
    const TileRC t = tile_of ? tile_of(tile_rc(id, out_width)) : tile_rc(id, out_width);
    return locator.owner(t.row, t.col) == core;
  });
}

Task stream_reader(StreamState& s, std::size_t core_index, std::vector<sim::CircularBuffer*> cbs,
                   std::vector<bool> local, std::uint32_t block, noc::NocPort& port) {
  const std::vector<std::uint64_t>& tiles = s.core_tiles[core_index];
  const auto total = static_cast<std::uint32_t>(tiles.size());
  // A core's own shard is already in L1: the reader only hands it to the compute kernel.
  for (std::size_t i = 0; i < cbs.size(); ++i) {
    if (!local[i]) continue;
    co_await cbs[i]->reserve_back(total);
    cbs[i]->push_back(total);
  }
  std::vector<std::optional<TileRC>> last(cbs.size());
  for (std::uint32_t done = 0; done < total;) {
    const std::uint32_t n = std::min(block, total - done);
    bool issued = false;
    for (std::size_t i = 0; i < cbs.size(); ++i) {
      if (!local[i]) co_await cbs[i]->reserve_back(n);
    }
    for (std::uint32_t k = 0; k < n; ++k) {
      const TileRC out = tile_rc(tiles[done + k], s.out_width_tiles);
      for (std::size_t i = 0; i < cbs.size(); ++i) {
        if (local[i]) continue;
        const TileRC src = s.plan.inputs[i].tile_of(out);
        // A broadcast operand's tile that was just read is reused, not fetched again.
        if (last[i] && *last[i] == src) continue;
        co_await port.read(s.inputs[i]->tile(src.row, src.col), s.inputs[i]->page_bytes());
        last[i] = src;
        issued = true;
      }
    }
    if (issued) co_await port.read_barrier();
    for (std::size_t i = 0; i < cbs.size(); ++i) {
      if (!local[i]) cbs[i]->push_back(n);
    }
    done += n;
  }
}

Task stream_compute(Program& program, CoreCoord core, std::vector<sim::CircularBuffer*> inputs,
                    sim::CircularBuffer& out, std::uint32_t total, std::uint32_t block,
                    sim::Cycle tile_cycles) {
  const sim::Cycle overhead = program.spec().compute.block_overhead_cycles;
  for (std::uint32_t done = 0; done < total;) {
    const std::uint32_t n = std::min(block, total - done);
    for (sim::CircularBuffer* in : inputs) co_await in->wait_front(n);
    co_await out.reserve_back(n);
    co_await program.compute(core, overhead + n * tile_cycles);
    out.push_back(n);
    for (sim::CircularBuffer* in : inputs) in->pop_front(n);
    done += n;
  }
}

Task stream_writer(StreamState& s, std::size_t core_index, sim::CircularBuffer& out, bool local,
                   std::uint32_t block, noc::NocPort& port) {
  const std::vector<std::uint64_t>& tiles = s.core_tiles[core_index];
  const auto total = static_cast<std::uint32_t>(tiles.size());
  for (std::uint32_t done = 0; done < total;) {
    const std::uint32_t n = std::min(block, total - done);
    co_await out.wait_front(n);
    if (!local) {
      for (std::uint32_t k = 0; k < n; ++k) {
        const TileRC t = tile_rc(tiles[done + k], s.out_width_tiles);
        co_await port.write(s.output->tile(t.row, t.col), s.output->page_bytes());
      }
      // The CB pages are reused once the writes have left L1.
      co_await port.writes_flushed();
    }
    out.pop_front(n);
    done += n;
  }
  if (!local) co_await port.write_barrier();
}

}  // namespace

std::uint32_t stream_block_tiles(std::uint32_t dst_block, std::uint64_t core_tiles) {
  const std::uint64_t quarter = (core_tiles + kMinPipelineBlocks - 1) / kMinPipelineBlocks;
  return static_cast<std::uint32_t>(
      std::clamp<std::uint64_t>(quarter, 1, std::max<std::uint32_t>(1, dst_block)));
}

std::vector<CoreRangeWork> split_work_to_cores(std::uint64_t units, std::uint32_t grid_x,
                                               std::uint32_t grid_y) {
  std::vector<CoreRangeWork> work;
  const std::uint64_t grid = static_cast<std::uint64_t>(grid_x) * grid_y;
  const std::uint64_t cores = std::min(units, grid);
  if (cores == 0) return work;
  const std::uint64_t base = units / cores;
  const std::uint64_t extra = units % cores;
  std::uint64_t next = 0;
  for (std::uint64_t i = 0; i < cores; ++i) {
    const std::uint64_t count = base + (i < extra ? 1 : 0);
    work.push_back(CoreRangeWork{
        CoreCoord{static_cast<std::uint32_t>(i % grid_x), static_cast<std::uint32_t>(i / grid_x)},
        next, count});
    next += count;
  }
  return work;
}

bool is_l1_sharded(const TensorSpec& spec) {
  return spec.is_sharded() && spec.memory_config().is_l1();
}

std::vector<CoreTileBlock> shard_tile_blocks(const TensorSpec& spec) {
  std::vector<CoreTileBlock> blocks;
  for (const ShardPlacement& p : shard_placements(spec)) {
    if (p.pages == 0) continue;
    blocks.push_back(
        CoreTileBlock{p.core, p.row_start / kTileHeight, (p.rows + kTileHeight - 1) / kTileHeight,
                      p.col_start / kTileWidth, (p.cols + kTileWidth - 1) / kTileWidth});
  }
  return blocks;
}

std::vector<float> src_register_values(const std::vector<float>& values, DataType type) {
  std::vector<float> out = values;
  if (type == DataType::Float32) numerics::quantize_tf32(out);
  return out;
}

void round_to_dst(std::vector<float>& values, bool fp32_dest) {
  if (!fp32_dest) numerics::quantize_bf16(values);
}

float round_to_dst(float value, bool fp32_dest) {
  return fp32_dest ? value : numerics::round_to_bf16(value);
}

void pack_to_output(std::vector<float>& values, const TensorSpec& spec) {
  const DataType type = spec.data_type();
  if (type == DataType::Int32 || type == DataType::UInt32) {
    for (float& v : values) {
      v = std::nearbyint(v);
      if (type == DataType::UInt32 && v < 0.0f)
        v = 0.0f;  // the packer clamps to the unsigned range
    }
    return;
  }
  numerics::quantize(values, static_cast<std::size_t>(spec.physical_height()),
                     spec.physical_width(), type, numerics::BfpRounding::DevicePacker);
}

sim::Cycle sfpu_cycles(const arch::DeviceSpec& device, const std::string& function, bool approx) {
  const std::string approx_key = function + "_approx";
  if (approx && device.compute.sfpu_tile_cycles.count(approx_key) > 0)
    return sfpu_tile_cycles(device, approx_key);
  return sfpu_tile_cycles(device, function);
}

std::string dtype_attribute(DataType type) { return "DataType::" + std::string(to_string(type)); }

std::string memory_attribute(const MemoryConfig& config) { return to_csv_attribute_string(config); }

std::string bool_attribute(bool value) { return value ? "true" : "false"; }

std::string unary_attribute(const std::string& unary) {
  std::string upper = unary;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return "UnaryWithParam(op_type=UnaryOpType::" + upper + ")";
}

std::optional<DataType> output_dtype_param(const nlohmann::json& params, const std::string& op) {
  const std::string text = param_string(params, op, "output_dtype", "");
  if (text.empty()) return std::nullopt;
  const auto parsed = parse_data_type(text);
  if (!parsed) {
    throw Error(op + ": unknown output_dtype '" + text +
                "'; use float32, bfloat16, bfloat8_b, bfloat4_b, uint32 or int32");
  }
  return parsed;
}

std::optional<MemoryConfig> output_memory_param(const nlohmann::json& params, const std::string& op,
                                                const TensorSpec& output,
                                                const arch::DeviceSpec& device) {
  const std::string keyword = param_string(params, op, "output_memory", "");
  const auto grid =
      param_ints(params, op, "grid", {device.worker_grid_x(), device.worker_grid_y()});
  if (grid.size() != 2 || grid[0] <= 0 || grid[1] <= 0)
    throw Error(op + ": grid must be [x, y] with positive sizes");
  if (keyword.empty()) return std::nullopt;
  try {
    return memory_config_from_keyword(keyword, output, static_cast<std::uint32_t>(grid[0]),
                                      static_cast<std::uint32_t>(grid[1]), device);
  } catch (const Error& e) {
    throw Error(op + ": output_memory '" + keyword + "' does not fit the output " +
                to_string(output.logical_shape()) + ": " + e.what());
  }
}

void require_tile_layout(const std::vector<TensorSpec>& inputs, const std::string& op) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].layout() != Layout::Tile) {
      throw Error(op + ": input " + std::to_string(i) + " " + to_string(inputs[i].logical_shape()) +
                  " is ROW_MAJOR; this op reads TILE layout (run tilize first)");
    }
  }
}

std::function<TileRC(TileRC)> broadcast_tile_map(const TensorSpec& in, const TensorSpec& out) {
  const auto pi = in.padded_shape().wzyx();
  const auto po = out.padded_shape().wzyx();
  const std::uint64_t in_z = pi[1];
  const std::uint64_t in_ht = pi[2] / kTileHeight;
  const std::uint64_t in_wt = pi[3] / kTileWidth;
  const std::uint64_t out_z = po[1];
  const std::uint64_t out_ht = po[2] / kTileHeight;
  const bool bcast_w = pi[0] == 1;
  const bool bcast_z = pi[1] == 1;
  return [=](TileRC o) {
    const std::uint64_t w = o.row / (out_z * out_ht);
    const std::uint64_t z = (o.row / out_ht) % out_z;
    const std::uint64_t yt = o.row % out_ht;
    const std::uint64_t wi = bcast_w ? 0 : w;
    const std::uint64_t zi = bcast_z ? 0 : z;
    const std::uint64_t yi = in_ht == 1 ? 0 : yt;
    const std::uint64_t xi = in_wt == 1 ? 0 : o.col;
    return TileRC{(wi * in_z + zi) * in_ht + yi, xi};
  };
}

std::vector<std::pair<CoreCoord, std::vector<std::uint64_t>>> stream_work(
    const StreamProgramSpec& plan, const arch::DeviceSpec& device) {
  std::vector<std::pair<CoreCoord, std::vector<std::uint64_t>>> work;
  const TensorSpec& out = plan.output;
  const std::uint64_t width = out.width_tiles();
  const TensorSpec* sharded = is_l1_sharded(out) ? &out : nullptr;
  for (const StreamOperand& in : plan.inputs) {
    if (sharded != nullptr) break;
    if (is_l1_sharded(in.spec) && in.spec.height_tiles() == out.height_tiles() &&
        in.spec.width_tiles() == width) {
      sharded = &in.spec;
    }
  }
  if (sharded != nullptr) {
    // Each shard's core computes the output tiles of its shard.
    for (const CoreTileBlock& b : shard_tile_blocks(*sharded)) {
      std::vector<std::uint64_t> ids;
      const std::uint64_t row_end = std::min(b.row0 + b.rows, out.height_tiles());
      const std::uint64_t col_end = std::min(b.col0 + b.cols, width);
      for (std::uint64_t r = b.row0; r < row_end; ++r) {
        for (std::uint64_t c = b.col0; c < col_end; ++c) ids.push_back(r * width + c);
      }
      if (!ids.empty()) work.emplace_back(b.core, std::move(ids));
    }
    return work;
  }
  for (const CoreRangeWork& w :
       split_work_to_cores(out.num_tiles(), device.worker_grid_x(), device.worker_grid_y())) {
    std::vector<std::uint64_t> ids(w.count);
    for (std::uint64_t i = 0; i < w.count; ++i) ids[i] = w.first + i;
    work.emplace_back(w.core, std::move(ids));
  }
  return work;
}

std::pair<std::uint64_t, std::uint64_t> stream_core_load(const StreamProgramSpec& plan,
                                                         const arch::DeviceSpec& device) {
  const auto work = stream_work(plan, device);
  std::uint64_t most = 0;
  for (const auto& [core, tiles] : work) most = std::max<std::uint64_t>(most, tiles.size());
  return {work.size(), most};
}

void build_stream_program(Program& program, const StreamProgramSpec& plan) {
  auto state = std::make_shared<StreamState>(plan);
  state->plan.block_tiles = std::max<std::uint32_t>(1, plan.block_tiles);
  for (const StreamOperand& in : plan.inputs)
    state->inputs.push_back(std::make_unique<TileLocator>(in.spec, program.fabric()));
  state->output = std::make_unique<TileLocator>(plan.output, program.fabric());
  state->out_width_tiles = plan.output.width_tiles();
  program.keep_alive(state);
  const auto work = stream_work(state->plan, program.spec());
  for (const auto& item : work) state->core_tiles.push_back(item.second);
  for (std::size_t index = 0; index < work.size(); ++index) {
    const CoreCoord core = work[index].first;
    const std::vector<std::uint64_t>& tiles = state->core_tiles[index];
    const auto total = static_cast<std::uint32_t>(tiles.size());
    const std::uint32_t block = stream_block_tiles(state->plan.block_tiles, total);
    std::vector<sim::CircularBuffer*> in_cbs;
    std::vector<bool> local;
    for (std::size_t i = 0; i < plan.inputs.size(); ++i) {
      const StreamOperand& in = plan.inputs[i];
      const bool is_local =
          all_local(in.spec, *state->inputs[i], core, tiles, state->out_width_tiles, in.tile_of);
      local.push_back(is_local);
      // A local shard is the CB itself (no L1 of its own); streamed inputs are double buffered.
      in_cbs.push_back(&program.create_cb(core, "in" + std::to_string(i),
                                          is_local ? total : 2 * block,
                                          tile_bytes(in.spec.data_type()), is_local));
    }
    const bool out_local =
        all_local(plan.output, *state->output, core, tiles, state->out_width_tiles, nullptr);
    sim::CircularBuffer& out_cb = program.create_cb(core, "out", out_local ? total : 2 * block,
                                                    tile_bytes(plan.output.data_type()), out_local);
    program.add_kernel(core, Risc::Ncrisc,
                       stream_reader(*state, index, in_cbs, local, block,
                                     program.noc_port(core, Risc::Ncrisc, kReaderNoc)));
    program.add_kernel(
        core, Risc::Trisc0,
        stream_compute(program, core, in_cbs, out_cb, total, block, plan.tile_cycles));
    program.add_kernel(core, Risc::Brisc,
                       stream_writer(*state, index, out_cb, out_local, block,
                                     program.noc_port(core, Risc::Brisc, kWriterNoc)));
  }
}

}  // namespace wormsim::ops
