#pragma once
// Number formats of the Wormhole N300 as tiles store them: bfloat16, TF32 (the Src register
// format of fp32 data), and the block-float formats bfloat8_b / bfloat4_b. Every "quantize"
// rewrites floats in place with the value the format represents, so the rest of the simulator
// keeps computing on plain floats while seeing exactly the precision the hardware has.
//
// Hardware facts used here (paths in tenstorrent/tt-isa-documentation, WormholeB0/TensixTile/
// TensixCoprocessor/; and tenstorrent/tt-metal):
// - FloatBitPatterns.md: the FPU and SFPU read BF16/TF32/FP32 denormals as +-0, and packer
//   rounding (Packers/FormatConversion.md) flushes denormals to zero. So a bf16 value whose
//   exponent field is 0 is treated as zero here.
// - BFP tiles (FloatBitPatterns.md "BFP", tt-metal tt_metal/impl/data_format/
//   blockfloat_common.cpp): 16 values of one face row share an 8-bit exponent; each value is a
//   sign and a 7-bit (bfp8) / 3-bit (bfp4) magnitude with an explicit leading bit, so
//   value = mag / 2^(bits-1) * 2^(exp-127).
// - Tile byte layout (blockfloat_common.cpp pack_fp32_vec_as_bfp_tiles): 64 exponent bytes
//   (face0 rows 0..15, face1, face2, face3), then the faces' data, each face row-major; datum 0
//   of a dword sits in its least significant bits (bfp4: low nibble first).
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ops/data_type.hpp"

namespace wormsim::ops::numerics {

// Geometry of one tile and of one shared-exponent group.
inline constexpr std::size_t kTileDim = 32;
inline constexpr std::size_t kFaceDim = 16;
inline constexpr std::size_t kTileValues = kTileDim * kTileDim;
inline constexpr std::size_t kBfpGroup = 16;  // values per shared exponent (one face row)

namespace detail {
inline constexpr std::uint32_t kSignMask = 0x80000000u;
inline constexpr std::uint32_t kExpMask = 0x7F800000u;
inline constexpr std::uint32_t kAbsMask = 0x7FFFFFFFu;
inline constexpr std::uint32_t kQuietBit = 0x00400000u;

// Round-to-nearest-even of an fp32 pattern, dropping its low kDroppedBits (16 for bf16, 13 for
// tf32); written so that a loop over it compiles to blends, not branches.
template <int kDroppedBits>
inline std::uint32_t round_bits_nearest_even(std::uint32_t u) {
  constexpr std::uint32_t keep_mask = ~((1u << kDroppedBits) - 1u);
  constexpr std::uint32_t half_minus_one = (1u << (kDroppedBits - 1)) - 1u;
  const std::uint32_t lsb = (u >> kDroppedBits) & 1u;
  // Carries propagate into the exponent, so overflow past the largest finite becomes inf.
  std::uint32_t rounded = (u + half_minus_one + lsb) & keep_mask;
  const bool is_nan = (u & kAbsMask) > kExpMask;
  const bool flushed = (rounded & kExpMask) == 0;  // zero or denormal: the FPU reads it as 0
  rounded = flushed ? (rounded & kSignMask) : rounded;
  // A NaN must not round into inf (or wrap into the sign bit): keep it a quiet NaN.
  return is_nan ? ((u | kQuietBit) & keep_mask) : rounded;
}

}  // namespace detail

// ---- bfloat16 ----------------------------------------------------------------------------
// Round-to-nearest-even to bfloat16; NaN stays a (quiet) NaN, inf stays inf, values that round
// past the largest bf16 become inf, and results with a zero exponent field (denormals) become
// signed zero, as the Tensix FPU reads them.
// Inline: element-wise device numerics call it per value.
inline float round_to_bf16(float value) {
  return std::bit_cast<float>(
      detail::round_bits_nearest_even<16>(std::bit_cast<std::uint32_t>(value)));
}
// The 16-bit pattern of round_to_bf16(value) and back.
std::uint16_t to_bf16_bits(float value);
float from_bf16_bits(std::uint16_t bits);
// In place, vectorised (branch-free loop over bit patterns).
void quantize_bf16(std::span<float> values);

// ---- TF32 (Src register format for fp32 data) --------------------------------------------
enum class Tf32Conversion {
  // What the unpacker does for FP32 -> Src: "throwing away the low 13 bits of mantissa"
  // (SrcASrcB.md, Data types). Denormals become signed zero.
  Truncate,
  // Round-to-nearest-even to 10 mantissa bits (what the packer's Round_10b_mant path does on
  // the way out; offered for completeness).
  RoundNearestEven,
};
void quantize_tf32(std::span<float> values, Tf32Conversion mode = Tf32Conversion::Truncate);

// ---- block floats (bfloat8_b / bfloat4_b) ------------------------------------------------
// Who produces the block-float data decides how it rounds.
enum class BfpRounding {
  // tt-metal host conversion (ttnn.from_torch / to_dtype -> pack_fp32_vec_as_bfp_tiles ->
  // convert_u32_to_bfp<.., truncate=false>, tt_metal/impl/data_format/blockfloat_common.cpp):
  // shared exponent = max fp32 exponent of the 16 values; each 24-bit significand is shifted
  // right by (shared - own exponent) discarding the shifted-out bits, then rounded to the
  // 7 / 3 magnitude bits to nearest with ties to even (only the bits left after the shift count
  // for the tie), and saturated at 127 / 7 (no exponent bump). Both bfp8 and bfp4 round this way.
  // (Older tt-metal, tt_eager bfloat8.hpp convert_u32_to_bfp8, added half and shifted: ties
  // away from zero despite its "nearest even" comment; the current code breaks ties to even.)
  HostNearestEven,
  // The Tensix packer writing an op's output (Packers/FormatConversion.md, late conversion):
  // the datum is first truncated to bf16, then rounded to BFP8 to nearest with ties away from
  // zero; BFP4 is that BFP8 magnitude truncated to its top 3 bits. The shared exponent is the
  // largest one of the group; saturating at 127 instead of bumping it is assumed (undocumented).
  DevicePacker,
};

// Quantizes a row-major [rows, cols] matrix in place to bfloat8_b or bfloat4_b: every aligned
// group of 16 columns in one row shares an exponent (in a tiled tensor that is one face row).
// cols must be a multiple of 16; type must be BFloat8_B or BFloat4_B. NaN/inf make the group's
// shared exponent 255 (the group's finite values flush to 0, the special value decodes to
// inf or NaN as tt-metal's unpacker would). fp32 denormal inputs count as zero, and a decoded
// value below the normal fp32 range (tiny shared exponents) flushes to zero, as the FPU would
// read that BF16 denormal.
void quantize_bfp(std::span<float> values, std::size_t rows, std::size_t cols, DataType type,
                  BfpRounding rounding = BfpRounding::HostNearestEven);

// Dispatcher over the float formats: Float32 = unchanged, BFloat16 = round_to_bf16,
// BFloat8_B / BFloat4_B = quantize_bfp. UInt32 / Int32 are not float formats and throw Error.
void quantize(std::span<float> values, std::size_t rows, std::size_t cols, DataType type,
              BfpRounding rounding = BfpRounding::HostNearestEven);

// ---- tile packing -------------------------------------------------------------------------
// Packs one 32x32 tile given row-major (1024 floats) into exactly tile_bytes(type) bytes in
// TILE layout: face0..face3, each face row-major. Float32: 4-byte little-endian floats;
// BFloat16: 2-byte RNE patterns; BFloat8_B / BFloat4_B: 64 exponent bytes then data.
std::vector<std::uint8_t> pack_tile(std::span<const float> tile, DataType type,
                                    BfpRounding rounding = BfpRounding::HostNearestEven);
// Inverse of pack_tile: tile_bytes(type) bytes -> 1024 row-major floats.
std::vector<float> unpack_tile(std::span<const std::uint8_t> bytes, DataType type);

}  // namespace wormsim::ops::numerics
