#include "ops/unary_functions.hpp"

#include <array>
#include <cmath>
#include <numbers>

#include "sim/error.hpp"
#include "sim/parallel.hpp"

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

UnaryFunction exact_unary_function(const std::string& op) {
  if (op == "gelu") return gelu_erf;
  if (op == "relu") return [](float x) { return x > 0.0f ? x : 0.0f; };
  if (op == "silu") return [](float x) { return x / (1.0f + std::exp(-x)); };
  if (op == "exp") return [](float x) { return std::exp(x); };
  if (op == "sigmoid") return [](float x) { return 1.0f / (1.0f + std::exp(-x)); };
  if (op == "tanh") return [](float x) { return std::tanh(x); };
  if (op == "sqrt") return [](float x) { return std::sqrt(x); };
  if (op == "rsqrt") return [](float x) { return 1.0f / std::sqrt(x); };
  if (op == "reciprocal" || op == "recip") return [](float x) { return 1.0f / x; };
  if (op == "identity") return [](float x) { return x; };
  if (op == "square") return [](float x) { return x * x; };
  if (op == "abs") return [](float x) { return std::fabs(x); };
  if (op == "log") return [](float x) { return std::log(x); };
  throw Error("unknown unary op '" + op + "'; known: gelu, relu, silu, exp, sigmoid, tanh, sqrt, rsqrt, reciprocal, "
              "identity, square, abs, log");
}

namespace {

void apply(UnaryFunction f, std::vector<float>& values) {
  sim::run_ranges(values.size(), sim::kParallelValues, [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) values[i] = f(values[i]);
  });
}

}  // namespace

float unary_exact(const std::string& op, float x) { return exact_unary_function(op)(x); }

void apply_unary(const std::string& op, std::vector<float>& values, bool approx) {
  apply(op == "gelu" && approx ? gelu_tanh : exact_unary_function(op), values);
}

void apply_unary_exact(const std::string& op, std::vector<float>& values) {
  apply(exact_unary_function(op), values);
}

}  // namespace wormsim::ops
