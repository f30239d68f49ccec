#pragma once
// Shared machinery of the elementwise-style ops (binary, unary, typecast) and of the row ops
// (softmax, layer/rms/group norm): how TT-NN spreads tiles over cores, the streaming
// reader / compute / writer program of an eltwise op, and the number-format steps every
// compute kernel goes through (unpack into Src, Dst precision, packer rounding).
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ops/compute_config.hpp"
#include "ops/operation.hpp"

namespace wormsim::ops {

// The project's data-movement convention: readers on NCRISC over NoC1, writers on BRISC over
// NoC0 (tt-metal's ReaderDataMovementConfig on Wormhole picks NoC0 for DRAM reads and the
// writer NoC1; switching these two constants models that assignment).
inline constexpr noc::NocId kReaderNoc = noc::NocId::Noc1;
inline constexpr noc::NocId kWriterNoc = noc::NocId::Noc0;

// One tile of a tensor's 2-D tile grid (every outer dim folded into the rows).
struct TileRC {
  std::uint64_t row{0};
  std::uint64_t col{0};
  friend bool operator==(const TileRC&, const TileRC&) = default;
};

// A contiguous range of work units given to one core.
struct CoreRangeWork {
  CoreCoord core;
  std::uint64_t first{0};
  std::uint64_t count{0};
};

// TT-NN's split_work_to_cores: `units` spread over the first min(units, grid) cores of a
// grid_x x grid_y grid (row by row); the first units % cores cores take one unit more.
std::vector<CoreRangeWork> split_work_to_cores(std::uint64_t units, std::uint32_t grid_x,
                                               std::uint32_t grid_y);

// A rectangle of tiles one core owns.
struct CoreTileBlock {
  CoreCoord core;
  std::uint64_t row0{0};
  std::uint64_t rows{0};
  std::uint64_t col0{0};
  std::uint64_t cols{0};
  std::uint64_t tiles() const { return rows * cols; }
};

// The tile block each core holds of a sharded TILE tensor, in shard order (cores without data
// are left out).
std::vector<CoreTileBlock> shard_tile_blocks(const TensorSpec& spec);

// True if `spec` is sharded in L1 (its shards are read in place by their cores).
bool is_l1_sharded(const TensorSpec& spec);

// ---- number formats on the way through a compute kernel ----
// Values as the unpacker places them in SrcA/SrcB: Float32 loses its low 13 mantissa bits
// (TF32); bfloat16 and the block floats arrive unchanged.
std::vector<float> src_register_values(const std::vector<float>& values, DataType type);
// A result written to Dst: a 16-bit Dst holds bfloat16 (round to nearest even).
void round_to_dst(std::vector<float>& values, bool fp32_dest);
float round_to_dst(float value, bool fp32_dest);
// The packer writing an output tile in `spec`'s format (block floats round as the packer does;
// integer types round to the nearest integer).
void pack_to_output(std::vector<float>& values, const TensorSpec& spec);

// SFPU cycles of `function` on one tile: its "<function>_approx" entry when math_approx_mode is
// on and the spec lists one, else the precise entry (throws Error if the spec has neither).
sim::Cycle sfpu_cycles(const arch::DeviceSpec& device, const std::string& function, bool approx);

// ---- ops_perf_results attribute helpers ----
std::string dtype_attribute(DataType type);                // "DataType::BFLOAT16"
std::string memory_attribute(const MemoryConfig& config);  // MemoryConfig(...;...) with ';'
std::string bool_attribute(bool value);                    // "true" / "false"
// "UnaryWithParam(op_type=UnaryOpType::GELU)" for "gelu".
std::string unary_attribute(const std::string& unary);

// ---- parameters shared by the eltwise and norm ops ----
// "output_dtype" (nullopt if absent; throws Error naming the op for an unknown type).
std::optional<DataType> output_dtype_param(const nlohmann::json& params, const std::string& op);
// "output_memory" keyword resolved for the output tensor `output` on the "grid" param's grid
// (default the full worker grid); nullopt if absent.
std::optional<MemoryConfig> output_memory_param(const nlohmann::json& params, const std::string& op,
                                                const TensorSpec& output,
                                                const arch::DeviceSpec& device);
// Throws Error naming the op unless every tensor is in TILE layout.
void require_tile_layout(const std::vector<TensorSpec>& inputs, const std::string& op);

// ---- the streaming eltwise program ----
// An input of a streaming eltwise op and the tile it contributes to each output tile
// (identity for same-shape operands, clamped indices for broadcast ones).
struct StreamOperand {
  TensorSpec spec;
  std::function<TileRC(TileRC)> tile_of;
};

// Tile of `in` that feeds tile (row, col) of `out` when `in` broadcasts to `out`'s shape: a dim
// of size 1 (outer dims) or of one tile (height / width) reads index 0.
std::function<TileRC(TileRC)> broadcast_tile_map(const TensorSpec& in, const TensorSpec& out);

// Tiles per block of a core's streaming pipeline: one Dst half, but small enough that the
// core's work spans at least kMinPipelineBlocks blocks, so reading, computing and writing
// overlap instead of waiting for a whole Dst-sized first block (TT-NN's eltwise kernels move
// single tiles through 2-tile CBs for the same reason).
inline constexpr std::uint64_t kMinPipelineBlocks = 4;
std::uint32_t stream_block_tiles(std::uint32_t dst_block, std::uint64_t core_tiles);

struct StreamProgramSpec {
  std::vector<StreamOperand> inputs;
  TensorSpec output;
  sim::Cycle tile_cycles{0};     // compute cost of one output tile (unpack, math, SFPU, pack)
  std::uint32_t block_tiles{1};  // tiles per compute block (one Dst half)
};

// Where the work of a streaming op runs: the output's shards when the output is L1-sharded,
// else the shards of the first L1-sharded input with the output's tile grid, else the output
// tiles split evenly over the worker grid.
std::vector<std::pair<CoreCoord, std::vector<std::uint64_t>>> stream_work(
    const StreamProgramSpec& plan, const arch::DeviceSpec& device);

// Builds the per-core kernels: reader (NCRISC, NoC1) fetching each input tile (or pushing the
// core's own shard in place), compute (TRISC) spending tile_cycles per tile in Dst-sized blocks,
// writer (BRISC, NoC0) storing output tiles (or leaving them in the core's output shard).
// CBs are double buffered.
void build_stream_program(Program& program, const StreamProgramSpec& plan);

// Cores the streaming program uses and the largest per-core tile count, for perf models.
std::pair<std::uint64_t, std::uint64_t> stream_core_load(const StreamProgramSpec& plan,
                                                         const arch::DeviceSpec& device);

}  // namespace wormsim::ops
