#include "ops/unary_functions.hpp"

#include <array>
#include <cmath>
#include <numbers>

#include "sim/error.hpp"

namespace wormsim::ops {
namespace {

constexpr std::array<const char*, 14> kUnaryOps = {"gelu",    "relu",  "silu", "exp",        "sigmoid",
                                                   "tanh",    "sqrt",  "rsqrt", "reciprocal", "recip",
                                                   "identity", "square", "abs",  "log"};

float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x / std::numbers::sqrt2_v<float>)); }

float gelu_tanh(float x) {
  // The tanh form of GELU (Hendrycks & Gimpel), TT-NN's fast_and_approximate_mode.
  constexpr float k = 0.7978845608f;  // sqrt(2/pi)
  return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
}

}  // namespace

bool is_known_unary(const std::string& op) {
  for (const char* name : kUnaryOps) {
    if (op == name) return true;
  }
  return false;
}

float unary_exact(const std::string& op, float x) {
  if (op == "gelu") return gelu_erf(x);
  if (op == "relu") return x > 0.0f ? x : 0.0f;
  if (op == "silu") return x / (1.0f + std::exp(-x));
  if (op == "exp") return std::exp(x);
  if (op == "sigmoid") return 1.0f / (1.0f + std::exp(-x));
  if (op == "tanh") return std::tanh(x);
  if (op == "sqrt") return std::sqrt(x);
  if (op == "rsqrt") return 1.0f / std::sqrt(x);
  if (op == "reciprocal" || op == "recip") return 1.0f / x;
  if (op == "identity") return x;
  if (op == "square") return x * x;
  if (op == "abs") return std::fabs(x);
  if (op == "log") return std::log(x);
  throw Error("unknown unary op '" + op + "'; known: gelu, relu, silu, exp, sigmoid, tanh, sqrt, rsqrt, reciprocal, "
              "identity, square, abs, log");
}

void apply_unary(const std::string& op, std::vector<float>& values, bool approx) {
  if (op == "gelu" && approx) {
    for (float& v : values) v = gelu_tanh(v);
    return;
  }
  apply_unary_exact(op, values);
}

void apply_unary_exact(const std::string& op, std::vector<float>& values) {
  if (!is_known_unary(op)) unary_exact(op, 0.0f);  // throws with the list of known ops
  for (float& v : values) v = unary_exact(op, v);
}

}  // namespace wormsim::ops
