#pragma once
// Accuracy metrics between a golden (fp32 reference) result and a simulated one.
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

// max |golden - calculated|, like torch.max(torch.abs(golden - calculated)) in comp_allclose:
// a NaN anywhere (including inf - inf) gives NaN. 0 for empty input.
double max_abs_error(std::span<const float> golden, std::span<const float> calculated);

// Relative error in the 2-norm: ||golden - calculated|| / ||golden||. 0 when both are zero,
// inf when only golden is zero; NaN propagates.
double rel_error(std::span<const float> golden, std::span<const float> calculated);

}  // namespace wormsim::ops::numerics
