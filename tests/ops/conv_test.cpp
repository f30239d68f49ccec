// conv2d, halo, max/avg pool, global average pool and upsample: numerics against independent
// references, the halo's data movement, output-shape rules, timing bounds and bad parameters.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"
#include "ops/compute_config.hpp"
#include "ops/conv/conv2d.hpp"
#include "ops/conv/halo.hpp"
#include "ops/conv/pool2d.hpp"
#include "ops/isolated_run.hpp"
#include "ops/numerics/number_formats.hpp"
#include "ops/numerics/pcc.hpp"
#include "ops/op_registry.hpp"
#include "sim/error.hpp"

namespace wormsim::ops {
namespace {

const arch::DeviceSpec& n300() {
  static const arch::DeviceSpec spec = arch::load_device_spec_by_name("n300");
  return spec;
}

template <typename Body>
void expect_error(Body&& body, std::initializer_list<std::string> fragments) {
  try {
    body();
    ADD_FAILURE() << "expected wormsim::Error";
  } catch (const Error& error) {
    const std::string message = error.what();
    for (const std::string& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "'" << fragment << "' not in: " << message;
    }
  }
}

// [1, 1, rows, cols] sticks; memory "height:<cores>", "block:<x>x<y>", "dram" or "l1".
TensorSpec sticks(std::uint32_t rows, std::uint32_t cols, const std::string& memory,
                  Layout layout = Layout::RowMajor, DataType dtype = DataType::BFloat16) {
  const TensorSpec base(Shape({1, 1, rows, cols}), dtype, layout);
  if (memory == "dram") return base;
  if (memory == "l1") return base.with_memory_config(MemoryConfig::l1_interleaved());
  if (memory.rfind("height:", 0) == 0) {
    return base.with_memory_config(
        height_sharded(base, static_cast<std::uint32_t>(std::stoul(memory.substr(7))), n300()));
  }
  const auto x = memory.find('x');
  return base.with_memory_config(
      block_sharded(base, static_cast<std::uint32_t>(std::stoul(memory.substr(6, x - 6))),
                    static_cast<std::uint32_t>(std::stoul(memory.substr(x + 1)))));
}

TensorSpec tiled(std::vector<std::uint32_t> dims, DataType dtype = DataType::BFloat16) {
  return TensorSpec(Shape(std::move(dims)), dtype, Layout::Tile);
}

// Values exactly representable in every format involved (multiples of 1/8 up to `limit`), with
// golden == device values, so that exact ops can be checked bit for bit.
Tensor exact_tensor(const TensorSpec& spec, std::uint32_t seed, int limit = 16) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-limit, limit);
  auto values = std::make_shared<std::vector<float>>(spec.padded_shape().volume(), 0.0f);
  const auto p = spec.padded_shape().wzyx();
  const auto l = spec.logical_shape().wzyx();
  for (std::uint32_t w = 0; w < l[0]; ++w) {
    for (std::uint32_t z = 0; z < l[1]; ++z) {
      for (std::uint32_t y = 0; y < l[2]; ++y) {
        for (std::uint32_t x = 0; x < l[3]; ++x) {
          (*values)[((static_cast<std::size_t>(w) * p[1] + z) * p[2] + y) * p[3] + x] =
              static_cast<float>(dist(rng)) / 8.0f;
        }
      }
    }
  }
  return Tensor(spec, values, std::make_shared<std::vector<float>>(*values));
}

// Runs `op` on a fresh device with the given input tensors (their buffers allocated, so L1
// limits apply).
OpResult run_with(const Operation& op, const std::vector<Tensor>& inputs) {
  Device device(n300());
  std::vector<DeviceBuffer> buffers;
  std::vector<TensorSpec> specs;
  for (const Tensor& t : inputs) {
    specs.push_back(t.spec());
    buffers.push_back(device.allocate(0, t.spec(), "input"));
  }
  for (const TensorSpec& out : op.output_specs(specs, n300()))
    buffers.push_back(device.allocate(0, out, "output"));
  OpResult result = execute(device, op, inputs);
  for (const DeviceBuffer& b : buffers) device.free(b);
  return result;
}

SlidingWindow window(std::uint32_t n, std::uint32_t h, std::uint32_t w, std::uint32_t k,
                     std::uint32_t s, std::vector<std::int64_t> padding, std::uint32_t d = 1) {
  return make_sliding_window("test", n, h, w, {k, k}, {s, s}, padding, {d, d});
}

// ---- independent references -----------------------------------------------------------------

// PyTorch conv2d semantics, written from scratch: weight W[co][ci][ky][kx] of group g = co /
// (C_out / groups) is stored at row (ky*kw + kx)*C_in + g*(C_in/groups) + ci of the matrix.
std::vector<float> reference_conv(const SlidingWindow& w, const std::vector<float>& x,
                                  std::size_t x_width, std::uint32_t c_in,
                                  const std::vector<float>& weight, std::size_t w_width,
                                  std::uint32_t c_out, std::uint32_t groups,
                                  const std::vector<float>& bias, bool relu) {
  const std::uint32_t oh =
      (w.input_h + w.pad_top + w.pad_bottom - w.dilation_h * (w.kernel_h - 1) - 1) / w.stride_h + 1;
  const std::uint32_t ow =
      (w.input_w + w.pad_left + w.pad_right - w.dilation_w * (w.kernel_w - 1) - 1) / w.stride_w + 1;
  const std::uint32_t cig = c_in / groups;
  const std::uint32_t cog = c_out / groups;
  std::vector<float> out(static_cast<std::size_t>(w.batch) * oh * ow * c_out);
  for (std::uint32_t n = 0; n < w.batch; ++n) {
    for (std::uint32_t y = 0; y < oh; ++y) {
      for (std::uint32_t xo = 0; xo < ow; ++xo) {
        for (std::uint32_t co = 0; co < c_out; ++co) {
          const std::uint32_t g = co / cog;
          double acc = bias.empty() ? 0.0 : bias[co];
          for (std::uint32_t ci = 0; ci < cig; ++ci) {
            for (std::uint32_t ky = 0; ky < w.kernel_h; ++ky) {
              for (std::uint32_t kx = 0; kx < w.kernel_w; ++kx) {
                const int iy = static_cast<int>(y * w.stride_h + ky * w.dilation_h) -
                               static_cast<int>(w.pad_top);
                const int ix = static_cast<int>(xo * w.stride_w + kx * w.dilation_w) -
                               static_cast<int>(w.pad_left);
                if (iy < 0 || ix < 0 || iy >= static_cast<int>(w.input_h) ||
                    ix >= static_cast<int>(w.input_w))
                  continue;
                const std::size_t c = static_cast<std::size_t>(g) * cig + ci;
                const std::size_t stick =
                    (static_cast<std::size_t>(n) * w.input_h + iy) * w.input_w + ix;
                acc +=
                    static_cast<double>(x[stick * x_width + c]) *
                    weight[((static_cast<std::size_t>(ky) * w.kernel_w + kx) * c_in + c) * w_width +
                           co];
              }
            }
          }
          if (relu) acc = std::max(acc, 0.0);
          out[((static_cast<std::size_t>(n) * oh + y) * ow + xo) * c_out + co] =
              static_cast<float>(acc);
        }
      }
    }
  }
  return out;
}

// ---- sliding window geometry --------------------------------------------------------------

TEST(SlidingWindowTest, OutputShapeFollowsPyTorchFormula) {
  struct Case {
    std::uint32_t h, w, k, s, d;
    std::vector<std::int64_t> pad;
  };
  for (const Case& c : std::vector<Case>{{56, 56, 3, 1, 1, {1}},
                                         {56, 56, 3, 2, 1, {1}},
                                         {224, 224, 7, 2, 1, {3}},
                                         {17, 23, 3, 2, 2, {2, 1}},
                                         {256, 257, 3, 1, 1, {1, 1, 1, 0}},
                                         {9, 9, 1, 1, 1, {0}}}) {
    const SlidingWindow w = window(2, c.h, c.w, c.k, c.s, c.pad, c.d);
    const std::uint32_t pt = static_cast<std::uint32_t>(c.pad[0]);
    const std::uint32_t pb = static_cast<std::uint32_t>(c.pad.size() == 4 ? c.pad[1] : c.pad[0]);
    const std::uint32_t pl =
        static_cast<std::uint32_t>(c.pad.size() == 4 ? c.pad[2] : c.pad.back());
    const std::uint32_t pr =
        static_cast<std::uint32_t>(c.pad.size() == 4 ? c.pad[3] : c.pad.back());
    EXPECT_EQ(w.output_h(), (c.h + pt + pb - c.d * (c.k - 1) - 1) / c.s + 1);
    EXPECT_EQ(w.output_w(), (c.w + pl + pr - c.d * (c.k - 1) - 1) / c.s + 1);
    EXPECT_EQ(w.output_sticks(), 2ull * w.output_h() * w.output_w());
  }
  expect_error([] { window(1, 4, 4, 7, 1, {1}); }, {"window", "larger than the padded input"});
  expect_error(
      [] {
        make_sliding_window("conv2d", 1, 8, 8, {3, 3}, {0}, {0}, {1});
      },
      {"stride", "positive"});
  expect_error(
      [] {
        make_sliding_window("conv2d", 1, 8, 8, {3, 3}, {1}, {1, 2, 3}, {1});
      },
      {"padding"});
}

// TT-NN's halo sizes for two DeepLabV3 convolutions of a real profile (tt-perf-report
// tests/data/bh_p100_dlv3.csv, HaloDeviceOperation rows): in_nsticks_per_core 4767 and
// max_out_nsticks_per_core 7569 (512x1024 input, 3x3 stride 2 pad 1, 110 cores, 38-tile outputs);
// 1132 for a 256x257 input with padding ((1,1),(1,0)), 108 cores, 19-tile outputs.
TEST(SlidingWindowTest, HaloBufferSizesMatchSiliconProfile) {
  struct Case {
    SlidingWindow window;
    std::uint32_t channels, cores, rows_per_core;
    std::uint64_t expected_max;
  };
  const std::vector<Case> cases = {
      {window(1, 512, 1024, 3, 2, {1}), 8, 110, 38 * 32, 7569},
      {window(1, 256, 257, 3, 1, {1, 1, 1, 0}), 64, 108, 19 * 32, 1132},
  };
  for (const Case& c : cases) {
    const CoreRangeSet grid = num_cores_to_core_range_set(c.cores, 11, 10);
    const TensorSpec base(
        Shape({1, 1, static_cast<std::uint32_t>(c.window.input_sticks()), c.channels}),
        DataType::BFloat16, Layout::RowMajor);
    const TensorSpec input = base.with_memory_config(height_sharded(base, grid));
    NhwPartition part;
    part.groups = {grid.cores(ShardOrientation::RowMajor)};
    part.output_rows_per_core = c.rows_per_core;
    part.output_sticks = c.window.output_sticks();
    part.channels_per_group = c.channels;
    const HaloPlan plan = plan_window_halo("halo", input, c.window, part);
    EXPECT_EQ(plan.max_window_sticks, c.expected_max);
    if (c.cores == 110) {
      EXPECT_EQ(plan.input_shard_rows, 4767u);
    }
  }
}

// ---- halo ---------------------------------------------------------------------------------

struct HaloCase {
  std::string name;
  std::string memory;
  Layout layout;
};

class HaloTest : public ::testing::TestWithParam<HaloCase> {};

TEST_P(HaloTest, MovesExactlyTheNeededSticks) {
  const HaloCase& c = GetParam();
  HaloOptions options;
  options.window = window(2, 12, 12, 3, 1, {1});
  const std::uint32_t channels = 64;
  const TensorSpec input = sticks(288, channels, c.memory, c.layout);
  const HaloOp op(options);
  const Tensor x = exact_tensor(input, 3);
  const OpResult result = run_with(op, {x});
  const HaloPlan& plan = op.plan();
  const NhwPartition& part = plan.partition;
  const SlidingWindow& w = options.window;
  const std::vector<float>& in = x.values();
  const std::vector<float>& out = result.outputs.at(0).values();
  const std::size_t groups = part.groups.size();
  const std::size_t cg = part.channels_per_group;
  const std::size_t out_width = cg * groups;
  const std::uint32_t pw = w.input_w + 2;
  std::uint64_t remote = 0;
  std::uint64_t window_total = 0;
  for (std::size_t g = 0; g < groups; ++g) {
    for (std::size_t i = 0; i < part.cores_per_group(); ++i) {
      const std::uint64_t rows = part.rows_of(i);
      if (rows == 0) continue;
      // Independent: the padded sticks from the first output's window corner to the last one's.
      auto corner = [&](std::uint64_t o, std::uint32_t dy, std::uint32_t dx) {
        const std::uint64_t n = o / (w.output_h() * w.output_w());
        const std::uint64_t oy = (o / w.output_w()) % w.output_h();
        const std::uint64_t ox = o % w.output_w();
        return (n * (w.input_h + 2) + oy + dy) * pw + ox + dx;
      };
      const std::uint64_t first = corner(part.first_row(i), 0, 0);
      const std::uint64_t count = corner(part.first_row(i) + rows - 1, 2, 2) - first + 1;
      EXPECT_EQ(plan.window_count[g][i], count);
      window_total += count;
      for (std::uint64_t k = 0; k < count; ++k) {
        const std::uint64_t p = first + k;
        const std::uint64_t n = p / ((w.input_h + 2) * pw);
        const int y = static_cast<int>((p / pw) % (w.input_h + 2)) - 1;
        const int x = static_cast<int>(p % pw) - 1;
        const bool pad =
            y < 0 || x < 0 || y >= static_cast<int>(w.input_h) || x >= static_cast<int>(w.input_w);
        const std::uint64_t s = pad ? 0
                                    : (n * w.input_h + static_cast<std::uint64_t>(y)) * w.input_w +
                                          static_cast<std::uint64_t>(x);
        if (!pad && s / plan.input_shard_rows != i) ++remote;
        for (std::size_t ch = 0; ch < cg; ++ch) {
          const float expected = pad ? 0.0f : in[s * input.physical_width() + g * cg + ch];
          ASSERT_EQ(out[(i * plan.max_window_sticks + k) * out_width + g * cg + ch], expected)
              << c.name << " core " << i << " stick " << k;
        }
      }
    }
  }
  EXPECT_EQ(plan.remote_sticks(), remote);
  // Every window stick crosses the NoC exactly once (remote write, local copy or pad fill).
  EXPECT_EQ(result.record.timing.noc_bytes, window_total * plan.stick_bytes);
  EXPECT_EQ(result.record.op_code, "HaloDeviceOperation");
  EXPECT_GT(result.record.timing.kernel_duration(), 0u);
  // Lower bound: the largest buffer's sticks through one core's NIU at one link's bandwidth.
  EXPECT_GE(static_cast<double>(result.record.timing.kernel_duration()),
            static_cast<double>(plan.max_window_sticks * plan.stick_bytes) /
                n300().noc.link_bytes_per_cycle);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, HaloTest,
    ::testing::Values(HaloCase{"row_major_height", "height:8", Layout::RowMajor},
                      HaloCase{"tile_height", "height:8", Layout::Tile},
                      HaloCase{"row_major_block", "block:2x4", Layout::RowMajor}),
    [](const auto& info) { return info.param.name; });

TEST(HaloTest, NeedsAShardedInput) {
  HaloOptions options;
  options.window = window(1, 8, 8, 3, 1, {1});
  expect_error([&] { HaloOp(options).output_specs({sticks(64, 32, "dram")}, n300()); },
               {"halo", "HEIGHT_SHARDED"});
}

// ---- conv2d numerics ------------------------------------------------------------------------

struct ConvCase {
  std::string name;
  std::uint32_t n, h, w, c_in, c_out, k, s;
  std::vector<std::int64_t> padding;
  std::uint32_t dilation, groups;
  std::string memory;
  Layout layout;
  bool bias_relu;
};

class Conv2dNumericsTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dNumericsTest, MatchesDirectConvolution) {
  const ConvCase& c = GetParam();
  Conv2dOptions o;
  o.window = make_sliding_window("conv2d", c.n, c.h, c.w, {c.k, c.k}, {c.s, c.s}, c.padding,
                                 {c.dilation, c.dilation});
  o.groups = c.groups;
  o.shard_layout =
      c.memory.rfind("block", 0) == 0 ? ConvShardLayout::Block : ConvShardLayout::Height;
  if (c.bias_relu) o.activation = "relu";
  const Conv2dOp op(o);
  std::vector<TensorSpec> inputs = {sticks(c.n * c.h * c.w, c.c_in, c.memory, c.layout),
                                    tiled({1, 1, c.k * c.k * c.c_in, c.c_out})};
  if (c.bias_relu) inputs.push_back(tiled({1, 1, 1, c.c_out}));
  const OpResult r = run_isolated(n300(), op, inputs, {true, 11});
  std::vector<Tensor> t;
  for (std::size_t i = 0; i < inputs.size(); ++i) t.push_back(random_tensor(inputs[i], 11 + i));
  std::vector<float> bias;
  if (c.bias_relu) bias.assign(t[2].golden().begin(), t[2].golden().begin() + c.c_out);
  const std::vector<float> ref =
      reference_conv(o.window, t[0].golden(), inputs[0].physical_width(), c.c_in, t[1].golden(),
                     inputs[1].physical_width(), c.c_out, c.groups, bias, c.bias_relu);
  const Tensor& out = r.outputs.at(0);
  EXPECT_EQ(out.spec().logical_shape(),
            Shape({1, 1, static_cast<std::uint32_t>(o.window.output_sticks()), c.c_out}));
  const std::vector<float> device = out.logical_values();
  const std::vector<float> golden = out.logical_golden();
  const double pcc = numerics::pcc(ref, device);
  EXPECT_GE(pcc, 0.999) << c.name;
  EXPECT_LE(numerics::max_abs_error(ref, golden), 1e-4)
      << c.name << ": the op's golden is not the direct convolution";
  EXPECT_NEAR(*r.record.pcc, pcc, 1e-4);
  EXPECT_EQ(r.record.op_code, "OptimizedConvNew");
  EXPECT_EQ(r.record.flops,
            2ull * o.window.output_sticks() * c.c_out * c.k * c.k * (c.c_in / c.groups));
}

INSTANTIATE_TEST_SUITE_P(
    Configs, Conv2dNumericsTest,
    ::testing::Values(
        ConvCase{"k3_s1_p1_height",
                 1,
                 16,
                 16,
                 32,
                 64,
                 3,
                 1,
                 {1},
                 1,
                 1,
                 "height:8",
                 Layout::RowMajor,
                 false},
        ConvCase{
            "k3_s2_p1", 2, 15, 15, 32, 32, 3, 2, {1}, 1, 1, "height:8", Layout::RowMajor, false},
        ConvCase{"asymmetric_padding",
                 1,
                 12,
                 13,
                 32,
                 32,
                 3,
                 1,
                 {1, 1, 1, 0},
                 1,
                 1,
                 "height:4",
                 Layout::RowMajor,
                 false},
        ConvCase{
            "dilation2", 1, 16, 16, 32, 32, 3, 1, {2}, 2, 1, "height:8", Layout::RowMajor, false},
        ConvCase{
            "depthwise", 1, 16, 16, 32, 32, 3, 1, {1}, 1, 32, "height:8", Layout::RowMajor, false},
        ConvCase{
            "grouped4", 1, 12, 12, 64, 64, 3, 1, {1}, 1, 4, "height:8", Layout::RowMajor, false},
        ConvCase{
            "block_2x2", 1, 16, 16, 64, 64, 3, 1, {1}, 1, 1, "block:2x2", Layout::RowMajor, false},
        ConvCase{"dram_input", 1, 14, 14, 16, 32, 3, 1, {1}, 1, 1, "dram", Layout::RowMajor, false},
        ConvCase{"tile_input", 1, 16, 16, 32, 32, 3, 1, {1}, 1, 1, "height:8", Layout::Tile, false},
        ConvCase{"pointwise", 2, 8, 8, 64, 96, 1, 1, {0}, 1, 1, "height:4", Layout::RowMajor, true},
        ConvCase{"stem_k7_s2_p3",
                 1,
                 32,
                 32,
                 3,
                 32,
                 7,
                 2,
                 {3},
                 1,
                 1,
                 "height:8",
                 Layout::RowMajor,
                 true}),
    [](const auto& info) { return info.param.name; });

// ---- conv_transpose2d -----------------------------------------------------------------------

// PyTorch ConvTranspose2d semantics, written from scratch as a scatter: input pixel (y, x) adds
// x * W[ci][co][ky][kx] to output (y*sh - ph + ky*d, x*sw - pw + kx*d). The prepared matrix holds
// the flipped kernel: W[ci][co][ky][kx] sits at row ((kh-1-ky)*kw + (kw-1-kx))*C_in + ci.
struct TransposedGeometry {
  std::uint32_t n, h, w, k, sh, sw, ph, pw, oph, opw, d;
  std::uint32_t out_h() const { return (h - 1) * sh - 2 * ph + d * (k - 1) + oph + 1; }
  std::uint32_t out_w() const { return (w - 1) * sw - 2 * pw + d * (k - 1) + opw + 1; }
};

std::vector<float> reference_conv_transpose(const TransposedGeometry& g,
                                            const std::vector<float>& x, std::size_t x_width,
                                            std::uint32_t c_in, const std::vector<float>& weight,
                                            std::size_t w_width, std::uint32_t c_out) {
  const std::uint32_t oh = g.out_h();
  const std::uint32_t ow = g.out_w();
  const std::uint32_t k = g.k;
  std::vector<double> acc(static_cast<std::size_t>(g.n) * oh * ow * c_out, 0.0);
  for (std::uint32_t b = 0; b < g.n; ++b) {
    for (std::uint32_t y = 0; y < g.h; ++y) {
      for (std::uint32_t xi = 0; xi < g.w; ++xi) {
        for (std::uint32_t ky = 0; ky < k; ++ky) {
          for (std::uint32_t kx = 0; kx < k; ++kx) {
            const int oy = static_cast<int>(y * g.sh + ky * g.d) - static_cast<int>(g.ph);
            const int ox = static_cast<int>(xi * g.sw + kx * g.d) - static_cast<int>(g.pw);
            if (oy < 0 || ox < 0 || oy >= static_cast<int>(oh) || ox >= static_cast<int>(ow))
              continue;
            const std::size_t row = ((k - 1 - ky) * k + (k - 1 - kx)) * c_in;
            const std::size_t in_stick = (static_cast<std::size_t>(b) * g.h + y) * g.w + xi;
            const std::size_t out_stick = (static_cast<std::size_t>(b) * oh + oy) * ow + ox;
            for (std::uint32_t ci = 0; ci < c_in; ++ci) {
              const double v = x[in_stick * x_width + ci];
              for (std::uint32_t co = 0; co < c_out; ++co)
                acc[out_stick * c_out + co] += v * weight[(row + ci) * w_width + co];
            }
          }
        }
      }
    }
  }
  return std::vector<float>(acc.begin(), acc.end());
}

TEST(SlidingWindowTest, TransposedWindowSpreadsTheInput) {
  // 3x3 input, stride 2, kernel 3, padding 1, output_padding 1: a 6x6 output.
  const SlidingWindow w =
      make_transposed_window("conv_transpose2d", 1, 3, 3, {3, 3}, {2, 2}, {1}, {1}, {1, 1});
  EXPECT_EQ(w.output_h(), 6u);
  EXPECT_EQ(w.output_w(), 6u);
  EXPECT_EQ(w.stride_h, 1u);
  EXPECT_EQ(w.spread_h(), 5u);
  EXPECT_EQ(w.padded_h(), 8u);  // 1 row above, 2 below (1 + output_padding)
  // Window row 1 is input row 0, row 2 an inserted zero, row 3 input row 1.
  EXPECT_EQ(w.input_stick(w.padded_index(0, 1, 1)), 0);
  EXPECT_EQ(w.input_stick(w.padded_index(0, 1, 2)), -1);
  EXPECT_EQ(w.input_stick(w.padded_index(0, 3, 5)), 5);   // input (1, 2)
  EXPECT_EQ(w.input_stick(w.padded_index(0, 0, 1)), -1);  // padding
  EXPECT_EQ(w.input_stick(w.padded_index(0, 6, 1)), -1);  // output_padding row
  // PyTorch's output size for the DPT reassemble x4: 24 -> 96.
  const SlidingWindow x4 =
      make_transposed_window("conv_transpose2d", 1, 24, 24, {4, 4}, {4, 4}, {0}, {0}, {1, 1});
  EXPECT_EQ(x4.output_h(), 96u);
  EXPECT_EQ(x4.output_sticks(), 96u * 96u);
  EXPECT_NE(x4.attribute_string(64, 1, CoreRangeSet{})
                .find("stride_hw=(4;4); padding=((0; 0); (0; 0)); output_padding = (0; 0)"),
            std::string::npos);
  EXPECT_NE(x4.attribute_string(64, 1, CoreRangeSet{}).find("is_transpose=true"),
            std::string::npos);
  expect_error(
      [] {
        make_transposed_window("conv_transpose2d", 1, 8, 8, {3, 3}, {2, 2}, {3}, {0}, {1, 1});
      },
      {"conv_transpose2d", "padding 3", "dilation * (kernel - 1) = 2"});
  expect_error(
      [] {
        make_transposed_window("conv_transpose2d", 1, 8, 8, {3, 3}, {2, 2}, {1}, {2}, {1, 1});
      },
      {"output_padding 2", "smaller than the stride or the dilation"});
  // The op's own checks name it, not conv2d.
  expect_error(
      [] {
        const std::vector<TensorSpec> inputs = {sticks(64, 32, "dram"), tiled({1, 1, 9 * 16, 32})};
        make_operation("conv_transpose2d",
                       {{"batch_size", 1},
                        {"input_height", 8},
                        {"input_width", 8},
                        {"kernel_size", {3, 3}},
                        {"stride", {2, 2}}},
                       inputs, n300())
            ->output_specs(inputs, n300());
      },
      {"conv_transpose2d: weight"});
}

struct TransposedCase {
  std::string name;
  TransposedGeometry g;
  std::uint32_t c_in, c_out;
  std::string memory;
};

class ConvTranspose2dNumericsTest : public ::testing::TestWithParam<TransposedCase> {};

TEST_P(ConvTranspose2dNumericsTest, MatchesTheScatterDefinition) {
  const TransposedCase& c = GetParam();
  const TransposedGeometry& g = c.g;
  nlohmann::json params{{"batch_size", g.n},
                        {"input_height", g.h},
                        {"input_width", g.w},
                        {"kernel_size", {g.k, g.k}},
                        {"stride", {g.sh, g.sw}},
                        {"padding", {g.ph, g.pw}},
                        {"output_padding", {g.oph, g.opw}},
                        {"dilation", {g.d, g.d}},
                        {"in_channels", c.c_in},
                        {"out_channels", c.c_out},
                        {"math_fidelity", "HiFi4"}};
  if (c.memory.rfind("block", 0) == 0) params["shard_layout"] = "block";
  std::vector<TensorSpec> inputs = {sticks(g.n * g.h * g.w, c.c_in, c.memory),
                                    tiled({1, 1, g.k * g.k * c.c_in, c.c_out})};
  const auto op = make_operation("conv_transpose2d", params, inputs, n300());
  const OpResult r = run_isolated(n300(), *op, inputs, {true, 21});
  std::vector<Tensor> t;
  for (std::size_t i = 0; i < inputs.size(); ++i) t.push_back(random_tensor(inputs[i], 21 + i));
  const std::vector<float> ref =
      reference_conv_transpose(g, t[0].golden(), inputs[0].physical_width(), c.c_in, t[1].golden(),
                               inputs[1].physical_width(), c.c_out);
  const Tensor& out = r.outputs.at(0);
  EXPECT_EQ(out.spec().logical_shape(), Shape({1, 1, g.n * g.out_h() * g.out_w(), c.c_out}));
  const std::vector<float> device = out.logical_values();
  EXPECT_GE(numerics::pcc(ref, device), 0.999) << c.name;
  EXPECT_LE(numerics::max_abs_error(ref, out.logical_golden()), 1e-4)
      << c.name << ": the op's golden is not the transposed convolution";
  EXPECT_EQ(r.record.op_code, "OptimizedConvNew");
  EXPECT_NE(r.record.attributes.find("is_transpose=true"), std::string::npos);
  // The device multiplies the inserted zeros too: a full k x k window per output pixel.
  EXPECT_EQ(r.record.flops, 2ull * g.n * g.out_h() * g.out_w() * c.c_out * g.k * g.k * c.c_in);
}

INSTANTIATE_TEST_SUITE_P(
    Configs, ConvTranspose2dNumericsTest,
    ::testing::Values(
        TransposedCase{"dpt_x4", {1, 6, 6, 4, 4, 4, 0, 0, 0, 0, 1}, 32, 32, "dram"},
        TransposedCase{"x2_batch2", {2, 5, 4, 2, 2, 2, 0, 0, 0, 0, 1}, 32, 64, "dram"},
        TransposedCase{"k3_s2_p1_out_pad1", {1, 7, 5, 3, 2, 2, 1, 1, 1, 1, 1}, 16, 32, "dram"},
        TransposedCase{"k3_s1_p1_height", {1, 16, 16, 3, 1, 1, 1, 1, 0, 0, 1}, 32, 32, "height:8"},
        TransposedCase{"s2_height_sharded", {1, 8, 8, 3, 2, 2, 1, 1, 1, 1, 1}, 32, 32, "height:4"},
        TransposedCase{"s2_block_2x2", {1, 8, 8, 2, 2, 2, 0, 0, 0, 0, 1}, 64, 64, "block:2x2"},
        TransposedCase{"uneven_stride_padding", {1, 5, 7, 3, 3, 2, 2, 0, 1, 1, 1}, 16, 16, "dram"},
        TransposedCase{"dilation2", {1, 6, 6, 3, 2, 2, 2, 2, 1, 1, 2}, 16, 16, "dram"}),
    [](const auto& info) { return info.param.name; });

// Measured thresholds (bf16 activations, 3x3 conv 64->64 on 32x32): the FPU's fidelity and the
// weight format show in the PCC, in the expected order.
TEST(Conv2dTest, FidelityAndWeightFormatThresholds) {
  struct Case {
    DataType weights;
    arch::MathFidelity fidelity;
    double min_pcc;
  };
  auto pcc_of = [](const Case& c) {
    Conv2dOptions o;
    o.window = window(1, 32, 32, 3, 1, {1});
    o.compute.math_fidelity = c.fidelity;
    const OpResult r =
        run_isolated(n300(), Conv2dOp(o),
                     {sticks(1024, 64, "height:16"), tiled({1, 1, 576, 64}, c.weights)}, {true, 5});
    return *r.record.pcc;
  };
  // Measured (seeds 5-7): bf16 HiFi4 0.99995, bf16 LoFi 0.99989, bfp8 LoFi 0.99989, bfp4 LoFi
  // 0.99739.
  const std::vector<Case> cases = {{DataType::BFloat16, arch::MathFidelity::HiFi4, 0.9999},
                                   {DataType::BFloat16, arch::MathFidelity::LoFi, 0.9998},
                                   {DataType::BFloat8_B, arch::MathFidelity::LoFi, 0.9998},
                                   {DataType::BFloat4_B, arch::MathFidelity::LoFi, 0.996}};
  std::vector<double> pccs;
  for (const Case& c : cases) {
    pccs.push_back(pcc_of(c));
    EXPECT_GE(pccs.back(), c.min_pcc) << to_string(c.weights) << " " << to_string(c.fidelity);
  }
  EXPECT_GT(pccs[0], pccs[1]);  // LoFi loses mantissa bits
  EXPECT_GT(pccs[2], pccs[3]);  // bfp4 weights lose more than bfp8
}

// ---- conv2d output specs, timing, errors ----------------------------------------------------

TEST(Conv2dTest, OutputSpecFollowsTtnnShardingRules) {
  Conv2dOptions o;
  o.window = window(1, 56, 56, 3, 2, {1});
  const Conv2dOp op(o);
  const TensorSpec input = sticks(3136, 64, "height:64");
  const auto out = op.output_specs({input, tiled({1, 1, 576, 128})}, n300()).at(0);
  EXPECT_EQ(out.logical_shape(), Shape({1, 1, 784, 128}));
  EXPECT_EQ(out.layout(), Layout::Tile);
  EXPECT_EQ(out.memory_config().layout(), TensorMemoryLayout::HeightSharded);
  EXPECT_EQ(out.shard_spec().grid, input.shard_spec().grid);
  // 784 outputs over 64 cores: ceil(784 / 64) = 13 rows, one whole tile per core.
  EXPECT_EQ(out.shard_spec().height(), 32u);
  EXPECT_EQ(op.plan().per_core_M, 1u);
  EXPECT_EQ(op.plan().per_core_N, 4u);
  // One K block per kernel row: kw * C_in = 192 values = 6 tiles (TT-NN's act_block_w_ntiles).
  EXPECT_EQ(op.plan().in0_block_w, 6u);
  EXPECT_EQ(op.plan().num_k_blocks(), 3u);
  const std::string attributes = op.attributes();
  for (const char* fragment :
       {"per_core_out_matrix_height_ntile=1", "act_block_w_ntiles=6", "num_cores_nhw=64",
        "window_hw=(3;3)", "stride_hw=(2;2)", "'output_channels': '128'"}) {
    EXPECT_NE(attributes.find(fragment), std::string::npos) << fragment << " not in " << attributes;
  }
  o.output_in_dram = true;
  const auto dram = Conv2dOp(o).output_specs({input, tiled({1, 1, 576, 128})}, n300()).at(0);
  EXPECT_TRUE(dram.memory_config().is_dram());
  EXPECT_FALSE(dram.is_sharded());
}

TEST(Conv2dTest, KernelTimeIsBoundedByIdealMatmulAndDram) {
  for (const arch::MathFidelity fidelity : {arch::MathFidelity::LoFi, arch::MathFidelity::HiFi4}) {
    Conv2dOptions o;
    o.window = window(1, 56, 56, 3, 1, {1});
    o.compute.math_fidelity = fidelity;
    const Conv2dOp op(o);
    const std::vector<TensorSpec> inputs = {sticks(3136, 128, "height:49"),
                                            tiled({1, 1, 1152, 128}, DataType::BFloat8_B)};
    const OpResult r = run_isolated(n300(), op, inputs, {false, 0});
    const double duration = static_cast<double>(r.record.timing.kernel_duration());
    const double ideal = static_cast<double>(op.tile_products()) *
                         n300().compute.matmul_tile_cycles[static_cast<int>(fidelity)] /
                         op.compute_cores();
    const double dram = static_cast<double>(inputs[1].total_bytes()) /
                        (n300().dram.bank_achievable_bytes_per_cycle *
                         static_cast<double>(n300().dram.banks.size()));
    EXPECT_GE(duration, ideal) << to_string(fidelity);
    EXPECT_GE(duration, dram);
    // Halo, im2col gathers, tilize, packing and the weight multicast add to the math but stay
    // within a small factor of it for this compute-heavy layer (measured 3.9x LoFi, 1.7x HiFi4).
    EXPECT_LE(duration, 5.0 * ideal) << to_string(fidelity) << " ideal " << ideal;
    EXPECT_EQ(r.record.timing.core_count, 49u);
  }
}

TEST(Conv2dTest, PointwiseConvOnItsOwnShardRunsAsAMatmul) {
  // tt-metal runs a 1x1, stride-1, unpadded conv as a matmul (use_matmul_for_1x1_conv): a TILE
  // input sharded as the conv's rows is the matmul's in0 as it is. So no halo, no act reads on
  // NCRISC and no tilize; the same conv on a ROW_MAJOR input (or with stride 2) takes the conv
  // path.
  Conv2dOptions o;
  o.window = window(4, 28, 28, 1, 1, {0});
  const TensorSpec weight = tiled({1, 1, 128, 256});
  auto run = [&](const Conv2dOptions& options, const TensorSpec& input, bool numerics) {
    const Conv2dOp op(options);
    OpResult r = run_isolated(n300(), op, {input, weight}, {numerics, 0});
    return std::make_pair(op.plan().act_in_place, r);
  };
  const TensorSpec tile_input = sticks(3136, 128, "height:49", Layout::Tile);
  const TensorSpec row_major_input = sticks(3136, 128, "height:49");
  const auto [in_place, matmul] = run(o, tile_input, false);
  const auto [conv_path, conv] = run(o, row_major_input, false);
  EXPECT_TRUE(in_place);
  EXPECT_FALSE(conv_path);
  const auto ncrisc = static_cast<std::size_t>(Risc::Ncrisc);
  EXPECT_EQ(matmul.record.timing.risc_duration[ncrisc], 0u);  // nothing to gather
  EXPECT_GT(conv.record.timing.risc_duration[ncrisc], 0u);
  // Only the weights (and the multicast of them) move: less than a tenth of the conv path's NoC
  // traffic, which gathers every act value through the NoC.
  EXPECT_LT(matmul.record.timing.noc_bytes * 10, conv.record.timing.noc_bytes);
  // No tilize: less compute. Here both paths wait for the weights from DRAM, and the conv path
  // tilizes before it waits for them, so the kernel times may be equal.
  EXPECT_LT(matmul.record.timing.compute_busy_cycles, conv.record.timing.compute_busy_cycles);
  EXPECT_LE(matmul.record.timing.kernel_duration(), conv.record.timing.kernel_duration());
  // Not a matmul in tt-metal: stride 2 or padding.
  Conv2dOptions strided = o;
  strided.window = window(4, 28, 28, 1, 2, {0});
  EXPECT_FALSE(run(strided, tile_input, false).first);
  Conv2dOptions padded = o;
  padded.window = window(4, 28, 28, 1, 1, {1});
  EXPECT_FALSE(run(padded, tile_input, false).first);
}

// A LoFi 3x3 conv of `options`' shape run timing-only: its plan and its timing.
std::pair<ConvPlan, ProgramTiming> run_lofi_3x3(Conv2dOptions options,
                                                const std::vector<TensorSpec>& inputs,
                                                const arch::DeviceSpec& spec = n300()) {
  options.compute.math_fidelity = arch::MathFidelity::LoFi;
  const Conv2dOp op(options);
  const OpResult r = run_isolated(spec, op, inputs, {false, 0});
  return {op.plan(), r.record.timing};
}

TEST(Conv2dTest, GatheredActIsTilizedIntoTheOutputFormat) {
  // tt-metal tilizes the gathered row-major act block into the conv's output format
  // (tilized_act_df), so a bfloat8_b conv streams bfloat8_b act tiles through the matmul: a
  // cheaper tilize (the spec's measured table) and half the unpack of in0. The same conv with a
  // bfloat16 output keeps bfloat16 act tiles.
  Conv2dOptions o;
  o.window = window(1, 56, 56, 3, 1, {1});
  const std::vector<TensorSpec> inputs = {sticks(3136, 128, "height:49"),
                                          tiled({1, 1, 1152, 128}, DataType::BFloat8_B)};
  auto run = [&](DataType out) {
    o.output_dtype = out;
    const auto [plan, timing] = run_lofi_3x3(o, inputs);
    EXPECT_EQ(plan.act_type, out);
    return timing;
  };
  const ProgramTiming bf16 = run(DataType::BFloat16);
  const ProgramTiming bf8 = run(DataType::BFloat8_B);
  EXPECT_LT(bf8.compute_busy_cycles, bf16.compute_busy_cycles);
  EXPECT_LT(bf8.kernel_duration(), bf16.kernel_duration());
  // The tilize is charged from the table: each core (49) tilizes 72 act tiles (2 tile rows x
  // 12 tiles of a kernel row x 3 kernel rows), so 100 more cycles in the bfloat16 -> bfloat8_b
  // entry add exactly 49 x 72 x 100 busy cycles.
  arch::DeviceSpec slower = n300();
  slower.compute.tilize_tile_cycles.at("BFloat16").at("BFloat8_B")[0] += 100;
  o.output_dtype = DataType::BFloat8_B;
  const ProgramTiming bf8_slower = run_lofi_3x3(o, inputs, slower).second;
  EXPECT_EQ(bf8_slower.compute_busy_cycles - bf8.compute_busy_cycles, 49u * 72u * 100u);
}

TEST(Conv2dTest, SplitReaderSharesTheActGatherWithTheWeightsRisc) {
  // tt-metal's split reader: when half the act reads plus the longer of weights and tilize beat
  // the serial path, BRISC gathers the second half of every act block's rows before its weight
  // block. Here (98 rows a core, 64 channels, small weights) the rule turns it on; forced off
  // (TT-NN's force_split_reader) at the same act block height, NCRISC gathers every row alone;
  // with one-tile act blocks there is nothing to split.
  Conv2dOptions o;
  o.window = window(2, 56, 56, 3, 1, {1});
  const std::vector<TensorSpec> inputs = {sticks(6272, 64, "height:64"),
                                          tiled({1, 1, 576, 64}, DataType::BFloat8_B)};
  auto run = [&](std::optional<bool> force, std::uint32_t act_block_h) {
    o.force_split_reader = force;
    o.act_block_h_ntiles = act_block_h;
    const auto [plan, timing] = run_lofi_3x3(o, inputs);
    return std::make_pair(plan.split_reader, timing);
  };
  const auto [split, with_split] = run(std::nullopt, 0);
  const auto [one_reader, without] = run(false, 0);
  EXPECT_TRUE(split);
  EXPECT_FALSE(one_reader);
  EXPECT_FALSE(run(true, 1).first) << "a one-tile act block cannot be split";
  const auto brisc = static_cast<std::size_t>(Risc::Brisc);
  const auto ncrisc = static_cast<std::size_t>(Risc::Ncrisc);
  const double share_split = static_cast<double>(with_split.risc_duration[brisc]) /
                             static_cast<double>(with_split.risc_duration[ncrisc]);
  const double share_alone = static_cast<double>(without.risc_duration[brisc]) /
                             static_cast<double>(without.risc_duration[ncrisc]);
  EXPECT_GT(share_split, 0.8) << "BRISC should read about as long as NCRISC";
  EXPECT_LT(share_alone, 0.5) << "BRISC only reads the weights";
  EXPECT_LT(with_split.risc_duration[ncrisc], without.risc_duration[ncrisc]);
  EXPECT_LT(with_split.kernel_duration(), without.kernel_duration());
}

TEST(Conv2dTest, BlockShardedPointwiseConvMulticastsItsShards) {
  // Block sharded, the matmul path multicasts each core's channel slice of the act straight from
  // its input shard along the grid row (no gather into a row-major buffer, no tilize).
  Conv2dOptions o;
  o.window = window(4, 32, 24, 1, 1, {0});  // 3072 rows: 768 (24 tiles) per grid row
  o.shard_layout = ConvShardLayout::Block;
  const TensorSpec weight = tiled({1, 1, 128, 256});
  auto run = [&](const TensorSpec& input) {
    const Conv2dOp op(o);
    OpResult r = run_isolated(n300(), op, {input, weight}, {false, 0});
    return std::make_pair(op.plan().act_in_place, r);
  };
  const auto [in_place, matmul] = run(sticks(3072, 128, "block:4x4", Layout::Tile));
  const auto [conv_path, conv] = run(sticks(3072, 128, "block:4x4"));
  EXPECT_TRUE(in_place);
  EXPECT_FALSE(conv_path);
  EXPECT_LT(matmul.record.timing.noc_bytes, conv.record.timing.noc_bytes);
  EXPECT_LT(matmul.record.timing.kernel_duration(), conv.record.timing.kernel_duration());
  EXPECT_EQ(matmul.record.timing.core_count, 16u);
}

TEST(Conv2dTest, HigherFidelityTakesLonger) {
  auto duration = [](arch::MathFidelity fidelity) {
    Conv2dOptions o;
    o.window = window(1, 28, 28, 3, 1, {1});
    o.compute.math_fidelity = fidelity;
    return run_isolated(n300(), Conv2dOp(o),
                        {sticks(784, 256, "height:25"), tiled({1, 1, 2304, 256})}, {false, 0})
        .record.timing.kernel_duration();
  };
  EXPECT_LT(duration(arch::MathFidelity::LoFi), duration(arch::MathFidelity::HiFi4));
}

TEST(Conv2dTest, RejectsBadParameters) {
  const TensorSpec input = sticks(256, 32, "height:8");
  Conv2dOptions o;
  o.window = window(1, 16, 16, 3, 1, {1});
  expect_error(
      [&] {
        Conv2dOp(o).output_specs({input, tiled({1, 1, 9 * 16, 64})}, n300());
      },
      {"conv2d", "weight", "kh*kw*in_channels", "channels mismatch"});
  o.in_channels = 16;
  expect_error(
      [&] {
        Conv2dOp(o).output_specs({input, tiled({1, 1, 9 * 32, 64})}, n300());
      },
      {"in_channels=16", "32 channels"});
  o.in_channels = 0;
  o.groups = 3;
  expect_error(
      [&] {
        Conv2dOp(o).output_specs({input, tiled({1, 1, 9 * 32, 64})}, n300());
      },
      {"groups=3", "must divide in_channels=32"});
  o.groups = 1;
  expect_error(
      [&] {
        Conv2dOp(o).output_specs({input, tiled({1, 1, 288, 64}), tiled({1, 1, 1, 32})}, n300());
      },
      {"bias", "[1, 1, 1, 64]"});
  expect_error(
      [&] {
        Conv2dOp(o).output_specs({sticks(100, 32, "dram"), tiled({1, 1, 288, 64})}, n300());
      },
      {"N*H*W", "256"});
  expect_error(
      [&] {
        make_operation("conv2d",
                       nlohmann::json{{"batch_size", 1},
                                      {"input_height", 4},
                                      {"input_width", 4},
                                      {"kernel_size", {7, 7}}},
                       {sticks(16, 32, "dram"), tiled({1, 1, 49 * 32, 32})}, n300());
      },
      {"conv2d", "larger than the padded input"});
  expect_error(
      [&] {
        make_operation(
            "conv2d",
            nlohmann::json{{"batch_size", 1}, {"input_width", 16}, {"kernel_size", {3, 3}}},
            {input, tiled({1, 1, 288, 32})}, n300());
      },
      {"input_height", "required"});
  o.shard_layout = ConvShardLayout::Block;
  expect_error(
      [&] {
        Conv2dOp(o).output_specs({input, tiled({1, 1, 288, 64})}, n300());
      },
      {"block sharding needs a BLOCK_SHARDED"});
  o.activation = "no_such_op";
  o.shard_layout = ConvShardLayout::Height;
  expect_error(
      [&] {
        Conv2dOp(o).output_specs({input, tiled({1, 1, 288, 64})}, n300());
      },
      {"no_such_op"});
}

TEST(Conv2dTest, CliRunsTheExampleJsons) {
  // conv2d_example.json: a 3x3 conv; conv2d_pointwise_example.json: a ResNet-50 layer1 1x1 conv
  // on its height-sharded TILE input (the matmul path, docs/accuracy.md);
  // conv2d_block_sharded_3x3.json: a block-sharded 3x3 conv (docs/accuracy.md).
  const std::pair<const char*, nlohmann::json> examples[] = {
      {"conv2d_example.json", {1, 1, 3136, 64}},
      {"conv2d_pointwise_example.json", {1, 1, 50176, 256}},
      {"conv2d_block_sharded_3x3.json", {1, 1, 784, 256}}};
  for (const auto& [file, shape] : examples) {
    const std::string command = std::string(WORMSIM_BINARY) + " op --json " +
                                WORMSIM_TEST_DATA_DIR + "/ops/" + file + " --format json";
    FILE* pipe = popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string output;
    char buffer[4096];
    while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
    ASSERT_EQ(pclose(pipe), 0) << file << ": " << output;
    const nlohmann::json result = nlohmann::json::parse(output);
    EXPECT_EQ(result["op_code"], "OptimizedConvNew") << file;
    EXPECT_GE(result["pcc"].get<double>(), 0.999) << file;
    EXPECT_GT(result["device_kernel_duration_ns"].get<double>(),
              result["pm_compute_ns"].get<double>())
        << file;
    EXPECT_EQ(result["outputs"][0]["shape"], shape) << file;
  }
}

// ---- pools ----------------------------------------------------------------------------------

std::vector<float> reference_pool(const SlidingWindow& w, const std::vector<float>& x,
                                  std::size_t width, std::uint32_t c, bool max, bool include_pad) {
  std::vector<float> out(w.output_sticks() * c);
  for (std::uint64_t o = 0; o < w.output_sticks(); ++o) {
    const std::uint64_t n = o / (w.output_h() * w.output_w());
    const int oy = static_cast<int>((o / w.output_w()) % w.output_h());
    const int ox = static_cast<int>(o % w.output_w());
    for (std::uint32_t ch = 0; ch < c; ++ch) {
      double acc = max ? -INFINITY : 0.0;
      int valid = 0;
      for (std::uint32_t ky = 0; ky < w.kernel_h; ++ky) {
        for (std::uint32_t kx = 0; kx < w.kernel_w; ++kx) {
          const int y = oy * static_cast<int>(w.stride_h) + static_cast<int>(ky) -
                        static_cast<int>(w.pad_top);
          const int x0 = ox * static_cast<int>(w.stride_w) + static_cast<int>(kx) -
                         static_cast<int>(w.pad_left);
          if (y < 0 || x0 < 0 || y >= static_cast<int>(w.input_h) ||
              x0 >= static_cast<int>(w.input_w))
            continue;
          const double v = x[((n * w.input_h + static_cast<std::uint64_t>(y)) * w.input_w +
                              static_cast<std::uint64_t>(x0)) *
                                 width +
                             ch];
          acc = max ? std::max(acc, v) : acc + v;
          ++valid;
        }
      }
      out[o * c + ch] =
          static_cast<float>(max ? acc : acc / (include_pad ? w.kernel_h * w.kernel_w : valid));
    }
  }
  return out;
}

struct PoolCase {
  std::string name;
  PoolType type;
  std::uint32_t k, s;
  std::vector<std::int64_t> padding;
  std::string memory;
  bool dram_output;
};

class Pool2dExactTest : public ::testing::TestWithParam<PoolCase> {};

TEST_P(Pool2dExactTest, EqualsReferenceBitForBit) {
  const PoolCase& c = GetParam();
  Pool2dOptions o;
  o.type = c.type;
  o.window = make_sliding_window("pool", 2, 16, 16, {c.k, c.k}, {c.s, c.s}, c.padding, {1});
  o.block_sharded = c.memory.rfind("block", 0) == 0;
  o.output_in_dram = c.dram_output;
  const Pool2dOp op(o);
  const TensorSpec input = sticks(512, 64, c.memory);
  const Tensor x = exact_tensor(input, 7);
  const OpResult r = run_with(op, {x});
  const std::vector<float> ref =
      reference_pool(o.window, x.values(), 64, 64, c.type == PoolType::Max, true);
  const Tensor& out = r.outputs.at(0);
  EXPECT_EQ(out.spec().logical_shape(),
            Shape({1, 1, static_cast<std::uint32_t>(o.window.output_sticks()), 64}));
  EXPECT_EQ(out.logical_values(), ref) << c.name;
  EXPECT_EQ(out.logical_golden(), ref) << c.name;
  EXPECT_EQ(r.record.op_code, "Pool2D");
  // Every core's compute reduces each output stick's window tile by tile.
  const HaloPlan& plan = op.plan();
  const double per_stick = static_cast<double>(unpack_tile_cycles(n300(), DataType::BFloat16) +
                                               n300().compute.reduce_tile_cycles) *
                           std::ceil(plan.partition.channels_per_group / 32.0);
  EXPECT_GE(static_cast<double>(r.record.timing.kernel_duration()),
            static_cast<double>(plan.partition.rows_of(0)) * per_stick);
}

INSTANTIATE_TEST_SUITE_P(
    Pools, Pool2dExactTest,
    ::testing::Values(PoolCase{"max_k3_s2_p1", PoolType::Max, 3, 2, {1}, "height:8", false},
                      PoolCase{"max_k2_s2", PoolType::Max, 2, 2, {0}, "height:8", false},
                      PoolCase{"max_block_dram_out", PoolType::Max, 3, 1, {1}, "block:2x4", true},
                      PoolCase{"avg_k2_s2", PoolType::Avg, 2, 2, {0}, "height:8", false},
                      PoolCase{
                          "avg_k2_s2_interleaved_input", PoolType::Avg, 2, 2, {0}, "dram", false}),
    [](const auto& info) { return info.param.name; });

TEST(Pool2dTest, AvgPool3x3MatchesGoldenAndCountsPadding) {
  for (const bool include_pad : {true, false}) {
    Pool2dOptions o;
    o.type = PoolType::Avg;
    o.window = window(1, 20, 20, 3, 1, {1});
    o.count_include_pad = include_pad;
    const TensorSpec input = sticks(400, 32, "height:8");
    const OpResult r = run_isolated(n300(), Pool2dOp(o), {input}, {true, 9});
    const Tensor x = random_tensor(input, 9);
    const std::vector<float> ref = reference_pool(o.window, x.golden(), 32, 32, false, include_pad);
    EXPECT_GE(numerics::pcc(ref, r.outputs[0].logical_values()), 0.9999);
    EXPECT_LE(numerics::max_abs_error(ref, r.outputs[0].logical_golden()), 1e-5);
  }
}

TEST(Pool2dTest, TileInputHaloUntilizesATileRowAtATime) {
  // tt-metal's halo untilizes a TILE input one tile row at a time into two double-buffered CBs,
  // one per reader (untilize_with_halo_program_factory.cpp), not into a copy of the whole shard.
  // The same pool on a ROW_MAJOR input has the same halo buffer and window CBs, so the TILE
  // input adds exactly 2 x 2 x (64 channels = 2 tiles) bf16 tiles of CB L1. ResNet-50's stem
  // maxpool shape at batch 2.
  Pool2dOptions o;
  o.type = PoolType::Max;
  o.window = window(2, 112, 112, 3, 2, {1});
  auto peak = [&](Layout layout) {
    const TensorSpec input = sticks(2 * 112 * 112, 64, "height:64", layout);
    return run_isolated(n300(), Pool2dOp(o), {input}, {false, 0}).record.timing.l1_cb_peak_bytes;
  };
  EXPECT_EQ(peak(Layout::Tile) - peak(Layout::RowMajor),
            2u * 2u * 2u * tile_bytes(DataType::BFloat16));
}

TEST(Pool2dTest, RejectsBadParameters) {
  Pool2dOptions o;
  o.window = window(1, 8, 8, 2, 2, {2});
  expect_error([&] { Pool2dOp(o).output_specs({sticks(64, 32, "height:2")}, n300()); },
               {"max_pool2d", "at most half the kernel"});
  expect_error(
      [&] {
        make_operation("max_pool2d",
                       nlohmann::json{{"batch_size", 1},
                                      {"input_height", 8},
                                      {"input_width", 8},
                                      {"kernel_size", {2, 2}},
                                      {"ceil_mode", true}},
                       {sticks(64, 32, "height:2")}, n300());
      },
      {"ceil_mode"});
  o.window = window(1, 8, 8, 2, 2, {0});
  expect_error([&] { Pool2dOp(o).output_specs({sticks(65, 32, "dram")}, n300()); }, {"N*H*W = 64"});
}

TEST(GlobalAvgPoolTest, MeanOverHeightAndWidth) {
  const TensorSpec input = tiled({2, 7, 7, 256});
  double pcc_bf16 = 0.0;
  for (const bool fp32 : {false, true}) {
    GlobalAvgPoolOptions o;
    o.compute.fp32_dest_acc_en = fp32;
    const OpResult r = run_isolated(n300(), GlobalAvgPool2dOp(o), {input}, {true, 2});
    const Tensor& out = r.outputs.at(0);
    EXPECT_EQ(out.spec().logical_shape(), Shape({2, 1, 1, 256}));
    const Tensor x = random_tensor(input, 2);
    std::vector<float> ref(2 * 256);
    for (std::size_t n = 0; n < 2; ++n) {
      for (std::size_t c = 0; c < 256; ++c) {
        double sum = 0.0;
        for (std::uint32_t h = 0; h < 7; ++h) {
          for (std::uint32_t w = 0; w < 7; ++w)
            sum += x.golden_at(static_cast<std::uint32_t>(n), h, w, static_cast<std::uint32_t>(c));
        }
        ref[n * 256 + c] = static_cast<float>(sum / 49.0);
      }
    }
    EXPECT_LE(numerics::max_abs_error(ref, out.logical_golden()), 1e-6);
    const double pcc = numerics::pcc(ref, out.logical_values());
    EXPECT_GE(pcc, 0.999) << (fp32 ? "fp32 Dst" : "bf16 Dst");
    if (!fp32) pcc_bf16 = pcc;
    if (fp32) {
      EXPECT_GE(pcc, pcc_bf16);
    }
    EXPECT_EQ(r.record.op_code, "ReduceDeviceOperation");
    // Each of the 16 work units (2 batches x 8 channel tiles) reduces 7*32/32 = 7 tiles.
    EXPECT_GE(
        r.record.timing.kernel_duration(),
        7u * (unpack_tile_cycles(n300(), DataType::BFloat16) + n300().compute.reduce_tile_cycles));
  }
  expect_error(
      [&] {
        GlobalAvgPool2dOp({}).output_specs(
            {TensorSpec(Shape({1, 4, 4, 32}), DataType::BFloat16, Layout::RowMajor)}, n300());
      },
      {"TILE"});
}

// ---- upsample -------------------------------------------------------------------------------

TEST(UpsampleTest, NearestCopiesEveryStickExactly) {
  for (const std::string memory : {"height", "dram"}) {
    UpsampleOptions o;
    o.scale_h = 2;
    o.scale_w = 3;
    TensorSpec input(Shape({2, 8, 8, 32}), DataType::BFloat16, Layout::RowMajor);
    if (memory == "height") input = input.with_memory_config(height_sharded(input, 8, n300()));
    const Tensor x = exact_tensor(input, 4);
    const OpResult r = run_with(UpsampleOp(o), {x});
    const Tensor& out = r.outputs.at(0);
    ASSERT_EQ(out.spec().logical_shape(), Shape({2, 16, 24, 32}));
    for (std::uint32_t n = 0; n < 2; ++n) {
      for (std::uint32_t y = 0; y < 16; ++y) {
        for (std::uint32_t xx = 0; xx < 24; ++xx) {
          for (std::uint32_t c = 0; c < 32; ++c)
            ASSERT_EQ(out.at(n, y, xx, c), x.at(n, y / 2, xx / 3, c)) << memory;
        }
      }
    }
    EXPECT_EQ(out.logical_values(), out.logical_golden());
    EXPECT_EQ(r.record.op_code, "UpsampleOperation");
    // Every output stick is written once: at least the output bytes through the busiest NIU.
    const double out_bytes = 2.0 * 16 * 24 * 32 * 2;
    EXPECT_GE(static_cast<double>(r.record.timing.kernel_duration()) *
                  n300().noc.link_bytes_per_cycle * r.record.timing.core_count,
              out_bytes);
  }
}

TEST(UpsampleTest, BilinearMatchesPyTorchSemantics) {
  UpsampleOptions o;
  o.mode = UpsampleMode::Bilinear;
  o.scale_h = o.scale_w = 2;
  TensorSpec input(Shape({1, 16, 16, 32}), DataType::BFloat16, Layout::RowMajor);
  input = input.with_memory_config(height_sharded(input, 8, n300()));
  const OpResult r = run_isolated(n300(), UpsampleOp(o), {input}, {true, 6});
  const Tensor x = random_tensor(input, 6);
  const Tensor& out = r.outputs.at(0);
  // PyTorch align_corners=False, from scratch.
  std::vector<float> ref;
  for (int y = 0; y < 32; ++y) {
    for (int xx = 0; xx < 32; ++xx) {
      const double sy = std::max(0.0, (y + 0.5) / 2.0 - 0.5);
      const double sx = std::max(0.0, (xx + 0.5) / 2.0 - 0.5);
      const int y0 = static_cast<int>(sy);
      const int x0 = static_cast<int>(sx);
      const int y1 = std::min(y0 + 1, 15);
      const int x1 = std::min(x0 + 1, 15);
      const double ly = sy - y0;
      const double lx = sx - x0;
      for (std::uint32_t c = 0; c < 32; ++c) {
        auto v = [&](int yy, int xq) {
          return static_cast<double>(
              x.golden_at(0, static_cast<std::uint32_t>(yy), static_cast<std::uint32_t>(xq), c));
        };
        ref.push_back(static_cast<float>((1 - ly) * ((1 - lx) * v(y0, x0) + lx * v(y0, x1)) +
                                         ly * ((1 - lx) * v(y1, x0) + lx * v(y1, x1))));
      }
    }
  }
  EXPECT_GE(numerics::pcc(ref, out.logical_values()), 0.999);
  EXPECT_LE(numerics::max_abs_error(ref, out.logical_golden()), 1e-5);
  // The top-left output sits on the top-left input pixel: a pure copy.
  for (std::uint32_t c = 0; c < 32; ++c) EXPECT_EQ(out.at(0, 0, 0, c), x.at(0, 0, 0, c));
}

TEST(UpsampleTest, RejectsUnsupportedLayouts) {
  UpsampleOptions o;
  o.mode = UpsampleMode::Bilinear;
  const TensorSpec interleaved(Shape({1, 8, 8, 32}), DataType::BFloat16, Layout::RowMajor);
  expect_error([&] { UpsampleOp(o).output_specs({interleaved}, n300()); },
               {"bilinear", "HEIGHT_SHARDED"});
  o.mode = UpsampleMode::Nearest;
  const TensorSpec split = interleaved.with_memory_config(height_sharded(interleaved, 16, n300()));
  expect_error([&] { UpsampleOp(o).output_specs({split}, n300()); }, {"whole image rows", "W=8"});
  expect_error(
      [&] {
        UpsampleOp(o).output_specs(
            {TensorSpec(Shape({1, 8, 8, 32}), DataType::BFloat16, Layout::Tile)}, n300());
      },
      {"ROW_MAJOR"});
  expect_error(
      [&] {
        make_operation("upsample", nlohmann::json{{"mode", "bicubic"}}, {interleaved}, n300());
      },
      {"bicubic", "nearest or bilinear"});
}

TEST(UpsampleTest, BilinearKernelTimeWithinComputeAndBandwidthBounds) {
  UpsampleOptions o;
  o.mode = UpsampleMode::Bilinear;
  o.scale_h = o.scale_w = 2;
  TensorSpec input(Shape({1, 64, 64, 64}), DataType::BFloat16, Layout::RowMajor);
  input = input.with_memory_config(height_sharded(input, 32, n300()));
  const OpResult r = run_isolated(n300(), UpsampleOp(o), {input}, {false, 0});
  ASSERT_EQ(r.outputs.at(0).spec().logical_shape(), Shape({1, 128, 128, 64}));
  const arch::DeviceSpec& spec = n300();
  const double cores = static_cast<double>(r.record.timing.core_count);
  EXPECT_EQ(r.record.timing.core_count, 32u);
  // Compute the op charges: per output stick and channel tile, unpack the 4 taps' tile row,
  // an FPU multiply at the op's fidelity (HiFi4 default) and a reduce; plus packing every
  // block of 32 sticks. Spread over the 32 cores.
  const double sticks = 128.0 * 128.0;
  const double channel_tiles = 2.0;
  const double per_stick =
      channel_tiles *
      static_cast<double>(
          unpack_tile_cycles(spec, DataType::BFloat16) +
          spec.compute.eltwise_mul_tile_cycles[static_cast<int>(o.compute.math_fidelity)] +
          spec.compute.reduce_tile_cycles);
  const double per_block =
      static_cast<double>(spec.compute.block_overhead_cycles) +
      channel_tiles * static_cast<double>(pack_tile_cycles(spec, DataType::BFloat16));
  const double compute_bound = (sticks * per_stick + sticks / 32.0 * per_block) / cores;
  // Output stays sharded in L1: every output byte is written by its core's NoC ports (or in
  // place); the halo moves input sticks between cores.
  const double ports = 2.0 * spec.noc.num_nocs * spec.noc.link_bytes_per_cycle;
  const double noc_bound = static_cast<double>(r.record.timing.noc_bytes) / (cores * ports);
  const double duration = static_cast<double>(r.record.timing.kernel_duration());
  EXPECT_GE(duration, compute_bound);
  EXPECT_GE(duration, noc_bound);
  // Generous upper bound: 3x (the halo exchange and untilize precede the compute).
  EXPECT_LE(duration, 3.0 * std::max(compute_bound, noc_bound)) << duration / compute_bound;
  // Higher fidelity costs more multiply phases: LoFi is faster.
  o.compute.math_fidelity = arch::MathFidelity::LoFi;
  const OpResult lofi = run_isolated(n300(), UpsampleOp(o), {input}, {false, 0});
  EXPECT_LT(lofi.record.timing.kernel_duration(), r.record.timing.kernel_duration());
}

}  // namespace
}  // namespace wormsim::ops
