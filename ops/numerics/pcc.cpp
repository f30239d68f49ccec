#include "ops/numerics/pcc.hpp"

#include <algorithm>
#include <cmath>
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
inline double finite_or_zero(float v) { return std::isfinite(v) ? static_cast<double>(v) : 0.0; }

// Sums are taken over fixed chunks of this many values and the chunks' sums added in order, so
// the result does not depend on how many threads computed the chunks.
constexpr std::size_t kChunkValues = std::size_t{1} << 14;

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

// Runs pass(begin, end) -> Partial on every chunk (over the cores when large) and returns the
// chunks' results in order.
template <class Partial, class Pass>
std::vector<Partial> per_chunk(std::size_t count, Pass&& pass) {
  const std::size_t chunks = (count + kChunkValues - 1) / kChunkValues;
  std::vector<Partial> partials(chunks);
  sim::run_ranges(chunks, sim::kParallelValues / kChunkValues,
                  [&](std::size_t first, std::size_t last) {
                    for (std::size_t c = first; c < last; ++c) {
                      partials[c] = pass(c * kChunkValues, std::min(count, (c + 1) * kChunkValues));
                    }
                  });
  return partials;
}

}  // namespace

double pcc(std::span<const float> golden, std::span<const float> calculated) {
  check_sizes(golden, calculated, "pcc");
  const std::size_t count = golden.size();
  FirstPass first;
  for (const FirstPass& part : per_chunk<FirstPass>(count, [&](std::size_t begin, std::size_t end) {
         FirstPass p;
         for (std::size_t i = begin; i < end; ++i) {
           const float gv = golden[i], cv = calculated[i];
           p.golden_all_nan = p.golden_all_nan && std::isnan(gv);
           p.calculated_all_nan = p.calculated_all_nan && std::isnan(cv);
           p.golden_any_nonzero = p.golden_any_nonzero || gv != 0.0f;
           p.calculated_any_nonzero = p.calculated_any_nonzero || cv != 0.0f;
           const double g = finite_or_zero(gv), c = finite_or_zero(cv);
           p.equal = p.equal && g == c;
           p.sum_g += g;
           p.sum_c += c;
         }
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
       per_chunk<SecondPass>(count, [&](std::size_t begin, std::size_t end) {
         SecondPass p;
         for (std::size_t i = begin; i < end; ++i) {
           const double dg = finite_or_zero(golden[i]) - mean_g;
           const double dc = finite_or_zero(calculated[i]) - mean_c;
           p.cov += dg * dc;
           p.var_g += dg * dg;
           p.var_c += dc * dc;
         }
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
