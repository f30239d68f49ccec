#pragma once
// Geometry shared by TT-NN's sliding-window ops (conv2d, halo, max/avg pool, bilinear upsample).
//
// TT-NN keeps activations NHWC, flattened to a [1, 1, N*H*W, C] tensor whose rows are "sticks"
// (one pixel, all its channels). A window op splits its *output* sticks over the cores; each core
// then needs a contiguous range of sticks of the *padded* input (the input with its zero padding
// rows and columns inserted). TT-NN's halo op gathers that range into each core's L1: sticks the
// core holds itself are copied locally, sticks of neighbouring shards are written by their owners
// over the NoC and padding sticks are filled from a pad value (tt-metal ttnn/cpp/ttnn/operations/
// sliding_window: SlidingWindowConfig, generate_op_trace_metadata, halo). This header holds that
// geometry and the transfer plan; ops/conv/halo.hpp runs it on the device model.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ops/device.hpp"
#include "ops/tensor_spec.hpp"

namespace wormsim::ops {

// TT-NN's SlidingWindowConfig: an NHWC image batch, a window, its stride, dilation and padding.
struct SlidingWindow {
  std::uint32_t batch{1};
  std::uint32_t input_h{1};
  std::uint32_t input_w{1};
  std::uint32_t kernel_h{1};
  std::uint32_t kernel_w{1};
  std::uint32_t stride_h{1};
  std::uint32_t stride_w{1};
  std::uint32_t dilation_h{1};
  std::uint32_t dilation_w{1};
  std::uint32_t pad_top{0};
  std::uint32_t pad_bottom{0};
  std::uint32_t pad_left{0};
  std::uint32_t pad_right{0};
  // A transposed convolution (SlidingWindowConfig is_transpose) runs as an ordinary stride-1
  // window over its input spread `input_step` apart: the halo inserts step - 1 zero sticks
  // between neighbours, and the padding is the transposed conv's dilation * (kernel - 1) - pad
  // (plus output_padding at the bottom / right). 1 = an ordinary input.
  std::uint32_t input_step_h{1};
  std::uint32_t input_step_w{1};
  bool transpose{false};
  std::uint32_t output_pad_h{0};  // the transposed conv's output_padding (attributes only)
  std::uint32_t output_pad_w{0};

  // Extent of the input once spread apart (its size for an ordinary window).
  std::uint32_t spread_h() const { return (input_h - 1) * input_step_h + 1; }
  std::uint32_t spread_w() const { return (input_w - 1) * input_step_w + 1; }
  std::uint32_t padded_h() const { return spread_h() + pad_top + pad_bottom; }
  std::uint32_t padded_w() const { return spread_w() + pad_left + pad_right; }
  // Input row (column) at row y (column x) of the spread input, counted from its first real
  // row (padding excluded): -1 outside it or on an inserted zero.
  std::int64_t input_row(std::int64_t y) const { return spread_index(y, input_h, input_step_h); }
  std::int64_t input_col(std::int64_t x) const { return spread_index(x, input_w, input_step_w); }
  // Extent of the (dilated) window.
  std::uint32_t window_h() const { return dilation_h * (kernel_h - 1) + 1; }
  std::uint32_t window_w() const { return dilation_w * (kernel_w - 1) + 1; }
  std::uint32_t output_h() const { return (padded_h() - window_h()) / stride_h + 1; }
  std::uint32_t output_w() const { return (padded_w() - window_w()) / stride_w + 1; }
  std::uint64_t input_sticks() const {
    return static_cast<std::uint64_t>(batch) * input_h * input_w;
  }
  std::uint64_t output_sticks() const {
    return static_cast<std::uint64_t>(batch) * output_h() * output_w();
  }

  // Index of padded-input stick (n, y, x) in the flattened padded batch.
  std::uint64_t padded_index(std::uint32_t n, std::uint32_t y, std::uint32_t x) const {
    return (static_cast<std::uint64_t>(n) * padded_h() + y) * padded_w() + x;
  }
  // Padded index of the top-left / bottom-right stick of output stick o's window.
  std::uint64_t window_first(std::uint64_t output_stick) const;
  std::uint64_t window_last(std::uint64_t output_stick) const;
  // Input stick (row of the [N*H*W, C] tensor) at padded index p, or -1 for a padding stick.
  std::int64_t input_stick(std::uint64_t padded) const;

  // Throws wormsim::Error naming `op` for a zero kernel/stride/dilation or a window larger than
  // the padded input.
  void validate(const std::string& op) const;
  // tt-metal's printed SlidingWindowConfig (ATTRIBUTES column), e.g.
  // "SlidingWindowConfig(batch_size=1; input_hw=(512;1024); window_hw=(3;3); stride_hw=(2;2);
  // padding=((1; 1); (1; 1)); output_padding = (0; 0); dilation_hw=(1;1); num_cores_nhw=110;
  // num_cores_c=1; core_range_set_={[(x=0;y=0) - (x=10;y=9)]}; is_transpose=false)"
  std::string attribute_string(std::uint32_t num_cores_nhw, std::uint32_t num_cores_c,
                               const CoreRangeSet& grid) const;

 private:
  static std::int64_t spread_index(std::int64_t at, std::uint32_t size, std::uint32_t step) {
    if (at < 0 || at % step != 0 || at / step >= size) return -1;
    return at / step;
  }
};

// Builds a SlidingWindow from the JSON-style parameter lists TT-NN takes: kernel [kh, kw],
// stride / dilation [s] or [sh, sw], padding [p], [ph, pw] or [top, bottom, left, right].
// Throws wormsim::Error naming `op` and the parameter on a malformed list.
SlidingWindow make_sliding_window(const std::string& op, std::uint32_t batch, std::uint32_t input_h,
                                  std::uint32_t input_w, const std::vector<std::int64_t>& kernel,
                                  const std::vector<std::int64_t>& stride,
                                  const std::vector<std::int64_t>& padding,
                                  const std::vector<std::int64_t>& dilation);

// How a window op spreads its output sticks: `cores` in shard order, grouped into NHW rows of a
// block grid (block sharding: one group per grid column, each holding one channel slice; height
// sharding: a single group). Core i of group g owns output sticks [i*rows, (i+1)*rows).
struct NhwPartition {
  std::vector<std::vector<CoreCoord>> groups;  // groups[g][i]
  std::uint64_t output_rows_per_core{0};  // output sticks per core (the last core may get fewer)
  std::uint64_t output_sticks{0};
  std::uint32_t channels_per_group{0};                      // channel slice each group holds
  std::uint64_t rows_of(std::size_t index_in_group) const;  // output sticks core i really owns
  std::uint64_t first_row(std::size_t index_in_group) const {
    return index_in_group * output_rows_per_core;
  }
  std::size_t cores_per_group() const { return groups.empty() ? 0 : groups.front().size(); }
};

// One contiguous run of real input sticks moved into a destination core's halo buffer.
struct HaloPiece {
  static constexpr std::size_t kInterleaved = static_cast<std::size_t>(-1);
  std::size_t group{0};
  std::size_t source{kInterleaved};  // index in group of the core whose shard holds the sticks
  std::size_t dest{0};               // index in group of the core receiving them
  std::uint64_t first_stick{0};      // input stick (tensor row) index
  std::uint64_t count{0};
  std::uint64_t dest_offset{0};  // stick offset in the destination's halo buffer
};

struct StickRun {
  std::uint64_t offset{0};  // in the halo buffer
  std::uint64_t count{0};
};

// The halo phase of one op: which sticks every core needs and where they come from.
struct HaloPlan {
  explicit HaloPlan(TensorSpec input_spec) : input(std::move(input_spec)) {}
  NhwPartition partition;
  TensorSpec input;                         // the op's input tensor
  DataType stick_type{DataType::BFloat16};  // format of the gathered sticks (ROW_MAJOR)
  std::uint32_t stick_bytes{0};             // bytes of one stick of one channel slice
  std::vector<std::vector<std::uint64_t>> window_first;  // [group][core]: first needed index
  std::vector<std::vector<std::uint64_t>> window_count;  // [group][core]: sticks in the buffer
  std::uint64_t max_window_sticks{0};  // largest buffer (TT-NN max_out_nsticks_per_core)
  std::vector<HaloPiece> pieces;
  std::vector<std::vector<std::vector<StickRun>>> pad_runs;  // [group][core]
  std::vector<std::vector<std::uint64_t>> incoming;  // [group][core]: pieces + pad runs landing
  bool input_sharded{false};
  std::uint64_t input_shard_rows{0};   // rows of one input shard (sharded input)
  std::uint32_t input_slice_tiles{0};  // tiles across one channel slice (TILE input)

  std::uint64_t total_moved_sticks() const;
  // Sticks that cross from one core to another (the NoC traffic TT-NN's halo op adds).
  std::uint64_t remote_sticks() const;
};

// Maps an index of the op's "window space" (padded input for conv/pool) to an input stick, or -1
// for a padding stick.
using StickMap = std::function<std::int64_t(std::uint64_t)>;

// Plans the halo: for every core of `partition`, the range [first(g,i), first+count) of window
// space, mapped to input sticks by `map`. Sticks of a sharded input come from their shard owner
// (cores of the same group, in shard order); an interleaved input is read by each destination.
// Throws wormsim::Error naming `op` if a sharded input does not line up with the partition.
HaloPlan plan_halo(const std::string& op, const TensorSpec& input, NhwPartition partition,
                   const std::function<std::pair<std::uint64_t, std::uint64_t>(
                       std::size_t group, std::size_t core)>& range,
                   const StickMap& map);

// The standard conv/pool range: the padded-input sticks from core i's first output window to its
// last one.
HaloPlan plan_window_halo(const std::string& op, const TensorSpec& input,
                          const SlidingWindow& window, NhwPartition partition);

// The stride-1 window a transposed convolution (ttnn.conv_transpose2d, PyTorch ConvTranspose2d
// semantics) slides over its spread input; output size (in - 1) * stride - 2 * padding +
// dilation * (kernel - 1) + output_padding + 1. Throws wormsim::Error naming `op` when padding
// exceeds dilation * (kernel - 1) or output_padding is not below stride or dilation.
SlidingWindow make_transposed_window(const std::string& op, std::uint32_t batch,
                                     std::uint32_t input_h, std::uint32_t input_w,
                                     const std::vector<std::int64_t>& kernel,
                                     const std::vector<std::int64_t>& stride,
                                     const std::vector<std::int64_t>& padding,
                                     const std::vector<std::int64_t>& output_padding,
                                     const std::vector<std::int64_t>& dilation);

// Partition of `output_sticks` over the cores of a sharded input (height: its shard grid in shard
// order; block: one group per grid column) or, for an interleaved input, over the first cores of
// a grid_x x grid_y grid (height) / that grid (block). Rows per core are rounded up to whole
// tiles when tile_aligned (a TILE output).
NhwPartition partition_nhw(const std::string& op, const TensorSpec& input,
                           std::uint64_t output_sticks, std::uint32_t channels, bool block_sharded,
                           bool tile_aligned, std::uint32_t grid_x, std::uint32_t grid_y,
                           const arch::DeviceSpec& device);

}  // namespace wormsim::ops
