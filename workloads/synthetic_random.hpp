#pragma once
// Random values for synthetic tensors, split into independent streams so a large tensor can be
// filled on all cores with results that do not depend on the thread count.
//
// Value i of a tensor comes from the stream of its chunk (i / kSyntheticChunkValues). A chunk's
// stream is splitmix64 (Steele, Lea, Flood 2014) started from a hash of the tensor's key and the
// chunk index; normal values use the ziggurat method (Marsaglia, Tsang 2000; 128 layers, one
// 64-bit draw per value on its fast path). Both are cheap enough that a 300 M-parameter model's
// weights take well under a second, where std::mt19937_64 with std::normal_distribution took
// several.
#include <cstddef>
#include <cstdint>
#include <span>

namespace wormsim::workloads {

inline constexpr std::size_t kSyntheticChunkValues = std::size_t{1} << 14;

// splitmix64: a 64-bit state advanced by a fixed odd increment and mixed on output.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  double uniform01();  // [0, 1) from the top 53 bits

 private:
  std::uint64_t state_;
};

// The mixing function of splitmix64 alone (a bijection of 64-bit words).
std::uint64_t mix64(std::uint64_t x);

// The seed of chunk `chunk`'s stream for a tensor with `key`.
std::uint64_t chunk_seed(std::uint64_t key, std::uint64_t chunk);

// Fill `out` with N(0, stddev), U(-half_width, half_width), or whole numbers in [0, bound).
// `key` identifies the tensor (name hash and run seed); the same key and size give the same
// values on any machine and thread count.
void fill_normal(std::span<float> out, std::uint64_t key, double stddev);
void fill_uniform(std::span<float> out, std::uint64_t key, double half_width);
void fill_whole_numbers(std::span<float> out, std::uint64_t key,
                        std::uint64_t bound);  // throws Error for bound 0

}  // namespace wormsim::workloads
