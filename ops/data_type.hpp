#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wormsim::ops {

// Element types as TT-NN names them. The block-float types store one shared 8-bit exponent
// per 16 values of a face row; their tile sizes include that exponent section.
enum class DataType { Float32, BFloat16, BFloat8_B, BFloat4_B, UInt32, Int32 };

// TT-NN spelling used in profiles: "FLOAT32", "BFLOAT16", "BFLOAT8_B", ...
std::string_view to_string(DataType type);
// Accepts TT-NN spellings and lower-case aliases (bfloat8_b, bf16, bfp8, fp32, ...).
std::optional<DataType> parse_data_type(std::string_view text);

// Bytes of one 32x32 tile in L1/DRAM: 4096, 2048, 1088, 576, 4096, 4096.
std::uint32_t tile_bytes(DataType type);
// Bytes per element of a ROW_MAJOR page (block-float types cannot be row-major).
std::uint32_t element_bytes(DataType type);
bool is_block_float(DataType type);

}  // namespace wormsim::ops
