#include "ops/numerics/pcc.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "sim/error.hpp"

namespace wormsim::ops::numerics {
namespace {

void check_sizes(std::span<const float> golden, std::span<const float> calculated,
                 const char* what) {
  if (golden.size() != calculated.size()) {
    throw Error(std::string(what) + ": golden has " + std::to_string(golden.size()) +
                " values but calculated has " + std::to_string(calculated.size()));
  }
}

bool all_nan(std::span<const float> values) {
  return std::all_of(values.begin(), values.end(), [](float v) { return std::isnan(v); });
}

// torch.any(t.bool()): NaN converts to true.
bool any_nonzero(std::span<const float> values) {
  return std::any_of(values.begin(), values.end(), [](float v) { return v != 0.0f; });
}

// NaN and inf are masked to 0 before the correlation, as comp_pcc does.
inline double finite_or_zero(float v) { return std::isfinite(v) ? static_cast<double>(v) : 0.0; }

}  // namespace

double pcc(std::span<const float> golden, std::span<const float> calculated) {
  check_sizes(golden, calculated, "pcc");
  const bool golden_nan = all_nan(golden);
  const bool calculated_nan = all_nan(calculated);
  if (golden_nan && calculated_nan) return 1.0;
  if (golden_nan || calculated_nan) return 0.0;
  if (any_nonzero(golden) != any_nonzero(calculated)) return 0.0;

  const std::size_t count = golden.size();
  bool equal = true;
  double sum_g = 0.0, sum_c = 0.0;
  for (std::size_t i = 0; i < count; ++i) {
    const double g = finite_or_zero(golden[i]);
    const double c = finite_or_zero(calculated[i]);
    equal = equal && g == c;
    sum_g += g;
    sum_c += c;
  }
  if (equal) return 1.0;
  // Two-pass (centred) sums: robust when the mean is large compared with the spread.
  const double mean_g = sum_g / static_cast<double>(count);
  const double mean_c = sum_c / static_cast<double>(count);
  double cov = 0.0, var_g = 0.0, var_c = 0.0;
  for (std::size_t i = 0; i < count; ++i) {
    const double dg = finite_or_zero(golden[i]) - mean_g;
    const double dc = finite_or_zero(calculated[i]) - mean_c;
    cov += dg * dc;
    var_g += dg * dg;
    var_c += dc * dc;
  }
  // numpy masks the 0/0 of a zero-variance vector; what is left has minimum 1 (see header).
  if (var_g == 0.0 || var_c == 0.0) return 1.0;
  const double r = cov / (std::sqrt(var_g) * std::sqrt(var_c));
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
