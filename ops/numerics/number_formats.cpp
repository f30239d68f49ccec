#include "ops/numerics/number_formats.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <string>

#include "sim/error.hpp"
#include "sim/parallel.hpp"

namespace wormsim::ops::numerics {
namespace {

static_assert(std::endian::native == std::endian::little,
              "tile byte layouts are little-endian, as on the host tt-metal runs on");

using detail::kAbsMask;
using detail::kExpMask;
using detail::kQuietBit;
using detail::kSignMask;
using detail::round_bits_nearest_even;
constexpr std::uint32_t kImplicitOne = 0x00800000u;
constexpr std::uint32_t kMantissaMask = 0x007FFFFFu;

inline std::uint32_t bits_of(float value) { return std::bit_cast<std::uint32_t>(value); }
inline float float_of(std::uint32_t bits) { return std::bit_cast<float>(bits); }

template <int kDroppedBits>
inline std::uint32_t truncate_bits(std::uint32_t u) {
  constexpr std::uint32_t keep_mask = ~((1u << kDroppedBits) - 1u);
  const bool is_nan = (u & kAbsMask) > kExpMask;
  std::uint32_t truncated = u & keep_mask;
  truncated = (u & kExpMask) == 0 ? (u & kSignMask) : truncated;
  return is_nan ? ((u | kQuietBit) & keep_mask) : truncated;
}

template <typename BitFunction>
inline void transform_bits(std::span<float> values, BitFunction function) {
  float* data = values.data();
  const std::size_t count = values.size();
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t u;
    std::memcpy(&u, data + i, sizeof u);
    u = function(u);
    std::memcpy(data + i, &u, sizeof u);
  }
}

// ---- block-float groups --------------------------------------------------------------------
// A group is 16 fp32 patterns sharing one exponent. The per-value steps are written without
// branches (selects on uint32) so the fixed 16-wide loops vectorise.

// The fp32 pattern the converter starts from: the device packer first truncates to bf16
// (FormatConversion.md, late conversion "Converted to BF16 (as per first row)").
template <BfpRounding kRounding>
inline std::uint32_t converter_input(std::uint32_t u) {
  return kRounding == BfpRounding::DevicePacker ? (u & 0xFFFF0000u) : u;
}

// Shared exponent field (0..255) of a group: the largest exponent, as tt-metal's get_max_exp.
inline std::uint32_t shared_exponent(const std::array<std::uint32_t, kBfpGroup>& bits) {
  std::uint32_t largest = 0;
  for (std::size_t i = 0; i < kBfpGroup; ++i) largest = std::max(largest, bits[i] & kExpMask);
  return largest >> 23;
}

// Each value's 24-bit significand shifted right by (shared - own exponent), the shifted-out bits
// dropped. For finite groups this is one exact power-of-two multiply and a truncating convert,
// which vectorises (a per-lane variable shift does not on baseline x86-64): |x| * 2^(150-shared)
// = significand / 2^(shared-exponent). The scale is split in two factors so both stay normal
// floats; an intermediate can only lose bits when the final result is below 1 anyway.
inline void align_finite(const std::array<std::uint32_t, kBfpGroup>& bits, std::uint32_t shared,
                         std::array<std::uint32_t, kBfpGroup>& aligned) {
  const int total = 150 - static_cast<int>(shared);  // in [-104, 150]
  const int first = total / 2;
  const int second = total - first;
  const float scale_first = float_of(static_cast<std::uint32_t>(127 + first) << 23);
  const float scale_second = float_of(static_cast<std::uint32_t>(127 + second) << 23);
  for (std::size_t i = 0; i < kBfpGroup; ++i) {
    const float magnitude = float_of(bits[i] & kAbsMask);
    aligned[i] = static_cast<std::uint32_t>(
        static_cast<std::int32_t>(magnitude * scale_first * scale_second));
  }
}

// The same with integer shifts, for groups holding inf/NaN (shared exponent 255).
inline void align_special(const std::array<std::uint32_t, kBfpGroup>& bits, std::uint32_t shared,
                          std::array<std::uint32_t, kBfpGroup>& aligned) {
  for (std::size_t i = 0; i < kBfpGroup; ++i) {
    const std::uint32_t exponent = (bits[i] & kExpMask) >> 23;
    const std::uint32_t shift = std::min<std::uint32_t>(shared - exponent, 31u);
    aligned[i] = ((bits[i] & kMantissaMask) | kImplicitOne) >> shift;
  }
}

inline void align(const std::array<std::uint32_t, kBfpGroup>& bits, std::uint32_t shared,
                  std::array<std::uint32_t, kBfpGroup>& aligned) {
  if (shared == 255) {
    align_special(bits, shared, aligned);
  } else {
    align_finite(bits, shared, aligned);
  }
}

// Magnitude (kMagBits wide) of one value from its aligned significand. kMagBits = 7 (bfp8) or
// 3 (bfp4). Zeros and fp32 denormals give 0.
template <int kMagBits, BfpRounding kRounding>
inline std::uint32_t round_magnitude(std::uint32_t u, std::uint32_t aligned) {
  constexpr std::uint32_t kMaxMag = (1u << kMagBits) - 1u;
  std::uint32_t mag;
  if constexpr (kRounding == BfpRounding::HostNearestEven) {
    // Only the bits left after alignment decide ties (as in tt-metal's convert_u32_to_bfp).
    constexpr int kDrop = 24 - kMagBits;
    constexpr std::uint32_t kHalf = 1u << (kDrop - 1);
    const std::uint32_t rest = aligned & ((1u << kDrop) - 1u);
    mag = aligned >> kDrop;
    const std::uint32_t round_up = static_cast<std::uint32_t>(rest > kHalf) |
                                   (static_cast<std::uint32_t>(rest == kHalf) & mag);
    mag = std::min(mag + (round_up & 1u), kMaxMag);
  } else {
    // Round half away from zero to the 7 BFP8 bits; BFP4 keeps the top 3 of those.
    const std::uint32_t mag8 = std::min((aligned + (1u << 16)) >> 17, 127u);
    mag = mag8 >> (7 - kMagBits);
  }
  // Selects as masks: a ?: here becomes control flow that blocks vectorisation.
  return mag & (0u - static_cast<std::uint32_t>((u & kExpMask) != 0));
}

// fp32 pattern of sign * mag / 2^(kMagBits-1) * 2^(shared-127), built from the float conversion
// of the magnitude by moving its exponent field. A result below the normal range flushes to 0
// (as BF16 it would be a denormal, which the FPU reads as 0); a zero magnitude is +0.
template <int kMagBits>
inline std::uint32_t decode_magnitude(std::uint32_t mag, std::uint32_t sign_bit,
                                      std::uint32_t shared) {
  const std::uint32_t mag_bits = bits_of(static_cast<float>(static_cast<std::int32_t>(mag)));
  const std::int32_t offset = static_cast<std::int32_t>(shared) - 127 - (kMagBits - 1);
  const std::int32_t exponent = static_cast<std::int32_t>(mag_bits >> 23) + offset;
  const std::uint32_t value = sign_bit | (mag_bits + (static_cast<std::uint32_t>(offset) << 23));
  const auto keep = static_cast<std::uint32_t>((mag != 0) & (exponent > 0));
  return value & (0u - keep);
}

// Quantizes one group of 16 floats in place.
template <int kMagBits, BfpRounding kRounding>
inline void quantize_group(float* data) {
  std::array<std::uint32_t, kBfpGroup> bits;
  std::memcpy(bits.data(), data, sizeof bits);
  for (std::size_t i = 0; i < kBfpGroup; ++i) bits[i] = converter_input<kRounding>(bits[i]);
  const std::uint32_t shared = shared_exponent(bits);
  std::array<std::uint32_t, kBfpGroup> aligned;
  align(bits, shared, aligned);
  for (std::size_t i = 0; i < kBfpGroup; ++i) {
    const std::uint32_t mag = round_magnitude<kMagBits, kRounding>(bits[i], aligned[i]);
    bits[i] = decode_magnitude<kMagBits>(mag, bits[i] & kSignMask, shared);
  }
  std::memcpy(data, bits.data(), sizeof bits);
}

// Groups are independent, so large matrices are quantized on all cores.
template <int kMagBits, BfpRounding kRounding>
void quantize_bfp_rows(std::span<float> values, std::size_t rows, std::size_t cols) {
  float* data = values.data();
  const std::size_t groups = rows * cols / kBfpGroup;
  sim::run_ranges(groups, sim::kParallelValues / kBfpGroup,
                  [&](std::size_t first, std::size_t last) {
                    for (std::size_t g = first; g < last; ++g)
                      quantize_group<kMagBits, kRounding>(data + g * kBfpGroup);
                  });
}

// One group in its stored form: the shared exponent and 16 sign|magnitude codes.
struct BfpGroup {
  std::uint8_t exponent = 0;
  std::array<std::uint8_t, kBfpGroup> codes{};
};

template <int kMagBits, BfpRounding kRounding>
BfpGroup encode_group(const float* data) {
  std::array<std::uint32_t, kBfpGroup> bits;
  std::memcpy(bits.data(), data, sizeof bits);
  for (std::size_t i = 0; i < kBfpGroup; ++i) bits[i] = converter_input<kRounding>(bits[i]);
  const std::uint32_t shared = shared_exponent(bits);
  std::array<std::uint32_t, kBfpGroup> aligned;
  align(bits, shared, aligned);
  BfpGroup group;
  group.exponent = static_cast<std::uint8_t>(shared);
  for (std::size_t i = 0; i < kBfpGroup; ++i) {
    const std::uint32_t mag = round_magnitude<kMagBits, kRounding>(bits[i], aligned[i]);
    const std::uint32_t sign = mag == 0 ? 0u : (bits[i] >> 31);  // no negative zero codes
    group.codes[i] = static_cast<std::uint8_t>((sign << kMagBits) | mag);
  }
  return group;
}

template <int kMagBits>
BfpGroup encode_with(const float* data, BfpRounding rounding) {
  return rounding == BfpRounding::HostNearestEven
             ? encode_group<kMagBits, BfpRounding::HostNearestEven>(data)
             : encode_group<kMagBits, BfpRounding::DevicePacker>(data);
}

// A stored code back to fp32. Sign 1 with magnitude 0 is what the hardware reads as -2^128,
// i.e. -inf (FloatBitPatterns.md, BFP8ToBF16); packers never write it.
template <int kMagBits>
std::uint32_t decode_code(std::uint8_t code, std::uint32_t shared) {
  constexpr std::uint32_t kMaxMag = (1u << kMagBits) - 1u;
  const std::uint32_t mag = code & kMaxMag;
  const std::uint32_t sign_bit = static_cast<std::uint32_t>((code >> kMagBits) & 1u) << 31;
  if (mag == 0) return sign_bit ? 0xFF800000u : 0u;
  return decode_magnitude<kMagBits>(mag, sign_bit, shared);
}

void require_float_type(DataType type, const char* what) {
  if (type == DataType::UInt32 || type == DataType::Int32) {
    throw Error(std::string(what) + ": " + std::string(to_string(type)) +
                " is not a floating-point format; only FLOAT32, BFLOAT16, BFLOAT8_B and "
                "BFLOAT4_B can be quantized");
  }
}

// Row-major index inside a 32x32 tile of column `col` of face row `row` of face `face`.
inline std::size_t tile_index(std::size_t face, std::size_t row, std::size_t col) {
  return ((face / 2) * kFaceDim + row) * kTileDim + (face % 2) * kFaceDim + col;
}

}  // namespace

// ---- bfloat16 / tf32 -------------------------------------------------------------------------

std::uint16_t to_bf16_bits(float value) {
  return static_cast<std::uint16_t>(round_bits_nearest_even<16>(bits_of(value)) >> 16);
}

float from_bf16_bits(std::uint16_t bits) {
  return float_of(static_cast<std::uint32_t>(bits) << 16);
}

void quantize_bf16(std::span<float> values) {
  sim::run_ranges(values.size(), sim::kParallelValues, [&](std::size_t first, std::size_t last) {
    transform_bits(values.subspan(first, last - first),
                   [](std::uint32_t u) { return round_bits_nearest_even<16>(u); });
  });
}

void quantize_tf32(std::span<float> values, Tf32Conversion mode) {
  if (mode == Tf32Conversion::Truncate) {
    transform_bits(values, [](std::uint32_t u) { return truncate_bits<13>(u); });
  } else {
    transform_bits(values, [](std::uint32_t u) { return round_bits_nearest_even<13>(u); });
  }
}

// ---- block floats ----------------------------------------------------------------------------

void quantize_bfp(std::span<float> values, std::size_t rows, std::size_t cols, DataType type,
                  BfpRounding rounding) {
  if (!is_block_float(type)) {
    throw Error("quantize_bfp: " + std::string(to_string(type)) +
                " is not a block-float type (use BFLOAT8_B or BFLOAT4_B)");
  }
  if (cols % kBfpGroup != 0) {
    throw Error("quantize_bfp: " + std::to_string(cols) +
                " columns is not a multiple of 16; block-float data shares one exponent per 16 "
                "values of a face row, so pad the matrix to whole tiles first");
  }
  if (values.size() != rows * cols) {
    throw Error("quantize_bfp: " + std::to_string(values.size()) + " values given for a " +
                std::to_string(rows) + "x" + std::to_string(cols) + " matrix");
  }
  const bool host = rounding == BfpRounding::HostNearestEven;
  if (type == DataType::BFloat8_B) {
    host ? quantize_bfp_rows<7, BfpRounding::HostNearestEven>(values, rows, cols)
         : quantize_bfp_rows<7, BfpRounding::DevicePacker>(values, rows, cols);
  } else {
    host ? quantize_bfp_rows<3, BfpRounding::HostNearestEven>(values, rows, cols)
         : quantize_bfp_rows<3, BfpRounding::DevicePacker>(values, rows, cols);
  }
}

void quantize(std::span<float> values, std::size_t rows, std::size_t cols, DataType type,
              BfpRounding rounding) {
  require_float_type(type, "quantize");
  switch (type) {
    case DataType::Float32:
      return;
    case DataType::BFloat16:
      quantize_bf16(values);
      return;
    default:
      quantize_bfp(values, rows, cols, type, rounding);
      return;
  }
}

// ---- tiles -------------------------------------------------------------------------------------

std::vector<std::uint8_t> pack_tile(std::span<const float> tile, DataType type,
                                    BfpRounding rounding) {
  require_float_type(type, "pack_tile");
  if (tile.size() != kTileValues) {
    throw Error("pack_tile: a tile is 32x32 = 1024 values, got " + std::to_string(tile.size()));
  }
  std::vector<std::uint8_t> bytes(tile_bytes(type), 0);
  std::size_t out = 0;
  if (type == DataType::Float32 || type == DataType::BFloat16) {
    for (std::size_t face = 0; face < 4; ++face) {
      for (std::size_t row = 0; row < kFaceDim; ++row) {
        for (std::size_t col = 0; col < kFaceDim; ++col) {
          const float value = tile[tile_index(face, row, col)];
          if (type == DataType::Float32) {
            std::memcpy(bytes.data() + out, &value, 4);
            out += 4;
          } else {
            const std::uint16_t half = to_bf16_bits(value);
            std::memcpy(bytes.data() + out, &half, 2);
            out += 2;
          }
        }
      }
    }
    return bytes;
  }
  const bool bfp8 = type == DataType::BFloat8_B;
  constexpr std::size_t kExponentBytes = 64;
  for (std::size_t face = 0; face < 4; ++face) {
    for (std::size_t row = 0; row < kFaceDim; ++row) {
      const float* row_data = tile.data() + tile_index(face, row, 0);
      const BfpGroup group =
          bfp8 ? encode_with<7>(row_data, rounding) : encode_with<3>(row_data, rounding);
      const std::size_t group_index = face * kFaceDim + row;
      bytes[group_index] = group.exponent;
      for (std::size_t i = 0; i < kBfpGroup; ++i) {
        const std::size_t datum = group_index * kBfpGroup + i;
        if (bfp8) {
          bytes[kExponentBytes + datum] = group.codes[i];
        } else {
          // Two datums per byte, the even one in the low nibble.
          bytes[kExponentBytes + datum / 2] |=
              static_cast<std::uint8_t>(group.codes[i] << (4 * (datum % 2)));
        }
      }
    }
  }
  return bytes;
}

std::vector<float> unpack_tile(std::span<const std::uint8_t> bytes, DataType type) {
  require_float_type(type, "unpack_tile");
  if (bytes.size() != tile_bytes(type)) {
    throw Error("unpack_tile: a " + std::string(to_string(type)) + " tile is " +
                std::to_string(tile_bytes(type)) + " bytes, got " + std::to_string(bytes.size()));
  }
  std::vector<float> tile(kTileValues);
  constexpr std::size_t kExponentBytes = 64;
  for (std::size_t face = 0; face < 4; ++face) {
    for (std::size_t row = 0; row < kFaceDim; ++row) {
      const std::size_t group_index = face * kFaceDim + row;
      for (std::size_t col = 0; col < kFaceDim; ++col) {
        const std::size_t datum = group_index * kBfpGroup + col;
        float& value = tile[tile_index(face, row, col)];
        switch (type) {
          case DataType::Float32:
            std::memcpy(&value, bytes.data() + 4 * datum, 4);
            break;
          case DataType::BFloat16: {
            std::uint16_t half;
            std::memcpy(&half, bytes.data() + 2 * datum, 2);
            value = from_bf16_bits(half);
            break;
          }
          case DataType::BFloat8_B:
            value = float_of(decode_code<7>(bytes[kExponentBytes + datum], bytes[group_index]));
            break;
          default: {
            const std::uint8_t pair = bytes[kExponentBytes + datum / 2];
            const auto code = static_cast<std::uint8_t>((pair >> (4 * (datum % 2))) & 0xF);
            value = float_of(decode_code<3>(code, bytes[group_index]));
            break;
          }
        }
      }
    }
  }
  return tile;
}

}  // namespace wormsim::ops::numerics
