#include "workloads/synthetic_random.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "sim/error.hpp"

namespace wormsim::workloads {
namespace {

TEST(SyntheticRandom, SplitMix64GivesThePublishedSequence) {
  // Vigna's reference splitmix64.c seeded with 1234567.
  SplitMix64 rng(1234567);
  EXPECT_EQ(rng.next(), 6457827717110365317ULL);
  EXPECT_EQ(rng.next(), 3203168211198807973ULL);
  EXPECT_EQ(rng.next(), 9817491932198370423ULL);
}

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

TEST(SyntheticRandom, NormalValuesPassAKolmogorovSmirnovTest) {
  // Over several chunks, so every stream and the ziggurat's tail and wedges are exercised.
  std::vector<float> values(1 << 20);
  fill_normal(values, 42, 1.0);
  std::vector<double> sorted(values.begin(), values.end());
  std::sort(sorted.begin(), sorted.end());
  const auto n = static_cast<double>(sorted.size());
  double worst = 0.0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const double cdf = normal_cdf(sorted[i]);
    worst =
        std::max({worst, static_cast<double>(i + 1) / n - cdf, cdf - static_cast<double>(i) / n});
  }
  // The 1% critical value of the KS statistic is 1.63 / sqrt(n); the values are fixed, so this
  // cannot flake. A wrong layer table or a missing tail shifts the CDF by far more.
  EXPECT_LT(worst, 1.63 / std::sqrt(n));
  // The tail beyond the ziggurat's base layer (|x| > 3.44) holds 0.0576% of a normal.
  const auto tail = std::count_if(values.begin(), values.end(),
                                  [](float v) { return std::abs(v) > 3.442619855899f; });
  EXPECT_NEAR(static_cast<double>(tail) / n, 2.0 * (1.0 - normal_cdf(3.442619855899)), 1.5e-4);
  EXPECT_GT(*std::max_element(values.begin(), values.end()), 4.0f);
  EXPECT_LT(*std::min_element(values.begin(), values.end()), -4.0f);
}

TEST(SyntheticRandom, ValuesDependOnlyOnKeyAndIndex) {
  // A value's chunk fixes its stream, so a longer tensor starts with a shorter one's values.
  std::vector<float> shorter(3 * kSyntheticChunkValues + 17), longer(9 * kSyntheticChunkValues);
  fill_normal(shorter, 7, 0.5);
  fill_normal(longer, 7, 0.5);
  EXPECT_TRUE(std::equal(shorter.begin(), shorter.end(), longer.begin()));
  std::vector<float> other_key(shorter.size());
  fill_normal(other_key, 8, 0.5);
  EXPECT_NE(shorter, other_key);
  // Chunks are separate streams, not one stream cut in pieces.
  EXPECT_FALSE(
      std::equal(longer.begin(), longer.begin() + 64, longer.begin() + kSyntheticChunkValues));
}

TEST(SyntheticRandom, ParallelFillEqualsChunkByChunkStreams) {
  // Whatever the thread count, chunk c holds its own stream from chunk_seed(key, c): rebuild it
  // serially here (uniform values: u from the stream's top 53 bits).
  const std::uint64_t key = 0x1234;
  std::vector<float> values(6 * kSyntheticChunkValues + 5);
  fill_uniform(values, key, 2.0);
  for (std::size_t c = 0; c * kSyntheticChunkValues < values.size(); ++c) {
    SplitMix64 rng(chunk_seed(key, c));
    const std::size_t end = std::min(values.size(), (c + 1) * kSyntheticChunkValues);
    for (std::size_t i = c * kSyntheticChunkValues; i < end; ++i) {
      ASSERT_EQ(values[i], static_cast<float>(2.0 * (2.0 * rng.uniform01() - 1.0))) << i;
    }
  }
}

TEST(SyntheticRandom, RunSeedsDoNotShareChunks) {
  // The executor folds the run seed into the key (name hash ^ mix64(seed)); a seed must not be
  // able to trade places with the chunk index.
  const std::uint64_t name = 99;
  std::vector<float> seed1(2 * kSyntheticChunkValues), seed2(2 * kSyntheticChunkValues);
  fill_uniform(seed1, name ^ mix64(1), 1.0);
  fill_uniform(seed2, name ^ mix64(2), 1.0);
  EXPECT_FALSE(std::equal(seed1.begin() + kSyntheticChunkValues, seed1.end(), seed2.begin()));
  EXPECT_FALSE(std::equal(seed2.begin() + kSyntheticChunkValues, seed2.end(), seed1.begin()));
}

TEST(SyntheticRandom, UniformAndWholeNumbersStayInRange) {
  std::vector<float> uniform(1 << 18), whole(1 << 18);
  fill_uniform(uniform, 3, 0.25);
  EXPECT_LE(*std::max_element(uniform.begin(), uniform.end()), 0.25f);
  EXPECT_GE(*std::min_element(uniform.begin(), uniform.end()), -0.25f);
  EXPECT_GT(*std::max_element(uniform.begin(), uniform.end()), 0.2499f);
  double sum = 0.0;
  for (float v : uniform) sum += v;
  EXPECT_NEAR(sum / static_cast<double>(uniform.size()), 0.0, 1e-3);
  fill_whole_numbers(whole, 3, 10);
  std::vector<int> counts(10, 0);
  for (float v : whole) {
    ASSERT_EQ(v, std::floor(v));
    ASSERT_GE(v, 0.0f);
    ASSERT_LT(v, 10.0f);
    ++counts[static_cast<std::size_t>(v)];
  }
  for (int c : counts) EXPECT_NEAR(c, static_cast<double>(whole.size()) / 10.0, 800.0);
  EXPECT_THROW(fill_whole_numbers(whole, 3, 0), Error);
}

}  // namespace
}  // namespace wormsim::workloads
