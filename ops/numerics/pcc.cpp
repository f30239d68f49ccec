#include "ops/numerics/pcc.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "sim/error.hpp"
#include "sim/parallel.hpp"

namespace wormsim::ops::numerics {
namespace {

void check_sizes(std::span<const float> golden, std::span<const float> calculated,
                 const char* what) {
  if (golden.size() != calculated.size()) {
    throw Error(std::string(what) + ": golden has " + std::to_string(golden.size()) +
                " values but calculated has " + std::to_string(calculated.size()));
  }
}

// NaN and inf are masked to 0 before the correlation, as comp_pcc does.
inline float finite_or_zero_float(float v) { return std::isfinite(v) ? v : 0.0f; }
inline double finite_or_zero(float v) { return static_cast<double>(finite_or_zero_float(v)); }

// Sums are taken over fixed chunks of this many values and the chunks' sums added in order, so
// the result does not depend on how many threads computed the chunks.
constexpr std::size_t kChunkValues = std::size_t{1} << 14;

// Within a chunk, value i goes to lane i mod kLanes and the lanes are added in order at the end:
// independent sums the CPU can overlap (one long sum waits on each add), same result every run.
constexpr std::size_t kLanes = 4;

// Calls add(i, lane) for i in [begin, end), lane = (i - begin) mod kLanes.
template <class Add>
inline void for_lanes(std::size_t begin, std::size_t end, Add&& add) {
  std::size_t i = begin;
  for (; i + kLanes <= end; i += kLanes) {
    for (std::size_t j = 0; j < kLanes; ++j) add(i + j, j);
  }
  for (std::size_t j = 0; i + j < end; ++j) add(i + j, j);
}

double add_lanes(const std::array<double, kLanes>& lanes) {
  double total = 0.0;
  for (double v : lanes) total += v;
  return total;
}

struct FirstPass {
  bool golden_all_nan = true, calculated_all_nan = true;
  // torch.any(t.bool()): NaN converts to true.
  bool golden_any_nonzero = false, calculated_any_nonzero = false;
  bool equal = true;  // after masking NaN / inf
  double sum_g = 0.0, sum_c = 0.0;
};

struct SecondPass {
  double cov = 0.0, var_g = 0.0, var_c = 0.0;
};

// Where a chunk's values are read: plain spans point into the data; a padded buffer copies the
// chunk's logical values into a per-thread scratch first (a chunk fits in the L2 cache).
struct ChunkValues {
  const float* golden;
  const float* calculated;
};

struct SpanSource {
  std::span<const float> golden, calculated;
  struct Scratch {};
  ChunkValues chunk(std::size_t begin, std::size_t, Scratch&) const {
    return {golden.data() + begin, calculated.data() + begin};
  }
};

struct PaddedSource {
  std::span<const float> golden, calculated;
  PaddedShape shape;
  struct Scratch {
    std::vector<float> golden, calculated;
  };
  ChunkValues chunk(std::size_t begin, std::size_t end, Scratch& scratch) const {
    const auto& l = shape.logical;
    const auto& p = shape.padded;
    scratch.golden.resize(end - begin);
    scratch.calculated.resize(end - begin);
    std::size_t i = begin;
    while (i < end) {
      const std::uint64_t row = i / l[3], x = i % l[3];
      const std::uint64_t y = row % l[2], z = (row / l[2]) % l[1], w = row / (l[2] * l[1]);
      const std::uint64_t offset = ((w * p[1] + z) * p[2] + y) * p[3] + x;
      const std::size_t run = std::min<std::size_t>(l[3] - x, end - i);
      std::copy_n(golden.data() + offset, run, scratch.golden.data() + (i - begin));
      std::copy_n(calculated.data() + offset, run, scratch.calculated.data() + (i - begin));
      i += run;
    }
    return {scratch.golden.data(), scratch.calculated.data()};
  }
};

// Runs pass(values, n) -> Partial on every chunk of `count` values (over the cores when large)
// and returns the chunks' results in order.
template <class Partial, class Source, class Pass>
std::vector<Partial> per_chunk(std::size_t count, const Source& source, Pass&& pass) {
  const std::size_t chunks = (count + kChunkValues - 1) / kChunkValues;
  std::vector<Partial> partials(chunks);
  sim::run_ranges(chunks, sim::kParallelValues / kChunkValues,
                  [&](std::size_t first, std::size_t last) {
                    typename Source::Scratch scratch;
                    for (std::size_t c = first; c < last; ++c) {
                      const std::size_t begin = c * kChunkValues;
                      const std::size_t end = std::min(count, begin + kChunkValues);
                      partials[c] = pass(source.chunk(begin, end, scratch), end - begin);
                    }
                  });
  return partials;
}

template <class Source>
double pcc_of(std::size_t count, const Source& source) {
  FirstPass first;
  for (const FirstPass& part :
       per_chunk<FirstPass>(count, source, [&](ChunkValues v, std::size_t n) {
         // The flags first, as OR-reductions over the values (no branches, so the loop
         // vectorises), then the sums in lanes.
         unsigned golden_not_nan = 0, calculated_not_nan = 0;
         unsigned golden_nonzero = 0, calculated_nonzero = 0, differ = 0;
         for (std::size_t i = 0; i < n; ++i) {
           const float gv = v.golden[i], cv = v.calculated[i];
           golden_not_nan |= static_cast<unsigned>(gv == gv);
           calculated_not_nan |= static_cast<unsigned>(cv == cv);
           golden_nonzero |= static_cast<unsigned>(gv != 0.0f);
           calculated_nonzero |= static_cast<unsigned>(cv != 0.0f);
           differ |= static_cast<unsigned>(finite_or_zero_float(gv) != finite_or_zero_float(cv));
         }
         std::array<double, kLanes> sum_g{}, sum_c{};
         for_lanes(0, n, [&](std::size_t i, std::size_t j) {
           sum_g[j] += finite_or_zero(v.golden[i]);
           sum_c[j] += finite_or_zero(v.calculated[i]);
         });
         FirstPass p;
         p.golden_all_nan = golden_not_nan == 0;
         p.calculated_all_nan = calculated_not_nan == 0;
         p.golden_any_nonzero = golden_nonzero != 0;
         p.calculated_any_nonzero = calculated_nonzero != 0;
         p.equal = differ == 0;
         p.sum_g = add_lanes(sum_g);
         p.sum_c = add_lanes(sum_c);
         return p;
       })) {
    first.golden_all_nan = first.golden_all_nan && part.golden_all_nan;
    first.calculated_all_nan = first.calculated_all_nan && part.calculated_all_nan;
    first.golden_any_nonzero = first.golden_any_nonzero || part.golden_any_nonzero;
    first.calculated_any_nonzero = first.calculated_any_nonzero || part.calculated_any_nonzero;
    first.equal = first.equal && part.equal;
    first.sum_g += part.sum_g;
    first.sum_c += part.sum_c;
  }
  if (first.golden_all_nan && first.calculated_all_nan) return 1.0;
  if (first.golden_all_nan || first.calculated_all_nan) return 0.0;
  if (first.golden_any_nonzero != first.calculated_any_nonzero) return 0.0;
  if (first.equal) return 1.0;
  // Two-pass (centred) sums: robust when the mean is large compared with the spread.
  const double mean_g = first.sum_g / static_cast<double>(count);
  const double mean_c = first.sum_c / static_cast<double>(count);
  SecondPass second;
  for (const SecondPass& part :
       per_chunk<SecondPass>(count, source, [&](ChunkValues v, std::size_t n) {
         std::array<double, kLanes> cov{}, var_g{}, var_c{};
         for_lanes(0, n, [&](std::size_t i, std::size_t j) {
           const double dg = finite_or_zero(v.golden[i]) - mean_g;
           const double dc = finite_or_zero(v.calculated[i]) - mean_c;
           cov[j] += dg * dc;
           var_g[j] += dg * dg;
           var_c[j] += dc * dc;
         });
         SecondPass p;
         p.cov = add_lanes(cov);
         p.var_g = add_lanes(var_g);
         p.var_c = add_lanes(var_c);
         return p;
       })) {
    second.cov += part.cov;
    second.var_g += part.var_g;
    second.var_c += part.var_c;
  }
  // numpy masks the 0/0 of a zero-variance vector; what is left has minimum 1 (see header).
  if (second.var_g == 0.0 || second.var_c == 0.0) return 1.0;
  const double r = second.cov / (std::sqrt(second.var_g) * std::sqrt(second.var_c));
  return std::clamp(r, -1.0, 1.0);
}

}  // namespace

double pcc(std::span<const float> golden, std::span<const float> calculated) {
  check_sizes(golden, calculated, "pcc");
  return pcc_of(golden.size(), SpanSource{golden, calculated});
}

double pcc(std::span<const float> golden, std::span<const float> calculated,
           const PaddedShape& shape) {
  check_sizes(golden, calculated, "pcc");
  std::uint64_t padded_volume = 1, logical_volume = 1;
  for (std::size_t d = 0; d < 4; ++d) {
    if (shape.logical[d] > shape.padded[d]) {
      throw Error("pcc: logical extent " + std::to_string(shape.logical[d]) + " of dimension " +
                  std::to_string(d) + " exceeds the padded extent " +
                  std::to_string(shape.padded[d]));
    }
    padded_volume *= shape.padded[d];
    logical_volume *= shape.logical[d];
  }
  if (golden.size() != padded_volume) {
    throw Error("pcc: the buffers hold " + std::to_string(golden.size()) +
                " values but the padded shape needs " + std::to_string(padded_volume));
  }
  if (logical_volume == padded_volume)
    return pcc_of(logical_volume, SpanSource{golden, calculated});
  return pcc_of(logical_volume, PaddedSource{golden, calculated, shape});
}

double max_abs_error(std::span<const float> golden, std::span<const float> calculated) {
  check_sizes(golden, calculated, "max_abs_error");
  double worst = 0.0;
  for (std::size_t i = 0; i < golden.size(); ++i) {
    const double diff =
        std::fabs(static_cast<double>(golden[i]) - static_cast<double>(calculated[i]));
    if (std::isnan(diff)) return std::numeric_limits<double>::quiet_NaN();
    worst = std::max(worst, diff);
  }
  return worst;
}

double rel_error(std::span<const float> golden, std::span<const float> calculated) {
  check_sizes(golden, calculated, "rel_error");
  double diff_sq = 0.0, golden_sq = 0.0;
  for (std::size_t i = 0; i < golden.size(); ++i) {
    const double g = golden[i];
    const double d = g - static_cast<double>(calculated[i]);
    diff_sq += d * d;
    golden_sq += g * g;
  }
  if (std::isnan(diff_sq) || std::isnan(golden_sq)) return std::numeric_limits<double>::quiet_NaN();
  if (golden_sq == 0.0) return diff_sq == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::sqrt(diff_sq / golden_sq);
}

}  // namespace wormsim::ops::numerics
