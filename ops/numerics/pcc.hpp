#pragma once
// Accuracy metrics between a golden (fp32 reference) result and a simulated one.
#include <array>
#include <cstdint>
#include <span>

namespace wormsim::ops::numerics {

// Pearson correlation coefficient with the special cases of tt-metal's comp_pcc
// (tests/ttnn/utils_for_testing.py and models/common/utility_functions.py), so numbers match
// what tt-metal tests print:
//  1. both all-NaN -> 1.0; exactly one all-NaN -> 0.0 (empty vectors count as all-NaN);
//  2. one has a non-zero element (NaN counts as non-zero) and the other is all zeros -> 0.0;
//  3. NaN and +-inf are replaced by 0 in both, then equal vectors -> 1.0;
//  4. otherwise np.min(np.ma.corrcoef(...)): a constant vector has zero variance, numpy masks
//     the 0/0 entries and the minimum of what is left is the other vector's self-correlation,
//     so a constant vector against anything (not caught above) gives 1.0. Keep this quirk in
//     mind: PCC cannot see a result that collapsed to a non-zero constant.
// Computed in double (numpy would use the input dtype); the result is clamped to [-1, 1].
// Throws Error if the sizes differ.
double pcc(std::span<const float> golden, std::span<const float> calculated);

// A row-major buffer over a padded [w, z, y, x] shape whose first `logical` extents hold values.
struct PaddedShape {
  std::array<std::uint64_t, 4> logical, padded;
};
// pcc() of the logical values of two such buffers, read in place: the same result, bit for bit,
// as pcc() of the two gathered logical vectors, without the copies. Throws Error if a logical
// extent exceeds its padded one or the buffers do not hold the padded volume.
double pcc(std::span<const float> golden, std::span<const float> calculated,
           const PaddedShape& shape);

// max |golden - calculated|, like torch.max(torch.abs(golden - calculated)) in comp_allclose:
// a NaN anywhere (including inf - inf) gives NaN. 0 for empty input.
double max_abs_error(std::span<const float> golden, std::span<const float> calculated);

// Relative error in the 2-norm: ||golden - calculated|| / ||golden||. 0 when both are zero,
// inf when only golden is zero; NaN propagates.
double rel_error(std::span<const float> golden, std::span<const float> calculated);

}  // namespace wormsim::ops::numerics
