#pragma once
#include <string>
#include <vector>

namespace wormsim::ops {

// Unary functions on values, as the device computes them (SFPU approximations where TT-NN
// uses them) and as the fp32 reference does. Names follow TT-NN: gelu, relu, silu, exp,
// sigmoid, tanh, sqrt, rsqrt, reciprocal, recip, identity, square, abs, log.
bool is_known_unary(const std::string& op);
// Device version: gelu uses the tanh approximation when approx is set (TT-NN's fast gelu),
// erf otherwise; the others are the exact function in fp32 (the SFPU computes in fp32).
void apply_unary(const std::string& op, std::vector<float>& values, bool approx);
// Reference version: the exact function in fp32.
void apply_unary_exact(const std::string& op, std::vector<float>& values);
float unary_exact(const std::string& op, float x);
// The exact function itself, looked up once for a loop over many values (throws like unary_exact
// for an unknown name).
using UnaryFunction = float (*)(float);
UnaryFunction exact_unary_function(const std::string& op);

}  // namespace wormsim::ops
