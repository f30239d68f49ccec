// Number formats: bf16 round-to-nearest-even, TF32, bfloat8_b / bfloat4_b block floats and
// their tile byte layout.
#include "ops/numerics/number_formats.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "ops/data_type.hpp"
#include "ops/numerics/pcc.hpp"
#include "sim/error.hpp"

namespace {

using wormsim::Error;
using wormsim::ops::DataType;
using wormsim::ops::tile_bytes;
using namespace wormsim::ops::numerics;

float from_bits(std::uint32_t bits) { return std::bit_cast<float>(bits); }
std::uint32_t to_bits(float value) { return std::bit_cast<std::uint32_t>(value); }

std::vector<float> random_normal(std::size_t count, unsigned seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

// ---- bfloat16 ------------------------------------------------------------------------------

TEST(Bf16, TiesRoundToEven) {
  // bf16 spacing at 1 is 2^-7: 1 + 2^-8 is halfway between 1 (even) and 1 + 2^-7 (odd).
  EXPECT_EQ(round_to_bf16(1.0f + std::ldexp(1.0f, -8)), 1.0f);
  // 1 + 3*2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up.
  EXPECT_EQ(round_to_bf16(1.0f + 3.0f * std::ldexp(1.0f, -8)), 1.0f + std::ldexp(1.0f, -6));
  // Just above a tie rounds up, just below rounds down.
  EXPECT_EQ(round_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)),
            1.0f + std::ldexp(1.0f, -7));
  EXPECT_EQ(round_to_bf16(1.0f + std::ldexp(1.0f, -8) - std::ldexp(1.0f, -20)), 1.0f);
  // Sign-symmetric.
  EXPECT_EQ(round_to_bf16(-(1.0f + std::ldexp(1.0f, -8))), -1.0f);
  EXPECT_EQ(round_to_bf16(-(1.0f + 3.0f * std::ldexp(1.0f, -8))), -(1.0f + std::ldexp(1.0f, -6)));
  // Exactly representable values are unchanged.
  EXPECT_EQ(round_to_bf16(3.140625f), 3.140625f);
}

TEST(Bf16, SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(round_to_bf16(inf), inf);
  EXPECT_EQ(round_to_bf16(-inf), -inf);
  EXPECT_TRUE(std::isnan(round_to_bf16(std::numeric_limits<float>::quiet_NaN())));
  // A NaN whose payload lives only in the dropped bits must not turn into inf.
  EXPECT_TRUE(std::isnan(round_to_bf16(from_bits(0x7F800001u))));
  EXPECT_TRUE(std::isnan(round_to_bf16(from_bits(0xFFFFFFFFu))));
  // Largest finite bf16 is 0x7F7F; from the tie 0x7F7F8000 upwards values overflow to inf.
  EXPECT_EQ(to_bits(round_to_bf16(from_bits(0x7F7F7FFFu))), 0x7F7F0000u);
  EXPECT_EQ(round_to_bf16(from_bits(0x7F7F8000u)), inf);
  EXPECT_EQ(round_to_bf16(std::numeric_limits<float>::max()), inf);
  EXPECT_EQ(round_to_bf16(-std::numeric_limits<float>::max()), -inf);
}

TEST(Bf16, DenormalsFlushToSignedZero) {
  const float denormal = std::numeric_limits<float>::denorm_min() * 1000.0f;
  ASSERT_EQ(std::fpclassify(denormal), FP_SUBNORMAL);
  EXPECT_EQ(to_bits(round_to_bf16(denormal)), 0u);
  EXPECT_EQ(to_bits(round_to_bf16(-denormal)), 0x80000000u);
  EXPECT_EQ(round_to_bf16(std::numeric_limits<float>::min()), std::numeric_limits<float>::min());
  // The largest denormal rounds up into the normal range and is kept.
  EXPECT_EQ(round_to_bf16(from_bits(0x007FFFFFu)), std::numeric_limits<float>::min());
}

TEST(Bf16, BitPatterns) {
  EXPECT_EQ(to_bf16_bits(1.0f), 0x3F80u);
  EXPECT_EQ(to_bf16_bits(-2.0f), 0xC000u);
  EXPECT_EQ(from_bf16_bits(0x3FC0u), 1.5f);
  EXPECT_EQ(from_bf16_bits(to_bf16_bits(0.1f)), round_to_bf16(0.1f));
}

TEST(Bf16, SpanMatchesScalarAndErrorBound) {
  std::vector<float> values = random_normal(10007, 1, 100.0f);  // odd size: loop tail
  const std::vector<float> original = values;
  quantize_bf16(values);
  for (std::size_t i = 0; i < values.size(); ++i) {
    ASSERT_EQ(to_bits(values[i]), to_bits(round_to_bf16(original[i]))) << i;
    // Round-to-nearest: relative error at most half a bf16 ulp (2^-8).
    ASSERT_LE(std::fabs(values[i] - original[i]), std::ldexp(std::fabs(original[i]), -8));
  }
}

// ---- TF32 ------------------------------------------------------------------------------------

TEST(Tf32, TruncateAndRound) {
  // TF32 keeps 10 mantissa bits; 1 + 2^-10 + 2^-11 truncates to 1 + 2^-10 and rounds (tie,
  // odd) up to 1 + 2^-9.
  std::vector<float> values = {1.0f + std::ldexp(1.0f, -10) + std::ldexp(1.0f, -11),
                               -(1.0f + std::ldexp(1.0f, -12))};
  std::vector<float> rounded = values;
  quantize_tf32(values, Tf32Conversion::Truncate);
  EXPECT_EQ(values[0], 1.0f + std::ldexp(1.0f, -10));
  EXPECT_EQ(values[1], -1.0f);
  quantize_tf32(rounded, Tf32Conversion::RoundNearestEven);
  EXPECT_EQ(rounded[0], 1.0f + std::ldexp(1.0f, -9));
  EXPECT_EQ(rounded[1], -1.0f);
}

// ---- block floats ----------------------------------------------------------------------------

TEST(Bfp8, SmallIntegersRoundTripExactly) {
  // Max |value| 15 gives shared exponent 2^3; 7 magnitude bits then resolve steps of 1/8.
  std::vector<float> values(32);
  for (int i = 0; i < 32; ++i) values[i] = static_cast<float>(i % 16) - 7.0f + (i >= 16 ? 0 : 1);
  const std::vector<float> original = values;
  quantize_bfp(values, 1, 32, DataType::BFloat8_B);
  EXPECT_EQ(values, original);
  std::vector<float> quarter = {0.25f, -0.5f, 0.75f, 1.0f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  const std::vector<float> quarter_original = quarter;
  quantize_bfp(quarter, 1, 16, DataType::BFloat4_B);  // 3 bits: 1/4 steps below 2
  EXPECT_EQ(quarter, quarter_original);
}

TEST(Bfp8, LargeValueFlushesSmallOnes) {
  // Shared exponent from 1024 (2^10): the step is 2^10 / 64 = 16.
  std::vector<float> values = {1024.0f, 0.001f, 3.0f, 8.0f, 24.0f, 17.0f, -40.0f, 1000.0f,
                               0,       0,      0,    0,    0,     0,     0,      -0.5f};
  quantize_bfp(values, 1, 16, DataType::BFloat8_B);
  EXPECT_EQ(values[0], 1024.0f);
  EXPECT_EQ(values[1], 0.0f);   // far below the step
  EXPECT_EQ(values[2], 0.0f);   // 3/16 rounds to 0
  EXPECT_EQ(values[3], 0.0f);   // 8/16 = 0.5: tie, to even (0)
  EXPECT_EQ(values[4], 32.0f);  // 24/16 = 1.5: tie, to even (2)
  EXPECT_EQ(values[5], 16.0f);  // 17/16 rounds to 1
  EXPECT_EQ(values[6], -32.0f);
  EXPECT_EQ(values[7], 992.0f);        // 1000/16 = 62.5: tie, to even (62)
  EXPECT_EQ(to_bits(values[15]), 0u);  // flushed values carry no sign
}

TEST(Bfp8, GroupsAreIndependentAcrossColumnsAndRows) {
  // Row 0: a large value in columns 0..15 only. Row 1: same small values everywhere.
  std::vector<float> values(2 * 32, 0.0f);
  values[0] = 4096.0f;
  for (int c = 1; c < 32; ++c) values[c] = 0.8125f;  // 13/16: exact with 7 bits
  for (int c = 0; c < 32; ++c) values[32 + c] = 0.8125f;
  quantize_bfp(values, 2, 32, DataType::BFloat8_B);
  EXPECT_EQ(values[0], 4096.0f);
  for (int c = 1; c < 16; ++c) EXPECT_EQ(values[c], 0.0f) << c;          // shares 4096's exponent
  for (int c = 16; c < 32; ++c) EXPECT_EQ(values[c], 0.8125f) << c;      // next group
  for (int c = 0; c < 32; ++c) EXPECT_EQ(values[32 + c], 0.8125f) << c;  // next row
}

TEST(Bfp8, MaximumSaturatesInsteadOfBumpingTheExponent) {
  // 1.999 would round to 128/64 = 2.0, but the magnitude saturates at 127 (tt-metal).
  std::vector<float> values(16, 0.0f);
  values[0] = 1.999f;
  quantize_bfp(values, 1, 16, DataType::BFloat8_B);
  EXPECT_EQ(values[0], 127.0f / 64.0f);
  std::vector<float> four(16, 0.0f);
  four[0] = 1.99f;
  quantize_bfp(four, 1, 16, DataType::BFloat4_B);
  EXPECT_EQ(four[0], 1.75f);  // 7/4
}

TEST(Bfp8, DevicePackerRoundsTiesAwayAndBfp4Truncates) {
  std::vector<float> host(16, 0.0f);
  host[0] = 1.0f;
  host[1] = 1.0f + 1.0f / 128.0f;  // 64.5 / 64: a bfp8 tie
  host[2] = 1.4f;                  // bfp4: 5.6 / 4
  std::vector<float> device = host;
  std::vector<float> host4 = host;
  std::vector<float> device4 = host;
  quantize_bfp(host, 1, 16, DataType::BFloat8_B, BfpRounding::HostNearestEven);
  quantize_bfp(device, 1, 16, DataType::BFloat8_B, BfpRounding::DevicePacker);
  EXPECT_EQ(host[1], 1.0f);             // tie to even
  EXPECT_EQ(device[1], 65.0f / 64.0f);  // tie away from zero
  quantize_bfp(host4, 1, 16, DataType::BFloat4_B, BfpRounding::HostNearestEven);
  quantize_bfp(device4, 1, 16, DataType::BFloat4_B, BfpRounding::DevicePacker);
  EXPECT_EQ(host4[2], 1.5f);     // 5.6 rounds to 6
  EXPECT_EQ(device4[2], 1.25f);  // bfp8 90 -> top 3 bits = 5
}

TEST(Bfp8, SpecialValuesTakeTheWholeGroup) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> values(32, 1.0f);
  values[3] = -inf;
  values[20] = std::numeric_limits<float>::quiet_NaN();
  quantize_bfp(values, 1, 32, DataType::BFloat8_B);
  EXPECT_EQ(values[3], -inf);
  EXPECT_EQ(values[0], 0.0f);  // finite values vanish next to exponent 255
  EXPECT_TRUE(std::isnan(values[20]));
  EXPECT_EQ(values[21], 0.0f);
}

// Scalar transcription of the conversion with integer shifts (tt-metal convert_u32_to_bfp for
// the host; FormatConversion.md for the packer), to check the vectorised implementation.
std::vector<float> reference_bfp(const std::vector<float>& group, int mag_bits, bool device) {
  std::vector<std::uint32_t> bits(16);
  std::uint32_t shared = 0;
  for (int i = 0; i < 16; ++i) {
    bits[i] = to_bits(group[i]) & (device ? 0xFFFF0000u : 0xFFFFFFFFu);
    shared = std::max(shared, (bits[i] >> 23) & 0xFF);
  }
  std::vector<float> out(16);
  for (int i = 0; i < 16; ++i) {
    const std::uint32_t exponent = (bits[i] >> 23) & 0xFF;
    if (exponent == 0) continue;  // zero / denormal
    std::uint32_t sig = (bits[i] & 0x7FFFFF) | 0x800000;
    sig >>= std::min<std::uint32_t>(shared - exponent, 31);
    std::uint32_t mag;
    if (device) {
      mag = std::min<std::uint32_t>((sig + (1u << 16)) >> 17, 127) >> (7 - mag_bits);
    } else {
      const int drop = 24 - mag_bits;
      const std::uint32_t rest = sig & ((1u << drop) - 1), half = 1u << (drop - 1);
      mag = sig >> drop;
      if (rest > half || (rest == half && (mag & 1))) ++mag;
      mag = std::min<std::uint32_t>(mag, (1u << mag_bits) - 1);
    }
    const float value =
        std::ldexp(static_cast<float>(mag), static_cast<int>(shared) - 127 - (mag_bits - 1));
    if (mag == 0 || value < std::numeric_limits<float>::min()) continue;
    out[i] = (bits[i] >> 31) ? -value : value;
  }
  return out;
}

TEST(Bfp8, MatchesScalarReferenceOverTheWholeExponentRange) {
  std::mt19937 rng(99);
  std::normal_distribution<float> mantissa(0.0f, 1.0f);
  std::uniform_int_distribution<int> spread(-12, 12);
  std::uniform_int_distribution<int> base(-140, 120);  // includes fp32 denormals
  const std::size_t rows = 64, cols = 64;
  std::vector<float> values(rows * cols);
  for (std::size_t g = 0; g < values.size(); g += 16) {
    const int group_base = base(rng);  // groups with tiny, normal and huge magnitudes
    for (std::size_t i = g; i < g + 16; ++i) {
      values[i] = std::ldexp(mantissa(rng), group_base + spread(rng));
    }
  }
  for (int mag_bits : {7, 3}) {
    for (bool device : {false, true}) {
      std::vector<float> quantized = values;
      quantize_bfp(quantized, rows, cols, mag_bits == 7 ? DataType::BFloat8_B : DataType::BFloat4_B,
                   device ? BfpRounding::DevicePacker : BfpRounding::HostNearestEven);
      for (std::size_t g = 0; g < values.size(); g += 16) {
        const std::vector<float> group(values.begin() + g, values.begin() + g + 16);
        const std::vector<float> expected = reference_bfp(group, mag_bits, device);
        for (std::size_t i = 0; i < 16; ++i) {
          ASSERT_EQ(to_bits(quantized[g + i]), to_bits(expected[i]))
              << "bits " << mag_bits << " device " << device << " value " << group[i];
        }
      }
    }
  }
}

TEST(Bfp4, CoarserThanBfp8CoarserThanBf16) {
  const std::vector<float> original = random_normal(64 * 64, 7);
  std::vector<float> bf16 = original, bfp8 = original, bfp4 = original;
  quantize(bf16, 64, 64, DataType::BFloat16);
  quantize(bfp8, 64, 64, DataType::BFloat8_B);
  quantize(bfp4, 64, 64, DataType::BFloat4_B);
  const double e16 = rel_error(original, bf16);
  const double e8 = rel_error(original, bfp8);
  const double e4 = rel_error(original, bfp4);
  EXPECT_LT(e16, e8);
  EXPECT_LT(e8, e4);
  // Orders of magnitude on N(0,1) data: bf16 ~2e-3, bfp8 ~1e-2, bfp4 ~0.1-0.2.
  EXPECT_LT(e16, 3e-3);
  EXPECT_LT(e8, 2e-2);
  EXPECT_GT(e4, 5e-2);
  EXPECT_LT(e4, 0.3);
}

TEST(Quantize, DispatchAndErrors) {
  std::vector<float> values = random_normal(32, 3);
  std::vector<float> same = values;
  quantize(same, 2, 16, DataType::Float32);
  EXPECT_EQ(same, values);
  std::vector<float> bf16 = values;
  quantize(bf16, 2, 16, DataType::BFloat16);
  for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(bf16[i], round_to_bf16(values[i]));
  EXPECT_THROW(quantize(values, 2, 16, DataType::UInt32), Error);
  EXPECT_THROW(quantize(values, 2, 16, DataType::Int32), Error);
  std::vector<float> ragged(24, 1.0f);
  EXPECT_THROW(quantize_bfp(ragged, 2, 12, DataType::BFloat8_B), Error);
  EXPECT_THROW(quantize_bfp(ragged, 1, 16, DataType::BFloat8_B), Error);  // size mismatch
  EXPECT_THROW(quantize_bfp(values, 2, 16, DataType::BFloat16), Error);
}

// ---- tiles -------------------------------------------------------------------------------------

TEST(Tile, PackedSizesMatchTileBytes) {
  const std::vector<float> tile = random_normal(kTileValues, 11);
  EXPECT_EQ(pack_tile(tile, DataType::Float32).size(), 4096u);
  EXPECT_EQ(pack_tile(tile, DataType::BFloat16).size(), 2048u);
  EXPECT_EQ(pack_tile(tile, DataType::BFloat8_B).size(), 1088u);
  EXPECT_EQ(pack_tile(tile, DataType::BFloat4_B).size(), 576u);
  for (DataType type :
       {DataType::Float32, DataType::BFloat16, DataType::BFloat8_B, DataType::BFloat4_B}) {
    EXPECT_EQ(pack_tile(tile, type).size(), tile_bytes(type));
  }
  EXPECT_THROW(pack_tile(std::vector<float>(100), DataType::BFloat16), Error);
  EXPECT_THROW(pack_tile(tile, DataType::UInt32), Error);
  EXPECT_THROW(unpack_tile(std::vector<std::uint8_t>(1000), DataType::BFloat8_B), Error);
}

TEST(Tile, RoundTripEqualsQuantize) {
  const std::vector<float> tile = random_normal(kTileValues, 12, 3.0f);
  for (DataType type :
       {DataType::Float32, DataType::BFloat16, DataType::BFloat8_B, DataType::BFloat4_B}) {
    for (BfpRounding rounding : {BfpRounding::HostNearestEven, BfpRounding::DevicePacker}) {
      std::vector<float> expected = tile;
      quantize(expected, kTileDim, kTileDim, type, rounding);
      const std::vector<float> round_trip = unpack_tile(pack_tile(tile, type, rounding), type);
      ASSERT_EQ(round_trip.size(), kTileValues);
      for (std::size_t i = 0; i < kTileValues; ++i) {
        ASSERT_EQ(to_bits(round_trip[i]), to_bits(expected[i]))
            << wormsim::ops::to_string(type) << " value " << i;
      }
    }
  }
}

TEST(Tile, BlockFloatByteLayout) {
  // Tile row r holds value 2^(r % 8) in the left half and 3 * 2^(r % 4) in the right half, so
  // every face row has its own recognisable exponent.
  std::vector<float> tile(kTileValues);
  for (std::size_t r = 0; r < kTileDim; ++r) {
    for (std::size_t c = 0; c < kTileDim; ++c) {
      tile[r * kTileDim + c] = c < 16 ? std::ldexp(1.0f, static_cast<int>(r % 8))
                                      : -3.0f * std::ldexp(1.0f, static_cast<int>(r % 4));
    }
  }
  const std::vector<std::uint8_t> bfp8 = pack_tile(tile, DataType::BFloat8_B);
  // Exponent section: face0 rows 0..15, face1 (right half of rows 0..15), face2, face3.
  EXPECT_EQ(bfp8[0], 127);           // face0 row 0: 1.0
  EXPECT_EQ(bfp8[5], 127 + 5);       // face0 row 5: 32
  EXPECT_EQ(bfp8[16 + 2], 127 + 3);  // face1 row 2: -12 -> exponent of 8
  EXPECT_EQ(bfp8[32 + 1], 127 + 1);  // face2 row 1 = tile row 17: 2^(17%8) = 2
  EXPECT_EQ(bfp8[48 + 1], 127 + 2);  // face3 row 1 = tile row 17, right: -3*2 -> 4
  // Data: a power of two is magnitude 64 (1.0 in 1.6 fixed point); -3*2^k is sign + 96.
  EXPECT_EQ(bfp8[64 + 0], 64);                            // face0 datum 0
  EXPECT_EQ(bfp8[64 + 256 + 0], 0x80 | 96);               // face1 datum 0 = tile(0,16)
  EXPECT_EQ(bfp8[64 + 3 * 256 + 1 * 16 + 4], 0x80 | 96);  // tile(17, 20)
  const std::vector<std::uint8_t> bfp4 = pack_tile(tile, DataType::BFloat4_B);
  EXPECT_EQ(bfp4[2], 127 + 2);
  // Two datums per byte, even one in the low nibble: 1.0 = magnitude 4 -> 0x44.
  EXPECT_EQ(bfp4[64 + 0], 0x44);
  // face1 datums: sign + magnitude 6 (1.5 in 1.2 fixed point) = 0xE -> 0xEE.
  EXPECT_EQ(bfp4[64 + 128], 0xEE);
  const std::vector<std::uint8_t> bf16 = pack_tile(tile, DataType::BFloat16);
  // face1 starts at byte 512 with tile(0,16) = -3.0 = 0xC040 (little-endian).
  EXPECT_EQ(bf16[512], 0x40);
  EXPECT_EQ(bf16[513], 0xC0);
}

TEST(Tile, NegativeZeroCodeReadsAsMinusInfinity) {
  // The hardware reads sign=1, magnitude=0 as -2^128 (FloatBitPatterns.md); packers never
  // produce it, but a hand-made tile can contain it.
  std::vector<std::uint8_t> bytes(tile_bytes(DataType::BFloat8_B), 0);
  bytes[0] = 130;
  bytes[64] = 0x80;
  bytes[65] = 0x40;  // +1.0 * 2^3
  const std::vector<float> tile = unpack_tile(bytes, DataType::BFloat8_B);
  EXPECT_EQ(tile[0], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(tile[1], 8.0f);
  EXPECT_EQ(tile[2], 0.0f);
}

}  // namespace
