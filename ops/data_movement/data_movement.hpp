#pragma once
// TT-NN's data-movement ops: layout conversion (tilize / untilize), shape ops (reshape, permute,
// transpose, concat, slice, pad, fold), memory moves (interleaved <-> sharded, reshard, move),
// the transformer head ops and embedding.
//
// Values are exact: every output element is a copy of one input element (or a fill value),
// rounded to the output format only where the op converts formats (tilize to a block-float
// output, untilize of a block-float input). The fp32 golden values move the same way.
// Timing comes from per-core reader / compute / writer kernels (ops/data_movement/dm_program.hpp).
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ops/data_movement/dm_program.hpp"
#include "ops/operation.hpp"

namespace wormsim::ops {

// Base of the data-movement ops: compute() and build() follow the op's element map.
class DataMovementOp : public Operation {
 public:
  std::vector<Tensor> compute(const std::vector<Tensor>& inputs,
                              const std::vector<TensorSpec>& outputs) const override;
  void build(Program& program, const std::vector<TensorSpec>& inputs,
             const std::vector<TensorSpec>& outputs) const override;
  // Where every output element comes from, for these (validated) specs.
  virtual std::unique_ptr<dm::ElementMap> element_map(
      const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const = 0;

 protected:
  explicit DataMovementOp(dm::OutputMemory memory) : memory_(std::move(memory)) {}
  // The output placement: the request resolved for `output`, else `fallback`; remembered for
  // attributes().
  MemoryConfig output_memory(const TensorSpec& output, const MemoryConfig& fallback,
                             const arch::DeviceSpec& device) const;
  std::string memory_attribute() const { return dm::attribute_memory(resolved_, memory_); }

  dm::OutputMemory memory_;
  mutable std::optional<MemoryConfig> resolved_;
};

// ---- layout conversion ----

struct TilizeOptions {
  dm::OutputMemory memory;
  std::optional<DataType> output_dtype;  // default: the input's
  // tilize_with_val_padding: pad the logical shape up to output_padded_shape (default: whole
  // tiles) with pad_value. Plain tilize needs a tile-aligned input.
  bool with_padding{false};
  std::optional<Shape> output_padded_shape;
  float pad_value{0.0f};
};

// ROW_MAJOR -> TILE. The reader fetches 32 rows (sticks) of a block of tiles, the compute kernel
// tilizes them (unpack tilize + pack), the writer stores the tiles.
class TilizeOp : public DataMovementOp {
 public:
  explicit TilizeOp(TilizeOptions options)
      : DataMovementOp(options.memory), options_(std::move(options)) {}
  std::string op_code() const override {
    return options_.with_padding ? "TilizeWithValPaddingDeviceOperation" : "TilizeDeviceOperation";
  }
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::unique_ptr<dm::ElementMap> element_map(
      const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const override;
  void build(Program& program, const std::vector<TensorSpec>& inputs,
             const std::vector<TensorSpec>& outputs) const override;

 private:
  TilizeOptions options_;
};

struct UntilizeOptions {
  dm::OutputMemory memory;
  // untilize_with_unpadding: keep elements [0, output_end] (inclusive, per dim; default the
  // logical shape). Plain untilize keeps the padded data.
  bool with_unpadding{false};
  std::optional<std::vector<std::uint32_t>> output_end;
};

// TILE -> ROW_MAJOR: reader fetches a block of tiles, compute untilizes (pack_untilize), the
// writer stores the block's rows.
class UntilizeOp : public DataMovementOp {
 public:
  explicit UntilizeOp(UntilizeOptions options)
      : DataMovementOp(options.memory), options_(std::move(options)) {}
  std::string op_code() const override {
    return options_.with_unpadding ? "UntilizeWithUnpaddingDeviceOperation"
                                   : "UntilizeDeviceOperation";
  }
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::unique_ptr<dm::ElementMap> element_map(
      const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const override;
  void build(Program& program, const std::vector<TensorSpec>& inputs,
             const std::vector<TensorSpec>& outputs) const override;

 private:
  UntilizeOptions options_;
};

// ---- shape ops ----

struct ReshapeOptions {
  std::vector<std::int64_t> shape;  // one entry may be -1 (inferred)
  dm::OutputMemory memory;
};

// A view (no data moves, a kernel that does nothing) when the page layout allows it: same last
// dim, and in TILE layout the same second-to-last dim or both tile-aligned, same placement.
// Otherwise a real copy that moves every element to its new place.
class ReshapeOp : public DataMovementOp {
 public:
  explicit ReshapeOp(ReshapeOptions options)
      : DataMovementOp(options.memory), options_(std::move(options)) {}
  std::string op_code() const override { return "ReshapeDeviceOperation"; }
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::unique_ptr<dm::ElementMap> element_map(
      const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const override;
  void build(Program& program, const std::vector<TensorSpec>& inputs,
             const std::vector<TensorSpec>& outputs) const override;
  PerfModel perf_model(const std::vector<TensorSpec>& inputs,
                       const std::vector<TensorSpec>& outputs,
                       const arch::DeviceSpec& device) const override;
  // Whether the last output_specs() call found a view.
  bool is_view() const { return view_; }

 private:
  ReshapeOptions options_;
  mutable bool view_{false};
};

struct PermuteOptions {
  std::vector<std::int64_t> dims;  // output dim i = input dim dims[i]; negatives count from the end
  dm::OutputMemory memory;
};

class PermuteOp : public DataMovementOp {
 public:
  explicit PermuteOp(PermuteOptions options)
      : DataMovementOp(options.memory), options_(std::move(options)) {}
  std::string op_code() const override { return "PermuteDeviceOperation"; }
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::unique_ptr<dm::ElementMap> element_map(
      const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const override;

 private:
  PermuteOptions options_;
};

struct TransposeOptions {
  std::int64_t dim0{-2};
  std::int64_t dim1{-1};
  dm::OutputMemory memory;
};

// Swaps two dims. In TILE layout WH (-2, -1) transposes every tile on the Tensix
// (transpose_wh_tile); HC and the others move face-row segments on the data-movement RISCs.
class TransposeOp : public DataMovementOp {
 public:
  explicit TransposeOp(TransposeOptions options)
      : DataMovementOp(options.memory), options_(std::move(options)) {}
  std::string op_code() const override { return "TransposeDeviceOperation"; }
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::unique_ptr<dm::ElementMap> element_map(
      const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const override;

 private:
  TransposeOptions options_;
  mutable std::string dim_name_;
};

struct ConcatOptions {
  std::int64_t dim{0};
  dm::OutputMemory memory;
};

class ConcatOp : public DataMovementOp {
 public:
  explicit ConcatOp(ConcatOptions options)
      : DataMovementOp(options.memory), options_(std::move(options)) {}
  std::string op_code() const override { return "ConcatDeviceOperation"; }
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::unique_ptr<dm::ElementMap> element_map(
      const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const override;

 private:
  ConcatOptions options_;
};

struct SliceOptions {
  std::vector<std::int64_t> begins;  // per dim; negatives count from the end
  std::vector<std::int64_t> ends;    // exclusive
  std::vector<std::int64_t> steps;   // empty: all 1
  dm::OutputMemory memory;
};

class SliceOp : public DataMovementOp {
 public:
  explicit SliceOp(SliceOptions options)
      : DataMovementOp(options.memory), options_(std::move(options)) {}
  std::string op_code() const override { return "SliceDeviceOperation"; }
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::unique_ptr<dm::ElementMap> element_map(
      const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const override;

 private:
  SliceOptions options_;
  mutable std::array<std::uint32_t, 4> begin4_{};
  mutable std::array<std::uint32_t, 4> step4_{1, 1, 1, 1};
};

// ---- conv DRAM slicing (TT-NN's Conv2dSliceConfig) ----
// Both ops see an NHWC image batch flattened to [1, 1, N*H*W, C] rows.

struct RowBandOptions {
  std::uint32_t batch{1};
  std::uint32_t height{1};  // padded_slice: the input's H (slice_write: the sum of the bands)
  std::uint32_t width{1};
  std::uint32_t first_row{0};  // padded_slice: image rows [first_row, last_row) of every image
  std::uint32_t last_row{0};
  std::vector<std::uint32_t> band_heights;  // slice_write: rows of each input band, in order
  dm::OutputMemory memory;
};

// ttnn.experimental.padded_slice as conv2d's DRAM slicing uses it: image rows [first, last) of
// every image of the batch, as [1, 1, N*(last-first)*W, C].
class PaddedSliceOp : public DataMovementOp {
 public:
  explicit PaddedSliceOp(RowBandOptions options)
      : DataMovementOp(options.memory), options_(std::move(options)) {}
  std::string op_code() const override { return "PaddedSliceDeviceOperation"; }
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::unique_ptr<dm::ElementMap> element_map(
      const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const override;

 private:
  RowBandOptions options_;
};

// ttnn.experimental.slice_write as conv2d's DRAM slicing uses it: each band's output rows written
// into their place in the full [1, 1, N*H*W, C] result. TT-NN issues one slice_write per band into
// a preallocated tensor; this op writes all bands (the same bytes, one profile row).
class SliceWriteOp : public DataMovementOp {
 public:
  explicit SliceWriteOp(RowBandOptions options)
      : DataMovementOp(options.memory), options_(std::move(options)) {}
  std::string op_code() const override { return "SliceWriteDeviceOperation"; }
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::unique_ptr<dm::ElementMap> element_map(
      const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const override;

 private:
  RowBandOptions options_;
};

struct PadOptions {
  // (before, after) per dim, for the last padding.size() dims.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> padding;
  float value{0.0f};
  dm::OutputMemory memory;
};

class PadOp : public DataMovementOp {
 public:
  explicit PadOp(PadOptions options)
      : DataMovementOp(options.memory), options_(std::move(options)) {}
  std::string op_code() const override { return "PadDeviceOperation"; }
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::unique_ptr<dm::ElementMap> element_map(
      const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const override;

 private:
  PadOptions options_;
};

struct FoldOptions {
  std::uint32_t stride_h{1};
  std::uint32_t stride_w{1};
  dm::OutputMemory memory;
};

// Space-to-depth of ViT / ResNet patch embedding: [N, H, W, C] -> [N, H/sh, W/sw, C*sh*sw],
// channel (i*sw + j)*C + c of output pixel (h, w) = input pixel (h*sh + i, w*sw + j), channel c.
class FoldOp : public DataMovementOp {
 public:
  explicit FoldOp(FoldOptions options)
      : DataMovementOp(options.memory), options_(std::move(options)) {}
  std::string op_code() const override { return "FoldDeviceOperation"; }
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::unique_ptr<dm::ElementMap> element_map(
      const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const override;

 private:
  FoldOptions options_;
};

// ---- memory moves ----

enum class MemoryMoveKind { InterleavedToSharded, ShardedToInterleaved, Reshard, Move };

// The same tensor in another memory config. Each output shard's core pulls its pages
// (interleaved_to_sharded, reshard); each input shard's core pushes its pages
// (sharded_to_interleaved); interleaved copies split the pages over the grid.
class MemoryMoveOp : public DataMovementOp {
 public:
  MemoryMoveOp(MemoryMoveKind kind, dm::OutputMemory memory)
      : DataMovementOp(std::move(memory)), kind_(kind) {}
  std::string op_code() const override;
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::unique_ptr<dm::ElementMap> element_map(
      const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const override;
  void build(Program& program, const std::vector<TensorSpec>& inputs,
             const std::vector<TensorSpec>& outputs) const override;

 private:
  std::string name() const;
  MemoryMoveKind kind_;
};

// ---- transformer head ops ----

struct NlpCreateQkvHeadsOptions {
  std::uint32_t num_heads{1};
  std::optional<std::uint32_t> num_kv_heads;  // default num_heads
  bool transpose_k_heads{true};               // TT-NN's default: K as [B, H, D, S]
  dm::OutputMemory memory;
};

// Fused QKV [B, 1, S, (H + 2*KVH) * D] (Q heads, then K heads, then V heads), or Q [B, 1, S, H*D]
// plus KV [B, 1, S, 2*KVH*D] -> Q [B, H, S, D], K [B, KVH, S, D] (or [B, KVH, D, S]),
// V [B, KVH, S, D]. Three outputs.
class NlpCreateQkvHeadsOp : public DataMovementOp {
 public:
  explicit NlpCreateQkvHeadsOp(NlpCreateQkvHeadsOptions options)
      : DataMovementOp(options.memory), options_(std::move(options)) {}
  std::string op_code() const override { return "NLPCreateHeadsDeviceOperation"; }
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::unique_ptr<dm::ElementMap> element_map(
      const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const override;

 private:
  NlpCreateQkvHeadsOptions options_;
};

// [B, H, S, D] -> [B, 1, S, H*D].
class NlpConcatHeadsOp : public DataMovementOp {
 public:
  explicit NlpConcatHeadsOp(dm::OutputMemory memory) : DataMovementOp(std::move(memory)) {}
  std::string op_code() const override { return "NLPConcatHeadsDeviceOperation"; }
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::unique_ptr<dm::ElementMap> element_map(
      const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const override;
};

// ---- embedding ----

struct EmbeddingOptions {
  Layout output_layout{Layout::RowMajor};  // TT-NN's default; TILE tilizes on the Tensix
  std::optional<DataType> output_dtype;    // default: the weight's
  dm::OutputMemory memory;
};

// indices (UINT32 ROW_MAJOR [B, 1, 1, S]) + weight table (ROW_MAJOR [1, 1, V, D]) -> [B, 1, S, D]:
// output row (b, s) = weight row indices[b, s]. Each core reads its tokens' indices, then one
// weight row per token from DRAM. The program is built before values exist, so for timing token
// t reads weight row t mod V (its page lands on banks the way distinct ids spread).
class EmbeddingOp : public Operation {
 public:
  explicit EmbeddingOp(EmbeddingOptions options) : options_(std::move(options)) {}
  std::string op_code() const override { return "EmbeddingsDeviceOperation"; }
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::vector<Tensor> compute(const std::vector<Tensor>& inputs,
                              const std::vector<TensorSpec>& outputs) const override;
  void build(Program& program, const std::vector<TensorSpec>& inputs,
             const std::vector<TensorSpec>& outputs) const override;
  // Bandwidth bound of what is really read: the indices, one table row per token, the output.
  PerfModel perf_model(const std::vector<TensorSpec>& inputs,
                       const std::vector<TensorSpec>& outputs,
                       const arch::DeviceSpec& device) const override;

 private:
  EmbeddingOptions options_;
  mutable std::optional<MemoryConfig> resolved_;
};

}  // namespace wormsim::ops
