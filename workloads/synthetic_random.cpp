#include "workloads/synthetic_random.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "sim/error.hpp"
#include "sim/parallel.hpp"

namespace wormsim::workloads {
namespace {

// splitmix64's increment (2^64 / golden ratio, odd) and its output mixing constants.
constexpr std::uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ULL;
constexpr std::uint64_t kMixMultiplier1 = 0xBF58476D1CE4E5B9ULL;
constexpr std::uint64_t kMixMultiplier2 = 0x94D049BB133111EBULL;

// Ziggurat for the standard normal with 128 layers of equal area: the rightmost layer's edge
// and the common area, from Marsaglia and Tsang (2000), section 2.
constexpr int kLayers = 128;
constexpr double kTailStart = 3.442619855899;
constexpr double kLayerArea = 9.91256303526217e-3;

struct Ziggurat {
  // edge[i]: the right edge of layer i (edge[0] is the base layer's virtual width area / f(r));
  // inner[i] = edge[i + 1] / edge[i]: a draw |u| below it lies under the curve for sure.
  std::array<double, kLayers + 1> edge{};
  std::array<double, kLayers> inner{};

  Ziggurat() {
    const double density_at_tail = std::exp(-0.5 * kTailStart * kTailStart);
    edge[0] = kLayerArea / density_at_tail;
    edge[1] = kTailStart;
    edge[kLayers] = 0.0;
    double density = density_at_tail;
    for (int i = 2; i < kLayers; ++i) {
      edge[i] = std::sqrt(-2.0 * std::log(kLayerArea / edge[i - 1] + density));
      density = std::exp(-0.5 * edge[i] * edge[i]);
    }
    for (int i = 0; i < kLayers; ++i) inner[i] = edge[i + 1] / edge[i];
  }
};

const Ziggurat& ziggurat() {
  static const Ziggurat table;
  return table;
}

// A standard normal draw. The fast path takes one 64-bit word: the top 53 bits make u in
// [-1, 1), the low 7 bits pick the layer.
double standard_normal(SplitMix64& rng, const Ziggurat& z) {
  for (;;) {
    const std::uint64_t bits = rng.next();
    const double u = 2.0 * (static_cast<double>(bits >> 11) * 0x1.0p-53) - 1.0;
    const int layer = static_cast<int>(bits & (kLayers - 1));
    if (std::abs(u) < z.inner[layer]) return u * z.edge[layer];
    if (layer == 0) {
      // The tail beyond kTailStart (Marsaglia 1964).
      double x = 0.0, y = 0.0;
      do {
        x = std::log(1.0 - rng.uniform01()) / kTailStart;
        y = std::log(1.0 - rng.uniform01());
      } while (-2.0 * y < x * x);
      return u < 0.0 ? x - kTailStart : kTailStart - x;
    }
    // The wedge between the layer's inner box and the curve.
    const double x = u * z.edge[layer];
    const double f_outer = std::exp(-0.5 * (z.edge[layer] * z.edge[layer] - x * x));
    const double f_inner = std::exp(-0.5 * (z.edge[layer + 1] * z.edge[layer + 1] - x * x));
    if (f_inner + rng.uniform01() * (f_outer - f_inner) < 1.0) return x;
  }
}

// Calls fill(chunk_values, rng) for every chunk of `out`, each with its own stream, over the
// cores when there are several chunks.
template <class Fill>
void fill_chunks(std::span<float> out, std::uint64_t key, Fill&& fill) {
  const std::size_t chunks = (out.size() + kSyntheticChunkValues - 1) / kSyntheticChunkValues;
  sim::run_ranges(chunks, sim::kParallelValues / kSyntheticChunkValues,
                  [&](std::size_t first, std::size_t last) {
                    for (std::size_t c = first; c < last; ++c) {
                      SplitMix64 rng(chunk_seed(key, c));
                      const std::size_t begin = c * kSyntheticChunkValues;
                      fill(out.subspan(begin, std::min(kSyntheticChunkValues, out.size() - begin)),
                           rng);
                    }
                  });
}

}  // namespace

std::uint64_t chunk_seed(std::uint64_t key, std::uint64_t chunk) {
  // Both mixed before they are combined: with key ^ mix64(chunk + 1), a run seed folded into the
  // key by XOR could trade places with the chunk index (seed s's chunk c = seed c+1's chunk s-1).
  return mix64(mix64(key) ^ mix64(chunk + 1));
}

std::uint64_t mix64(std::uint64_t x) {
  x = (x ^ (x >> 30)) * kMixMultiplier1;
  x = (x ^ (x >> 27)) * kMixMultiplier2;
  return x ^ (x >> 31);
}

std::uint64_t SplitMix64::next() {
  state_ += kGoldenGamma;
  return mix64(state_);
}

double SplitMix64::uniform01() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

void fill_normal(std::span<float> out, std::uint64_t key, double stddev) {
  const Ziggurat& z = ziggurat();
  fill_chunks(out, key, [&](std::span<float> chunk, SplitMix64& rng) {
    for (float& v : chunk) v = static_cast<float>(stddev * standard_normal(rng, z));
  });
}

void fill_uniform(std::span<float> out, std::uint64_t key, double half_width) {
  fill_chunks(out, key, [&](std::span<float> chunk, SplitMix64& rng) {
    for (float& v : chunk) v = static_cast<float>(half_width * (2.0 * rng.uniform01() - 1.0));
  });
}

void fill_whole_numbers(std::span<float> out, std::uint64_t key, std::uint64_t bound) {
  if (bound == 0) {
    throw Error("synthetic whole numbers: the bound must be at least 1 (values lie in [0, bound))");
  }
  const double scale = static_cast<double>(bound);
  const double largest = static_cast<double>(bound - 1);
  fill_chunks(out, key, [&](std::span<float> chunk, SplitMix64& rng) {
    // floor(u * bound) for u in [0, 1) with 53 random bits: bias below bound / 2^53, and bounds
    // are row counts (float holds whole numbers exactly only up to 2^24 anyway).
    for (float& v : chunk)
      v = static_cast<float>(std::min(largest, std::floor(rng.uniform01() * scale)));
  });
}

}  // namespace wormsim::workloads
