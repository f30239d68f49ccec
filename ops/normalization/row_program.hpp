#pragma once
// The per-core program of the row-statistic ops (softmax, layernorm, rmsnorm, groupnorm): each
// core owns a block of tile rows x tile columns and walks it in passes (e.g. mean, variance,
// normalize). Statistics are reduced over a "domain": one tile row for softmax / layer norms,
// one batch for group norm. When a domain spans several cores (width- or block-sharded inputs,
// group norm over interleaved rows), the partial statistics are gathered on the domain's first
// core after the pass and multicast back to every participant, TT-NN's sender / receiver scheme.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ops/eltwise/eltwise_program.hpp"

namespace wormsim::ops {

struct RowPass {
  std::string name;
  sim::Cycle tile_cycles{0};    // compute per input tile of the core's block
  sim::Cycle domain_cycles{0};  // compute per reduction domain after the pass (1/sqrt, 1/sum)
  bool exchange{false};         // partial statistics are combined across cores after the pass
  bool output{false};           // this pass emits the output tiles
};

struct RowProgramSpec {
  RowProgramSpec(TensorSpec in, TensorSpec out) : input(std::move(in)), output(std::move(out)) {}
  TensorSpec input;
  TensorSpec output;
  // Read with every tile row (softmax's mask): the tile feeding input tile (row, col).
  std::optional<TensorSpec> row_operand;
  std::function<TileRC(TileRC)> row_operand_tile;
  // Read once per core (gamma, beta): tile (0, col) for every column of the core's block.
  std::vector<TensorSpec> column_operands;
  std::vector<RowPass> passes;
  // Reduction domain of a tile row.
  std::function<std::uint64_t(std::uint64_t)> domain_of_row;
  // The whole block must be seen before the output pass (group norm's per-batch statistics).
  bool whole_block_units{false};
  DataType intermediate{
      DataType::BFloat16};  // format of intermediate CBs (bf16, or fp32 with fp32 Dst)
  std::uint32_t stat_tiles_per_domain{1};  // tiles of partial statistics one domain exchanges
  std::uint32_t block_tiles{8};            // tiles per compute block (one Dst half)
};

// The tile block each core works on: the input's (else the output's) L1 shards, else whole
// tile rows split evenly over the worker grid.
std::vector<CoreTileBlock> row_work(const RowProgramSpec& spec, const arch::DeviceSpec& device);

// Builds reader (NCRISC, NoC1), compute (TRISC) and writer (BRISC, NoC0) kernels per core.
// A row (or, for whole-block units, the block) stays in L1 across the passes when it fits;
// otherwise the reader streams it again for every pass.
void build_row_program(Program& program, const RowProgramSpec& spec);

}  // namespace wormsim::ops
