#pragma once
// Image and array files of the depth demo (`wormsim run --input IMAGE --dump-depth FILE`,
// docs/models.md "Depth demo"):
//
//  - reading PPM (P6 binary and P3 text, maxval 255) and PNG (8-bit greyscale, greyscale +
//    alpha, RGB, RGBA; non-interlaced; all five row filters) into 8-bit RGB. Grey is replicated
//    to R = G = B and alpha is dropped, as PIL's Image.convert("RGB") does before HuggingFace's
//    image processors see the pixels. 16-bit, palette, sub-8-bit and interlaced PNGs are
//    refused with a message that says which and how to convert;
//  - writing PPM (P6), PNG (8-bit RGB, zlib, CRCs) and NumPy .npy files (format version 1.0:
//    little-endian float32, C order, 2-D);
//  - the 'inferno' colormap used to draw depth maps.
//
// Every reader throws wormsim::Error naming the file and what is wrong (missing, unsupported,
// truncated, bad CRC, corrupt). Every writer goes through a temporary file in the target's
// directory and a rename, so a failure never leaves a partial file behind.
#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace wormsim::workloads {

// An 8-bit RGB image: `pixels` holds height rows of width pixels, each R, G, B.
struct RgbImage {
  std::uint32_t width{0};
  std::uint32_t height{0};
  std::vector<std::uint8_t> pixels;

  std::uint8_t at(std::uint32_t x, std::uint32_t y, std::uint32_t channel) const {
    return pixels[(static_cast<std::size_t>(y) * width + x) * 3 + channel];
  }
  friend bool operator==(const RgbImage&, const RgbImage&) = default;
};

// A 2-D float array, row-major (rows x cols values): a depth map.
struct FloatArray2d {
  std::uint32_t rows{0};
  std::uint32_t cols{0};
  std::vector<float> values;

  float at(std::uint32_t row, std::uint32_t col) const {
    return values[static_cast<std::size_t>(row) * cols + col];
  }
};

// ---- files -------------------------------------------------------------------------------
// The whole file; a missing or unreadable file is a wormsim::Error naming it.
std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path);
// Writes `bytes` to a temporary file beside `path` and renames it over `path`; on any failure
// the temporary file is removed, `path` is left as it was, and the Error names the file.
void write_file_atomically(const std::filesystem::path& path, std::span<const std::uint8_t> bytes);

// ---- images ------------------------------------------------------------------------------
// PNG or PPM, recognised by the file's first bytes (not its extension).
RgbImage read_image(const std::filesystem::path& path);
// `name` is what error messages call the data (usually the file name).
RgbImage decode_png(std::span<const std::uint8_t> bytes, const std::string& name);
RgbImage decode_ppm(std::span<const std::uint8_t> bytes, const std::string& name);

// 8-bit RGB PNG: one IDAT chunk (zlib), each row filtered with the filter whose output has the
// smallest sum of absolute values (the PNG specification's suggested heuristic).
std::vector<std::uint8_t> encode_png(const RgbImage& image);
// Binary PPM (P6, maxval 255).
std::vector<std::uint8_t> encode_ppm(const RgbImage& image);
void write_png(const std::filesystem::path& path, const RgbImage& image);
void write_ppm(const std::filesystem::path& path, const RgbImage& image);

// ---- NumPy .npy --------------------------------------------------------------------------
// Format version 1.0: "\x93NUMPY", 1, 0, a little-endian uint16 header length, then the header
// dict "{'descr': '<f4', 'fortran_order': False, 'shape': (rows, cols), }" padded with spaces
// and ended by '\n' so the data starts at a multiple of 64 bytes; then the float32 values,
// little-endian, row-major.
std::vector<std::uint8_t> encode_npy(const FloatArray2d& array);
// Reads what encode_npy writes (any v1.0 / v2.0 file holding a 2-D C-order '<f4' array).
FloatArray2d decode_npy(std::span<const std::uint8_t> bytes, const std::string& name);
void write_npy(const std::filesystem::path& path, const FloatArray2d& array);
FloatArray2d read_npy(const std::filesystem::path& path);

// ---- colour mapping ----------------------------------------------------------------------
// matplotlib's 'inferno' as a piecewise-linear curve through 10 control points (image_io.cpp);
// t is clamped to [0, 1]: 0 = near black (0, 0, 4), 1 = pale yellow (252, 255, 164).
std::array<std::uint8_t, 3> inferno(double t);
// Normalises the finite values' min..max to 0..1 (a constant map is all 0; NaN / inf draw as
// 0) and maps each through inferno(): a map rows x cols becomes an image cols wide.
RgbImage colorize_depth(const FloatArray2d& depth);

}  // namespace wormsim::workloads
