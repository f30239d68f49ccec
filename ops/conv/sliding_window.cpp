#include "ops/conv/sliding_window.hpp"

#include <algorithm>

#include "sim/error.hpp"

namespace wormsim::ops {
namespace {

std::uint64_t div_up(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

// A [s] or [sh, sw] list as two positive (or, if zero_allowed, non-negative) values.
std::pair<std::uint32_t, std::uint32_t> pair_param(const std::string& op, const char* name,
                                                   const std::vector<std::int64_t>& values,
                                                   bool zero_allowed = false) {
  if (values.size() != 1 && values.size() != 2) {
    throw Error(op + ": " + name + " must be [v] or [v_h, v_w], got " +
                std::to_string(values.size()) + " values");
  }
  for (std::int64_t v : values) {
    if (v < 0 || (v == 0 && !zero_allowed))
      throw Error(op + ": every " + std::string(name) + " value must be " +
                  (zero_allowed ? "non-negative" : "positive") + ", got " + std::to_string(v));
  }
  const auto h = static_cast<std::uint32_t>(values[0]);
  const auto w = static_cast<std::uint32_t>(values.size() == 2 ? values[1] : values[0]);
  return {h, w};
}

// The window the parameters describe, not yet validated.
SlidingWindow parse_window(const std::string& op, std::uint32_t batch, std::uint32_t input_h,
                           std::uint32_t input_w, const std::vector<std::int64_t>& kernel,
                           const std::vector<std::int64_t>& stride,
                           const std::vector<std::int64_t>& padding,
                           const std::vector<std::int64_t>& dilation) {
  SlidingWindow w;
  w.batch = batch;
  w.input_h = input_h;
  w.input_w = input_w;
  std::tie(w.kernel_h, w.kernel_w) = pair_param(op, "kernel_size", kernel);
  std::tie(w.stride_h, w.stride_w) = pair_param(op, "stride", stride);
  std::tie(w.dilation_h, w.dilation_w) = pair_param(op, "dilation", dilation);
  for (std::int64_t v : padding) {
    if (v < 0) throw Error(op + ": padding must not be negative, got " + std::to_string(v));
  }
  if (padding.size() == 1) {
    w.pad_top = w.pad_bottom = w.pad_left = w.pad_right = static_cast<std::uint32_t>(padding[0]);
  } else if (padding.size() == 2) {
    w.pad_top = w.pad_bottom = static_cast<std::uint32_t>(padding[0]);
    w.pad_left = w.pad_right = static_cast<std::uint32_t>(padding[1]);
  } else if (padding.size() == 4) {
    w.pad_top = static_cast<std::uint32_t>(padding[0]);
    w.pad_bottom = static_cast<std::uint32_t>(padding[1]);
    w.pad_left = static_cast<std::uint32_t>(padding[2]);
    w.pad_right = static_cast<std::uint32_t>(padding[3]);
  } else {
    throw Error(op + ": padding must be [p], [p_h, p_w] or [top, bottom, left, right], got " +
                std::to_string(padding.size()) + " values");
  }
  return w;
}

}  // namespace

std::uint64_t SlidingWindow::window_first(std::uint64_t o) const {
  const std::uint64_t per_image = static_cast<std::uint64_t>(output_h()) * output_w();
  const auto n = static_cast<std::uint32_t>(o / per_image);
  const std::uint64_t rem = o % per_image;
  const auto oh = static_cast<std::uint32_t>(rem / output_w());
  const auto ow = static_cast<std::uint32_t>(rem % output_w());
  return padded_index(n, oh * stride_h, ow * stride_w);
}

std::uint64_t SlidingWindow::window_last(std::uint64_t o) const {
  return window_first(o) + static_cast<std::uint64_t>(window_h() - 1) * padded_w() +
         (window_w() - 1);
}

std::int64_t SlidingWindow::input_stick(std::uint64_t p) const {
  const std::uint64_t per_image = static_cast<std::uint64_t>(padded_h()) * padded_w();
  const std::uint64_t n = p / per_image;
  const std::uint64_t rem = p % per_image;
  const std::int64_t y = input_row(static_cast<std::int64_t>(rem / padded_w()) - pad_top);
  const std::int64_t x = input_col(static_cast<std::int64_t>(rem % padded_w()) - pad_left);
  if (y < 0 || x < 0) return -1;
  return static_cast<std::int64_t>((n * input_h + static_cast<std::uint64_t>(y)) * input_w +
                                   static_cast<std::uint64_t>(x));
}

void SlidingWindow::validate(const std::string& op) const {
  if (batch == 0 || input_h == 0 || input_w == 0) {
    throw Error(op + ": batch_size, input_height and input_width must be positive");
  }
  if (kernel_h == 0 || kernel_w == 0 || stride_h == 0 || stride_w == 0 || dilation_h == 0 ||
      dilation_w == 0) {
    throw Error(op + ": kernel_size, stride and dilation must be positive");
  }
  if (window_h() > padded_h() || window_w() > padded_w()) {
    throw Error(op + ": the " + std::to_string(window_h()) + "x" + std::to_string(window_w()) +
                " window (kernel " + std::to_string(kernel_h) + "x" + std::to_string(kernel_w) +
                ", dilation " + std::to_string(dilation_h) + "x" + std::to_string(dilation_w) +
                ") is larger than the padded input " + std::to_string(padded_h()) + "x" +
                std::to_string(padded_w()) +
                (transpose ? "; use less padding (a transposed conv's padding crops its output)"
                           : "; use a smaller kernel or more padding"));
  }
}

std::string SlidingWindow::attribute_string(std::uint32_t num_cores_nhw, std::uint32_t num_cores_c,
                                            const CoreRangeSet& grid) const {
  std::string grid_text = to_string(grid);
  std::replace(grid_text.begin(), grid_text.end(), ',', ';');
  auto pair = [](std::uint32_t a, std::uint32_t b) {
    return "(" + std::to_string(a) + ";" + std::to_string(b) + ")";
  };
  // A transposed window prints the transposed conv's own stride and padding, as tt-metal does.
  const std::uint32_t stride_y = transpose ? input_step_h : stride_h;
  const std::uint32_t stride_x = transpose ? input_step_w : stride_w;
  const std::uint32_t reach_h = dilation_h * (kernel_h - 1);
  const std::uint32_t reach_w = dilation_w * (kernel_w - 1);
  const std::uint32_t top = transpose ? reach_h - pad_top : pad_top;
  const std::uint32_t bottom = transpose ? reach_h + output_pad_h - pad_bottom : pad_bottom;
  const std::uint32_t left = transpose ? reach_w - pad_left : pad_left;
  const std::uint32_t right = transpose ? reach_w + output_pad_w - pad_right : pad_right;
  return "SlidingWindowConfig(batch_size=" + std::to_string(batch) +
         "; input_hw=" + pair(input_h, input_w) + "; window_hw=" + pair(kernel_h, kernel_w) +
         "; stride_hw=" + pair(stride_y, stride_x) + "; padding=((" + std::to_string(top) + "; " +
         std::to_string(bottom) + "); (" + std::to_string(left) + "; " + std::to_string(right) +
         ")); output_padding = (" + std::to_string(output_pad_h) + "; " +
         std::to_string(output_pad_w) + ")" + "; dilation_hw=" + pair(dilation_h, dilation_w) +
         "; num_cores_nhw=" + std::to_string(num_cores_nhw) +
         "; num_cores_c=" + std::to_string(num_cores_c) + "; core_range_set_=" + grid_text +
         "; is_transpose=" + (transpose ? "true" : "false") + ")";
}

SlidingWindow make_sliding_window(const std::string& op, std::uint32_t batch, std::uint32_t input_h,
                                  std::uint32_t input_w, const std::vector<std::int64_t>& kernel,
                                  const std::vector<std::int64_t>& stride,
                                  const std::vector<std::int64_t>& padding,
                                  const std::vector<std::int64_t>& dilation) {
  SlidingWindow w = parse_window(op, batch, input_h, input_w, kernel, stride, padding, dilation);
  w.validate(op);
  return w;
}

SlidingWindow make_transposed_window(const std::string& op, std::uint32_t batch,
                                     std::uint32_t input_h, std::uint32_t input_w,
                                     const std::vector<std::int64_t>& kernel,
                                     const std::vector<std::int64_t>& stride,
                                     const std::vector<std::int64_t>& padding,
                                     const std::vector<std::int64_t>& output_padding,
                                     const std::vector<std::int64_t>& dilation) {
  // The transposed conv's own stride and padding; the window itself has stride 1.
  const SlidingWindow given =
      parse_window(op, batch, input_h, input_w, kernel, stride, padding, dilation);
  const auto [out_pad_h, out_pad_w] = pair_param(op, "output_padding", output_padding, true);
  SlidingWindow w = given;
  w.stride_h = w.stride_w = 1;
  w.input_step_h = given.stride_h;
  w.input_step_w = given.stride_w;
  w.transpose = true;
  w.output_pad_h = out_pad_h;
  w.output_pad_w = out_pad_w;
  auto check = [&op](std::uint32_t pad_before, std::uint32_t pad_after, std::uint32_t reach,
                     std::uint32_t out_pad, std::uint32_t step, std::uint32_t dilation,
                     const char* axis) {
    if (std::max(pad_before, pad_after) > reach) {
      throw Error(op + ": " + axis + " padding " + std::to_string(std::max(pad_before, pad_after)) +
                  " is larger than dilation * (kernel - 1) = " + std::to_string(reach) +
                  "; a transposed conv that crops more than its kernel reaches is not supported, "
                  "slice the output instead");
    }
    if (out_pad >= std::max(step, dilation)) {
      throw Error(op + ": " + axis + " output_padding " + std::to_string(out_pad) +
                  " must be smaller than the stride or the dilation (PyTorch's rule)");
    }
  };
  const std::uint32_t reach_h = given.dilation_h * (given.kernel_h - 1);
  const std::uint32_t reach_w = given.dilation_w * (given.kernel_w - 1);
  check(given.pad_top, given.pad_bottom, reach_h, out_pad_h, given.stride_h, given.dilation_h,
        "height");
  check(given.pad_left, given.pad_right, reach_w, out_pad_w, given.stride_w, given.dilation_w,
        "width");
  w.pad_top = reach_h - given.pad_top;
  w.pad_bottom = reach_h - given.pad_bottom + out_pad_h;
  w.pad_left = reach_w - given.pad_left;
  w.pad_right = reach_w - given.pad_right + out_pad_w;
  w.validate(op);
  return w;
}

std::uint64_t NhwPartition::rows_of(std::size_t index_in_group) const {
  const std::uint64_t first = first_row(index_in_group);
  if (first >= output_sticks) return 0;
  return std::min(output_rows_per_core, output_sticks - first);
}

NhwPartition partition_nhw(const std::string& op, const TensorSpec& input,
                           std::uint64_t output_sticks, std::uint32_t channels, bool block_sharded,
                           bool tile_aligned, std::uint32_t grid_x, std::uint32_t grid_y,
                           const arch::DeviceSpec& device) {
  NhwPartition p;
  p.output_sticks = output_sticks;
  const MemoryConfig& memory = input.memory_config();
  const bool sharded_l1 = memory.is_l1() && memory.is_sharded();
  if (memory.is_sharded() && !sharded_l1) {
    throw Error(
        op + ": a DRAM-sharded input is not supported; give an L1-sharded or an interleaved input");
  }
  if (grid_x == 0 || grid_y == 0 || grid_x > device.worker_grid_x() ||
      grid_y > device.worker_grid_y()) {
    throw Error(op + ": grid " + std::to_string(grid_x) + "x" + std::to_string(grid_y) +
                " does not fit the " + std::to_string(device.worker_grid_x()) + "x" +
                std::to_string(device.worker_grid_y()) + " worker grid");
  }
  std::uint32_t gx = 1;
  if (block_sharded) {
    std::uint32_t gy = grid_y;
    gx = grid_x;
    if (sharded_l1) {
      if (memory.layout() != TensorMemoryLayout::BlockSharded) {
        throw Error(op + ": block sharding needs a BLOCK_SHARDED (or interleaved) input, got " +
                    std::string(to_string(memory.layout())) +
                    "; reshard the input or use shard_layout height");
      }
      const ShardSpec& shard = input.shard_spec();
      if (shard.orientation != ShardOrientation::RowMajor) {
        throw Error(
            op +
            ": a COL_MAJOR block-sharded input is not modelled; use ROW_MAJOR shard orientation");
      }
      const CoreRange box = shard.grid.bounding_box();
      gx = static_cast<std::uint32_t>(input.shards_along_width());
      gy = box.height();
      if (static_cast<std::uint64_t>(shard.width()) * gx != input.physical_width() ||
          input.physical_width() < channels) {
        throw Error(op + ": the block-sharded input's channel shards (" +
                    std::to_string(shard.width()) + " x " + std::to_string(gx) +
                    ") must split the " + std::to_string(input.physical_width()) +
                    " channels evenly over the grid columns");
      }
      for (std::uint32_t x = 0; x < gx; ++x) {
        std::vector<CoreCoord> column;
        for (std::uint32_t y = 0; y < gy; ++y)
          column.push_back(CoreCoord{box.start().x + x, box.start().y + y});
        p.groups.push_back(std::move(column));
      }
      p.channels_per_group = shard.width();
    } else {
      if (channels % gx != 0) {
        throw Error(op + ": block sharding over " + std::to_string(gx) +
                    " grid columns needs the " + std::to_string(channels) +
                    " channels to divide evenly; pick a grid width that divides them");
      }
      for (std::uint32_t x = 0; x < gx; ++x) {
        std::vector<CoreCoord> column;
        for (std::uint32_t y = 0; y < gy; ++y) column.push_back(CoreCoord{x, y});
        p.groups.push_back(std::move(column));
      }
      p.channels_per_group = channels / gx;
      if (input.layout() == Layout::Tile && p.channels_per_group % kTileWidth != 0) {
        throw Error(op + ": a TILE input block-sharded over " + std::to_string(gx) +
                    " columns needs " + std::to_string(kTileWidth) +
                    "-aligned channel slices, got " + std::to_string(p.channels_per_group));
      }
    }
  } else {
    std::vector<CoreCoord> cores;
    if (sharded_l1) {
      if (memory.layout() != TensorMemoryLayout::HeightSharded) {
        throw Error(op + ": height sharding needs a HEIGHT_SHARDED (or interleaved) input, got " +
                    std::string(to_string(memory.layout())) +
                    "; reshard the input or use shard_layout block");
      }
      cores = input.shard_spec().grid.cores(input.shard_spec().orientation);
    } else {
      const std::uint64_t tiles = std::max<std::uint64_t>(1, div_up(output_sticks, kTileHeight));
      const auto count = static_cast<std::uint32_t>(
          std::min<std::uint64_t>(tiles, static_cast<std::uint64_t>(grid_x) * grid_y));
      cores = num_cores_to_core_range_set(count, grid_x, grid_y).cores(ShardOrientation::RowMajor);
    }
    p.groups.push_back(std::move(cores));
    p.channels_per_group = sharded_l1 ? input.physical_width() : channels;
  }
  const std::uint64_t n = p.groups.front().size();
  std::uint64_t rows = div_up(output_sticks, n);
  if (tile_aligned) rows = div_up(rows, kTileHeight) * kTileHeight;
  p.output_rows_per_core = std::max<std::uint64_t>(rows, 1);
  return p;
}

std::uint64_t HaloPlan::total_moved_sticks() const {
  std::uint64_t total = 0;
  for (const HaloPiece& piece : pieces) total += piece.count;
  return total;
}

std::uint64_t HaloPlan::remote_sticks() const {
  std::uint64_t total = 0;
  for (const HaloPiece& piece : pieces) {
    if (piece.source != HaloPiece::kInterleaved && piece.source != piece.dest) total += piece.count;
  }
  return total;
}

HaloPlan plan_halo(
    const std::string& op, const TensorSpec& input, NhwPartition partition,
    const std::function<std::pair<std::uint64_t, std::uint64_t>(std::size_t, std::size_t)>& range,
    const StickMap& map) {
  HaloPlan plan(input);
  plan.partition = std::move(partition);
  const NhwPartition& part = plan.partition;
  plan.stick_type = is_block_float(input.data_type()) ? DataType::BFloat16 : input.data_type();
  plan.stick_bytes = part.channels_per_group * element_bytes(plan.stick_type);
  const MemoryConfig& memory = input.memory_config();
  plan.input_sharded = memory.is_l1() && memory.is_sharded();
  if (plan.input_sharded) plan.input_shard_rows = input.shard_spec().height();
  plan.input_slice_tiles = static_cast<std::uint32_t>(div_up(part.channels_per_group, kTileWidth));
  const std::size_t groups = part.groups.size();
  const std::size_t per_group = part.cores_per_group();
  plan.window_first.assign(groups, std::vector<std::uint64_t>(per_group, 0));
  plan.window_count.assign(groups, std::vector<std::uint64_t>(per_group, 0));
  plan.pad_runs.assign(groups, std::vector<std::vector<StickRun>>(per_group));
  plan.incoming.assign(groups, std::vector<std::uint64_t>(per_group, 0));
  for (std::size_t g = 0; g < groups; ++g) {
    for (std::size_t i = 0; i < per_group; ++i) {
      const auto [first, count] = range(g, i);
      plan.window_first[g][i] = first;
      plan.window_count[g][i] = count;
      plan.max_window_sticks = std::max(plan.max_window_sticks, count);
      HaloPiece run;
      StickRun pad;
      bool in_run = false;
      bool in_pad = false;
      auto close_run = [&] {
        if (in_run) plan.pieces.push_back(run);
        in_run = false;
      };
      auto close_pad = [&] {
        if (in_pad) plan.pad_runs[g][i].push_back(pad);
        in_pad = false;
      };
      for (std::uint64_t k = 0; k < count; ++k) {
        const std::int64_t stick = map(first + k);
        if (stick < 0) {
          close_run();
          if (!in_pad) pad = StickRun{k, 0};
          in_pad = true;
          ++pad.count;
          continue;
        }
        close_pad();
        const auto s = static_cast<std::uint64_t>(stick);
        std::size_t source = HaloPiece::kInterleaved;
        if (plan.input_sharded) {
          source = static_cast<std::size_t>(s / plan.input_shard_rows);
          if (source >= per_group) {
            throw Error(op + ": input stick " + std::to_string(s) + " lies in shard " +
                        std::to_string(source) + " but the op runs on " +
                        std::to_string(per_group) +
                        " cores per channel slice; shard the input over the op's cores");
          }
        }
        if (in_run && run.source == source && run.first_stick + run.count == s) {
          ++run.count;
          continue;
        }
        close_run();
        run = HaloPiece{g, source, i, s, 1, k};
        in_run = true;
      }
      close_run();
      close_pad();
    }
  }
  for (const HaloPiece& piece : plan.pieces) {
    if (plan.input_sharded) ++plan.incoming[piece.group][piece.dest];
  }
  for (std::size_t g = 0; g < groups; ++g) {
    for (std::size_t i = 0; i < per_group; ++i) plan.incoming[g][i] += plan.pad_runs[g][i].size();
  }
  return plan;
}

HaloPlan plan_window_halo(const std::string& op, const TensorSpec& input,
                          const SlidingWindow& window, NhwPartition partition) {
  const NhwPartition part = partition;  // the lambda needs it after the move
  return plan_halo(
      op, input, std::move(partition),
      [&part, &window](std::size_t, std::size_t i) -> std::pair<std::uint64_t, std::uint64_t> {
        const std::uint64_t rows = part.rows_of(i);
        if (rows == 0) return {0, 0};
        const std::uint64_t first = window.window_first(part.first_row(i));
        const std::uint64_t last = window.window_last(part.first_row(i) + rows - 1);
        return {first, last - first + 1};
      },
      [&window](std::uint64_t p) { return window.input_stick(p); });
}

}  // namespace wormsim::ops
