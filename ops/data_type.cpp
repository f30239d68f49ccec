#include "ops/data_type.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "sim/error.hpp"

namespace wormsim::ops {
namespace {

// Tile geometry is a format property, not a tunable hardware constant: 32x32 values, plus
// 64 bytes of shared exponents (4 faces x 16 rows) for the block-float formats.
constexpr std::uint32_t kTileValues = 32 * 32;
constexpr std::uint32_t kBlockFloatExponentBytes = 64;

struct Alias {
  std::string_view text;
  DataType type;
};
constexpr std::array<Alias, 17> kAliases = {{
    {"float32", DataType::Float32},     {"fp32", DataType::Float32},
    {"f32", DataType::Float32},         {"bfloat16", DataType::BFloat16},
    {"bf16", DataType::BFloat16},       {"float16_b", DataType::BFloat16},
    {"bfloat8_b", DataType::BFloat8_B}, {"bfp8", DataType::BFloat8_B},
    {"bfp8_b", DataType::BFloat8_B},    {"bf8", DataType::BFloat8_B},
    {"bfloat4_b", DataType::BFloat4_B}, {"bfp4", DataType::BFloat4_B},
    {"bfp4_b", DataType::BFloat4_B},    {"bf4", DataType::BFloat4_B},
    {"uint32", DataType::UInt32},       {"int32", DataType::Int32},
    {"u32", DataType::UInt32},
}};

}  // namespace

std::string_view to_string(DataType type) {
  switch (type) {
    case DataType::Float32: return "FLOAT32";
    case DataType::BFloat16: return "BFLOAT16";
    case DataType::BFloat8_B: return "BFLOAT8_B";
    case DataType::BFloat4_B: return "BFLOAT4_B";
    case DataType::UInt32: return "UINT32";
    case DataType::Int32: return "INT32";
  }
  return "UNKNOWN";
}

std::optional<DataType> parse_data_type(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.rfind("datatype.", 0) == 0) lower = lower.substr(9);
  for (const Alias& alias : kAliases) {
    if (alias.text == lower) return alias.type;
  }
  return std::nullopt;
}

std::uint32_t element_bytes(DataType type) {
  switch (type) {
    case DataType::Float32:
    case DataType::UInt32:
    case DataType::Int32: return 4;
    case DataType::BFloat16: return 2;
    case DataType::BFloat8_B:
    case DataType::BFloat4_B:
      throw Error("data type " + std::string(to_string(type)) +
                  " has no row-major element size: block-float data exists only in TILE layout");
  }
  return 0;
}

std::uint32_t tile_bytes(DataType type) {
  switch (type) {
    case DataType::BFloat8_B: return kTileValues + kBlockFloatExponentBytes;
    case DataType::BFloat4_B: return kTileValues / 2 + kBlockFloatExponentBytes;
    default: return kTileValues * element_bytes(type);
  }
}

bool is_block_float(DataType type) {
  return type == DataType::BFloat8_B || type == DataType::BFloat4_B;
}

}  // namespace wormsim::ops
