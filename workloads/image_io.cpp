#include "workloads/image_io.hpp"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>

#include "sim/error.hpp"

namespace wormsim::workloads {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

constexpr std::array<std::uint8_t, 8> kPngSignature{137, 80, 78, 71, 13, 10, 26, 10};
// Refuse headers that claim absurd sizes (a damaged file) before allocating for them.
constexpr std::uint64_t kMaxPixels = std::uint64_t{1} << 28;
// The fix every unsupported-format message suggests.
constexpr const char* kConvertHint =
    "convert it to an 8-bit RGB PNG or a binary PPM, e.g. `convert IN -depth 8 -type TrueColor "
    "OUT.png` (ImageMagick) or `pnmtopng` / `pngtopnm` (netpbm)";

// ---- byte helpers --------------------------------------------------------------------------

std::uint32_t read_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

void append_be32(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

void append_text(Bytes& out, const std::string& text) {
  out.insert(out.end(), text.begin(), text.end());
}

std::uint32_t crc_of(const std::uint8_t* data, std::size_t size) {
  return static_cast<std::uint32_t>(crc32(crc32(0L, Z_NULL, 0), data, static_cast<uInt>(size)));
}

void check_dimensions(std::uint64_t width, std::uint64_t height, const std::string& what) {
  if (width == 0 || height == 0) {
    throw Error(what + ": width and height must be at least 1 (the header says " +
                std::to_string(width) + " x " + std::to_string(height) + ")");
  }
  if (width * height > kMaxPixels) {
    throw Error(what + ": " + std::to_string(width) + " x " + std::to_string(height) +
                " pixels is more than wormsim reads (" + std::to_string(kMaxPixels) +
                "); scale the image down first");
  }
}

// ---- PNG -----------------------------------------------------------------------------------

// PNG colour types (PNG specification, IHDR).
enum PngColourType : std::uint8_t {
  kGrey = 0,
  kRgb = 2,
  kPalette = 3,
  kGreyAlpha = 4,
  kRgba = 6,
};

std::uint32_t channels_of(std::uint8_t colour_type) {
  switch (colour_type) {
    case kGrey:
      return 1;
    case kGreyAlpha:
      return 2;
    case kRgb:
      return 3;
    case kRgba:
      return 4;
    default:
      return 0;
  }
}

// The Paeth predictor of the PNG specification: the neighbour (left, up, up-left) closest to
// left + up - up_left.
std::uint8_t paeth(std::uint8_t left, std::uint8_t up, std::uint8_t up_left) {
  const int estimate = int{left} + int{up} - int{up_left};
  const int to_left = std::abs(estimate - left);
  const int to_up = std::abs(estimate - up);
  const int to_up_left = std::abs(estimate - up_left);
  if (to_left <= to_up && to_left <= to_up_left) return left;
  if (to_up <= to_up_left) return up;
  return up_left;
}

// Undoes the row filters in place: `data` holds height rows of (1 filter byte + stride bytes);
// returns the unfiltered rows without their filter bytes.
Bytes unfilter(const Bytes& data, std::uint32_t height, std::size_t stride, std::uint32_t bpp,
               const std::string& name) {
  Bytes out(static_cast<std::size_t>(height) * stride);
  for (std::uint32_t y = 0; y < height; ++y) {
    const std::uint8_t filter = data[y * (stride + 1)];
    const std::uint8_t* in = &data[y * (stride + 1) + 1];
    std::uint8_t* row = &out[y * stride];
    const std::uint8_t* prior = y > 0 ? &out[(y - 1) * stride] : nullptr;
    for (std::size_t i = 0; i < stride; ++i) {
      const std::uint8_t left = i >= bpp ? row[i - bpp] : 0;
      const std::uint8_t up = prior ? prior[i] : 0;
      const std::uint8_t up_left = (prior && i >= bpp) ? prior[i - bpp] : 0;
      std::uint8_t predictor = 0;
      switch (filter) {
        case 0:
          predictor = 0;
          break;
        case 1:
          predictor = left;
          break;
        case 2:
          predictor = up;
          break;
        case 3:
          predictor = static_cast<std::uint8_t>((int{left} + int{up}) / 2);
          break;
        case 4:
          predictor = paeth(left, up, up_left);
          break;
        default:
          throw Error("PNG " + name + ": row " + std::to_string(y) + " has filter type " +
                      std::to_string(filter) + " (valid: 0-4); the file is corrupt");
      }
      row[i] = static_cast<std::uint8_t>(in[i] + predictor);
    }
  }
  return out;
}

// Inflates the concatenated IDAT data into exactly `expected` bytes.
Bytes inflate_exactly(const Bytes& compressed, std::size_t expected, const std::string& name) {
  Bytes out(expected);
  z_stream stream{};
  if (inflateInit(&stream) != Z_OK) throw Error("PNG " + name + ": zlib could not start");
  stream.next_in = const_cast<Bytef*>(compressed.data());
  stream.avail_in = static_cast<uInt>(compressed.size());
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  const int status = inflate(&stream, Z_FINISH);
  const std::string message = stream.msg ? stream.msg : "";
  const std::size_t produced = expected - stream.avail_out;
  inflateEnd(&stream);
  if (status == Z_STREAM_END && produced == expected) return out;
  if (status == Z_STREAM_END) {
    throw Error("PNG " + name + ": the image data holds " + std::to_string(produced) +
                " bytes but width x height needs " + std::to_string(expected) +
                "; the file is truncated or corrupt");
  }
  if (status == Z_BUF_ERROR && stream.avail_out == 0) {
    throw Error("PNG " + name + ": the image data holds more than the " + std::to_string(expected) +
                " bytes width x height needs; the file is corrupt");
  }
  if (status == Z_BUF_ERROR) {
    throw Error("PNG " + name + ": the compressed image data ends early (" +
                std::to_string(produced) + " of " + std::to_string(expected) +
                " bytes); the file is truncated");
  }
  throw Error("PNG " + name + ": corrupt compressed image data (zlib: " +
              (message.empty() ? "error " + std::to_string(status) : message) + ")");
}

struct PngHeader {
  std::uint32_t width{0};
  std::uint32_t height{0};
  std::uint8_t bit_depth{0};
  std::uint8_t colour_type{0};
  std::uint8_t interlace{0};
};

// Checks IHDR for what this reader supports; the errors say what the file is.
PngHeader parse_ihdr(const std::uint8_t* p, std::uint32_t length, const std::string& name) {
  if (length != 13) {
    throw Error("PNG " + name + ": IHDR is " + std::to_string(length) +
                " bytes, not 13; the file is corrupt");
  }
  PngHeader h;
  h.width = read_be32(p);
  h.height = read_be32(p + 4);
  h.bit_depth = p[8];
  h.colour_type = p[9];
  const std::uint8_t compression = p[10];
  const std::uint8_t filter_method = p[11];
  h.interlace = p[12];
  check_dimensions(h.width, h.height, "PNG " + name);
  if (compression != 0 || filter_method != 0 || h.interlace > 1) {
    throw Error("PNG " + name + ": unknown compression / filter / interlace method (" +
                std::to_string(compression) + " / " + std::to_string(filter_method) + " / " +
                std::to_string(h.interlace) + "); the file is corrupt");
  }
  if (h.colour_type == kPalette) {
    throw Error("PNG " + name + " is a palette (indexed-colour) image, which wormsim does not " +
                "read; " + kConvertHint);
  }
  if (channels_of(h.colour_type) == 0) {
    throw Error("PNG " + name + ": colour type " + std::to_string(h.colour_type) +
                " does not exist (0, 2, 3, 4, 6); the file is corrupt");
  }
  if (h.bit_depth == 16) {
    throw Error("PNG " + name +
                " has 16 bits per channel; wormsim reads 8-bit PNGs: " + kConvertHint);
  }
  if (h.bit_depth != 8) {
    throw Error("PNG " + name + " has " + std::to_string(h.bit_depth) +
                " bits per sample; wormsim reads 8-bit PNGs: " + kConvertHint);
  }
  if (h.interlace == 1) {
    throw Error("PNG " + name + " is interlaced (Adam7), which wormsim does not read; " +
                kConvertHint + " (without -interlace)");
  }
  return h;
}

// ---- PPM -----------------------------------------------------------------------------------

// A cursor over PPM text tokens: whitespace separates them, '#' starts a comment to the end of
// the line.
class PpmScanner {
 public:
  PpmScanner(std::span<const std::uint8_t> bytes, std::string name)
      : bytes_(bytes), name_(std::move(name)) {}

  std::size_t position() const { return pos_; }
  void skip_space_and_comments() {
    while (pos_ < bytes_.size()) {
      if (bytes_[pos_] == '#') {
        while (pos_ < bytes_.size() && bytes_[pos_] != '\n' && bytes_[pos_] != '\r') ++pos_;
      } else if (std::isspace(bytes_[pos_])) {
        ++pos_;
      } else {
        break;
      }
    }
  }
  // The next unsigned decimal number; `what` names it in errors.
  std::uint64_t number(const std::string& what) {
    skip_space_and_comments();
    if (pos_ >= bytes_.size()) {
      throw Error("PPM " + name_ + " is truncated: it ends before the " + what);
    }
    if (!std::isdigit(bytes_[pos_])) {
      throw Error("PPM " + name_ + ": expected the " + what + " (a decimal number) at byte " +
                  std::to_string(pos_) + ", found '" + static_cast<char>(bytes_[pos_]) +
                  "'; the file is corrupt");
    }
    std::uint64_t value = 0;
    while (pos_ < bytes_.size() && std::isdigit(bytes_[pos_])) {
      value = value * 10 + static_cast<std::uint64_t>(bytes_[pos_] - '0');
      if (value > std::numeric_limits<std::uint32_t>::max()) {
        throw Error("PPM " + name_ + ": the " + what + " is out of range; the file is corrupt");
      }
      ++pos_;
    }
    return value;
  }
  // After maxval: exactly one whitespace byte, then the binary raster (P6).
  void single_whitespace() {
    if (pos_ >= bytes_.size()) throw Error("PPM " + name_ + " is truncated: no pixel data");
    if (!std::isspace(bytes_[pos_])) {
      throw Error("PPM " + name_ + ": expected one whitespace byte after maxval at byte " +
                  std::to_string(pos_) + "; the file is corrupt");
    }
    ++pos_;
  }

 private:
  std::span<const std::uint8_t> bytes_;
  std::string name_;
  std::size_t pos_{2};  // after the magic number
};

// ---- NumPy ---------------------------------------------------------------------------------

constexpr std::array<std::uint8_t, 6> kNpyMagic{0x93, 'N', 'U', 'M', 'P', 'Y'};
// The header (magic .. '\n') is padded to a multiple of this (NumPy format documentation).
constexpr std::size_t kNpyAlignment = 64;

// The text after `key` in a header dict, up to the next ',' or '}' outside parentheses.
std::string npy_field(const std::string& header, const std::string& key, const std::string& name) {
  const std::string quoted = "'" + key + "'";
  const auto at = header.find(quoted);
  if (at == std::string::npos) {
    throw Error(".npy " + name + ": the header has no " + quoted + " entry; the file is corrupt");
  }
  auto pos = header.find(':', at + quoted.size());
  if (pos == std::string::npos) throw Error(".npy " + name + ": malformed header");
  ++pos;
  int depth = 0;
  std::string value;
  for (; pos < header.size(); ++pos) {
    const char c = header[pos];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
    value += c;
  }
  const auto first = value.find_first_not_of(" ");
  const auto last = value.find_last_not_of(" ");
  return first == std::string::npos ? "" : value.substr(first, last - first + 1);
}

}  // namespace

// ---- files -----------------------------------------------------------------------------------

std::vector<std::uint8_t> read_file_bytes(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    throw Error("file " + path.string() + " does not exist; check the path");
  }
  if (fs::is_directory(path, ec)) {
    throw Error(path.string() + " is a directory; give a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error("cannot open " + path.string() + ": " + std::strerror(errno) +
                "; check its permissions");
  }
  Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error("cannot read " + path.string() + ": " + std::strerror(errno));
  return bytes;
}

void write_file_atomically(const fs::path& path, std::span<const std::uint8_t> bytes) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error("cannot write " + path.string() + ": directory " + dir.string() +
                " does not exist; create it or choose another path");
  }
  if (fs::is_directory(path, ec)) {
    throw Error("cannot write " + path.string() + ": it is a directory; give a file name");
  }
  fs::path temp = path;
  temp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) {
      throw Error("cannot write " + path.string() + ": " + std::strerror(errno) +
                  "; check that the directory is writable");
    }
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      const std::string reason = std::strerror(errno);
      fs::remove(temp, ec);
      throw Error("cannot write " + path.string() + ": " + reason +
                  " (disk full?); the file was left unchanged");
    }
  }
  fs::rename(temp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw Error("cannot write " + path.string() + ": " + ec.message() +
                "; the file was left unchanged");
  }
}

// ---- images ----------------------------------------------------------------------------------

RgbImage read_image(const fs::path& path) {
  const Bytes bytes = read_file_bytes(path);
  const std::string name = path.string();
  if (bytes.size() >= kPngSignature.size() &&
      std::equal(kPngSignature.begin(), kPngSignature.end(), bytes.begin())) {
    return decode_png(bytes, name);
  }
  if (bytes.size() >= 2 && bytes[0] == 'P' && (bytes[1] == '6' || bytes[1] == '3')) {
    return decode_ppm(bytes, name);
  }
  std::string what = "neither a PNG nor a PPM (P6 / P3) image";
  if (bytes.size() >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8) what = "a JPEG image";
  if (bytes.size() >= 2 && bytes[0] == 'P' && (bytes[1] == '5' || bytes[1] == '2')) {
    what = "a greyscale PGM image";
  }
  if (bytes.size() >= 2 && bytes[0] == 'B' && bytes[1] == 'M') what = "a BMP image";
  throw Error("image " + name + " is " + what + ", which wormsim does not read; " + kConvertHint);
}

RgbImage decode_png(std::span<const std::uint8_t> bytes, const std::string& name) {
  if (bytes.size() < kPngSignature.size() ||
      !std::equal(kPngSignature.begin(), kPngSignature.end(), bytes.begin())) {
    throw Error("PNG " + name + ": no PNG signature; the file is not a PNG or is damaged");
  }
  std::size_t pos = kPngSignature.size();
  std::optional<PngHeader> header;
  Bytes compressed;
  bool ended = false;
  while (!ended) {
    if (bytes.size() - pos < 12) {
      throw Error("PNG " + name + " is truncated: it ends " +
                  (header ? "before its IEND chunk" : "inside its header"));
    }
    const std::uint32_t length = read_be32(&bytes[pos]);
    const std::string type(reinterpret_cast<const char*>(&bytes[pos + 4]), 4);
    if (length > 0x7FFFFFFFu) {
      throw Error("PNG " + name + ": chunk '" + type + "' claims " + std::to_string(length) +
                  " bytes; the file is corrupt");
    }
    if (bytes.size() - pos - 12 < length) {
      throw Error("PNG " + name + " is truncated: chunk '" + type + "' needs " +
                  std::to_string(length) + " data bytes, " +
                  std::to_string(bytes.size() - pos - 12) + " remain");
    }
    const std::uint8_t* data = &bytes[pos + 8];
    const std::uint32_t stored_crc = read_be32(data + length);
    if (crc_of(&bytes[pos + 4], length + 4) != stored_crc) {
      throw Error("PNG " + name + ": chunk '" + type + "' at byte " + std::to_string(pos) +
                  " has a bad CRC; the file is damaged");
    }
    if (!header && type != "IHDR") {
      throw Error("PNG " + name + ": the first chunk is '" + type +
                  "', not IHDR; the file is "
                  "corrupt");
    }
    if (type == "IHDR") {
      if (header) throw Error("PNG " + name + ": two IHDR chunks; the file is corrupt");
      header = parse_ihdr(data, length, name);
    } else if (type == "IDAT") {
      compressed.insert(compressed.end(), data, data + length);
    } else if (type == "IEND") {
      ended = true;
    } else if (type == "PLTE") {
      // A suggested palette of a truecolour image: not needed to read the pixels.
      if (header->colour_type == kGrey || header->colour_type == kGreyAlpha) {
        throw Error("PNG " + name + ": a greyscale image with a PLTE chunk; the file is corrupt");
      }
    } else if (std::isupper(static_cast<unsigned char>(type[0]))) {
      // An unknown critical chunk: the specification says the image cannot be shown correctly.
      throw Error("PNG " + name + ": unknown critical chunk '" + type + "'; " + kConvertHint);
    }
    // Ancillary chunks (gAMA, tEXt, pHYs, ...) do not change the stored pixels: skipped.
    pos += 12 + static_cast<std::size_t>(length);
  }
  if (compressed.empty()) throw Error("PNG " + name + " has no image data (IDAT chunk)");

  const std::uint32_t channels = channels_of(header->colour_type);
  const std::size_t stride = static_cast<std::size_t>(header->width) * channels;
  const Bytes filtered = inflate_exactly(compressed, (stride + 1) * header->height, name);
  const Bytes raw = unfilter(filtered, header->height, stride, channels, name);

  RgbImage image;
  image.width = header->width;
  image.height = header->height;
  image.pixels.resize(static_cast<std::size_t>(image.width) * image.height * 3);
  const std::size_t pixel_count = static_cast<std::size_t>(image.width) * image.height;
  for (std::size_t i = 0; i < pixel_count; ++i) {
    const std::uint8_t* p = &raw[i * channels];
    const bool grey = channels <= 2;
    image.pixels[i * 3 + 0] = p[0];
    image.pixels[i * 3 + 1] = grey ? p[0] : p[1];
    image.pixels[i * 3 + 2] = grey ? p[0] : p[2];
  }
  return image;
}

RgbImage decode_ppm(std::span<const std::uint8_t> bytes, const std::string& name) {
  if (bytes.size() < 2 || bytes[0] != 'P' || (bytes[1] != '6' && bytes[1] != '3')) {
    throw Error("PPM " + name + ": no P6 / P3 magic number; " + kConvertHint);
  }
  const bool binary = bytes[1] == '6';
  PpmScanner scan(bytes, name);
  const std::uint64_t width = scan.number("width");
  const std::uint64_t height = scan.number("height");
  const std::uint64_t maxval = scan.number("maxval");
  check_dimensions(width, height, "PPM " + name);
  if (maxval != 255) {
    throw Error("PPM " + name + " has maxval " + std::to_string(maxval) +
                "; wormsim reads 8-bit PPMs (maxval 255): " + kConvertHint);
  }
  RgbImage image;
  image.width = static_cast<std::uint32_t>(width);
  image.height = static_cast<std::uint32_t>(height);
  const std::size_t samples = static_cast<std::size_t>(width * height * 3);
  image.pixels.resize(samples);
  if (binary) {
    scan.single_whitespace();
    const std::size_t start = scan.position();
    if (bytes.size() - start < samples) {
      throw Error("PPM " + name + " is truncated: " + std::to_string(width) + " x " +
                  std::to_string(height) + " pixels need " + std::to_string(samples) +
                  " bytes of pixel data, the file has " + std::to_string(bytes.size() - start));
    }
    std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(start), samples, image.pixels.begin());
    return image;
  }
  for (std::size_t i = 0; i < samples; ++i) {
    const std::uint64_t v =
        scan.number("sample " + std::to_string(i) + " of " + std::to_string(samples));
    if (v > maxval) {
      throw Error("PPM " + name + ": sample " + std::to_string(i) + " is " + std::to_string(v) +
                  ", above maxval " + std::to_string(maxval) + "; the file is corrupt");
    }
    image.pixels[i] = static_cast<std::uint8_t>(v);
  }
  return image;
}

std::vector<std::uint8_t> encode_png(const RgbImage& image) {
  check_dimensions(image.width, image.height, "PNG image");
  constexpr std::uint32_t kBpp = 3;
  const std::size_t stride = static_cast<std::size_t>(image.width) * kBpp;
  if (image.pixels.size() != stride * image.height) {
    throw Error("PNG image: " + std::to_string(image.pixels.size()) + " bytes for " +
                std::to_string(image.width) + " x " + std::to_string(image.height) + " RGB pixels");
  }
  // Filter each row with every filter type and keep the one with the smallest sum of absolute
  // (signed) bytes: it tends to compress best.
  Bytes filtered;
  filtered.reserve((stride + 1) * image.height);
  Bytes candidate(stride);
  Bytes best(stride);
  for (std::uint32_t y = 0; y < image.height; ++y) {
    const std::uint8_t* row = &image.pixels[y * stride];
    const std::uint8_t* prior = y > 0 ? &image.pixels[(y - 1) * stride] : nullptr;
    std::uint64_t best_cost = std::numeric_limits<std::uint64_t>::max();
    std::uint8_t best_filter = 0;
    for (std::uint8_t filter = 0; filter <= 4; ++filter) {
      std::uint64_t cost = 0;
      for (std::size_t i = 0; i < stride; ++i) {
        const std::uint8_t left = i >= kBpp ? row[i - kBpp] : 0;
        const std::uint8_t up = prior ? prior[i] : 0;
        const std::uint8_t up_left = (prior && i >= kBpp) ? prior[i - kBpp] : 0;
        std::uint8_t predictor = 0;
        if (filter == 1) predictor = left;
        if (filter == 2) predictor = up;
        if (filter == 3) predictor = static_cast<std::uint8_t>((int{left} + int{up}) / 2);
        if (filter == 4) predictor = paeth(left, up, up_left);
        candidate[i] = static_cast<std::uint8_t>(row[i] - predictor);
        cost += static_cast<std::uint64_t>(std::abs(static_cast<std::int8_t>(candidate[i])));
      }
      if (cost < best_cost) {
        best_cost = cost;
        best_filter = filter;
        best.swap(candidate);
      }
    }
    filtered.push_back(best_filter);
    filtered.insert(filtered.end(), best.begin(), best.end());
  }
  uLongf compressed_size = compressBound(static_cast<uLong>(filtered.size()));
  Bytes compressed(compressed_size);
  if (compress2(compressed.data(), &compressed_size, filtered.data(),
                static_cast<uLong>(filtered.size()), Z_BEST_COMPRESSION) != Z_OK) {
    throw Error("PNG image: zlib compression failed");
  }
  compressed.resize(compressed_size);

  Bytes out(kPngSignature.begin(), kPngSignature.end());
  const auto chunk = [&out](const std::string& type, const Bytes& data) {
    append_be32(out, static_cast<std::uint32_t>(data.size()));
    const std::size_t crc_start = out.size();
    append_text(out, type);
    out.insert(out.end(), data.begin(), data.end());
    append_be32(out, crc_of(&out[crc_start], out.size() - crc_start));
  };
  Bytes ihdr;
  append_be32(ihdr, image.width);
  append_be32(ihdr, image.height);
  // 8 bits, truecolour, deflate, adaptive filtering, no interlace.
  ihdr.insert(ihdr.end(), {8, kRgb, 0, 0, 0});
  chunk("IHDR", ihdr);
  chunk("IDAT", compressed);
  chunk("IEND", {});
  return out;
}

std::vector<std::uint8_t> encode_ppm(const RgbImage& image) {
  check_dimensions(image.width, image.height, "PPM image");
  if (image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 3) {
    throw Error("PPM image: " + std::to_string(image.pixels.size()) + " bytes for " +
                std::to_string(image.width) + " x " + std::to_string(image.height) + " RGB pixels");
  }
  Bytes out;
  append_text(
      out, "P6\n" + std::to_string(image.width) + " " + std::to_string(image.height) + "\n255\n");
  out.insert(out.end(), image.pixels.begin(), image.pixels.end());
  return out;
}

void write_png(const fs::path& path, const RgbImage& image) {
  write_file_atomically(path, encode_png(image));
}

void write_ppm(const fs::path& path, const RgbImage& image) {
  write_file_atomically(path, encode_ppm(image));
}

// ---- NumPy -----------------------------------------------------------------------------------

std::vector<std::uint8_t> encode_npy(const FloatArray2d& array) {
  if (array.values.size() != static_cast<std::size_t>(array.rows) * array.cols) {
    throw Error(".npy array: " + std::to_string(array.values.size()) + " values for shape (" +
                std::to_string(array.rows) + ", " + std::to_string(array.cols) + ")");
  }
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(array.rows) + ", " + std::to_string(array.cols) + "), }";
  // magic (6) + version (2) + header length (2) + header, ending in '\n'.
  const std::size_t unpadded = kNpyMagic.size() + 4 + header.size() + 1;
  header.append((kNpyAlignment - unpadded % kNpyAlignment) % kNpyAlignment, ' ');
  header += '\n';
  Bytes out(kNpyMagic.begin(), kNpyMagic.end());
  out.push_back(1);  // format version 1.0
  out.push_back(0);
  out.push_back(static_cast<std::uint8_t>(header.size() & 0xFF));
  out.push_back(static_cast<std::uint8_t>(header.size() >> 8));
  append_text(out, header);
  out.reserve(out.size() + array.values.size() * 4);
  for (const float v : array.values) {
    const auto bits = std::bit_cast<std::uint32_t>(v);
    for (int shift = 0; shift < 32; shift += 8)
      out.push_back(static_cast<std::uint8_t>(bits >> shift));
  }
  return out;
}

FloatArray2d decode_npy(std::span<const std::uint8_t> bytes, const std::string& name) {
  if (bytes.size() < 10 || !std::equal(kNpyMagic.begin(), kNpyMagic.end(), bytes.begin())) {
    throw Error(".npy " + name + ": no NumPy magic string; the file is not a .npy file");
  }
  const std::uint8_t major = bytes[6];
  std::size_t header_length = 0;
  std::size_t header_start = 0;
  if (major == 1) {
    header_length = std::size_t{bytes[8]} | (std::size_t{bytes[9]} << 8);
    header_start = 10;
  } else if (major == 2 && bytes.size() >= 12) {
    header_length = std::size_t{bytes[8]} | (std::size_t{bytes[9]} << 8) |
                    (std::size_t{bytes[10]} << 16) | (std::size_t{bytes[11]} << 24);
    header_start = 12;
  } else {
    throw Error(".npy " + name + ": format version " + std::to_string(major) +
                " is not read (1.0 and 2.0 are)");
  }
  if (bytes.size() - header_start < header_length) {
    throw Error(".npy " + name + " is truncated inside its header");
  }
  const std::string header(reinterpret_cast<const char*>(&bytes[header_start]), header_length);
  const std::string descr = npy_field(header, "descr", name);
  if (descr != "'<f4'") {
    throw Error(".npy " + name + ": dtype " + descr + " is not read (only '<f4', float32)");
  }
  if (npy_field(header, "fortran_order", name) != "False") {
    throw Error(".npy " + name + ": Fortran-order arrays are not read");
  }
  const std::string shape = npy_field(header, "shape", name);
  unsigned long long rows = 0, cols = 0;
  char close = 0;
  if (std::sscanf(shape.c_str(), "(%llu, %llu%c", &rows, &cols, &close) != 3 || close != ')') {
    throw Error(".npy " + name + ": shape " + shape + " is not 2-D");
  }
  if (rows > std::numeric_limits<std::uint32_t>::max() ||
      cols > std::numeric_limits<std::uint32_t>::max()) {
    throw Error(".npy " + name + ": shape " + shape + " is larger than wormsim reads");
  }
  FloatArray2d array;
  array.rows = static_cast<std::uint32_t>(rows);
  array.cols = static_cast<std::uint32_t>(cols);
  const std::size_t count = static_cast<std::size_t>(rows * cols);
  const std::size_t data_start = header_start + header_length;
  if ((bytes.size() - data_start) / 4 < count) {
    throw Error(".npy " + name + " is truncated: shape " + shape + " needs " +
                std::to_string(count * 4) + " data bytes, the file has " +
                std::to_string(bytes.size() - data_start));
  }
  array.values.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t bits = 0;
    for (int b = 0; b < 4; ++b) bits |= std::uint32_t{bytes[data_start + i * 4 + b]} << (8 * b);
    array.values[i] = std::bit_cast<float>(bits);
  }
  return array;
}

void write_npy(const fs::path& path, const FloatArray2d& array) {
  write_file_atomically(path, encode_npy(array));
}

FloatArray2d read_npy(const fs::path& path) {
  return decode_npy(read_file_bytes(path), path.string());
}

// ---- colour mapping --------------------------------------------------------------------------

std::array<std::uint8_t, 3> inferno(double t) {
  // matplotlib's 'inferno' sampled at t = k / 9 (k = 0..9), 8-bit sRGB (the same ten colours
  // R's viridisLite::inferno(10) lists); linear interpolation between them stays within a few
  // levels of the full 256-entry table.
  static constexpr std::array<std::array<std::uint8_t, 3>, 10> kControlPoints{{
      {0x00, 0x00, 0x04},
      {0x1B, 0x0C, 0x42},
      {0x4B, 0x0C, 0x6B},
      {0x78, 0x1C, 0x6D},
      {0xA5, 0x2C, 0x60},
      {0xCF, 0x44, 0x46},
      {0xED, 0x69, 0x25},
      {0xFB, 0x9B, 0x06},
      {0xF7, 0xD1, 0x3D},
      {0xFC, 0xFF, 0xA4},
  }};
  if (!(t > 0.0)) t = 0.0;  // also NaN
  if (t > 1.0) t = 1.0;
  const double position = t * static_cast<double>(kControlPoints.size() - 1);
  const auto lower =
      std::min<std::size_t>(static_cast<std::size_t>(position), kControlPoints.size() - 2);
  const double fraction = position - static_cast<double>(lower);
  std::array<std::uint8_t, 3> rgb{};
  for (std::size_t c = 0; c < 3; ++c) {
    const double a = kControlPoints[lower][c];
    const double b = kControlPoints[lower + 1][c];
    rgb[c] = static_cast<std::uint8_t>(std::lround(a + (b - a) * fraction));
  }
  return rgb;
}

RgbImage colorize_depth(const FloatArray2d& depth) {
  if (depth.values.size() != static_cast<std::size_t>(depth.rows) * depth.cols) {
    throw Error("depth map: " + std::to_string(depth.values.size()) + " values for " +
                std::to_string(depth.rows) + " x " + std::to_string(depth.cols));
  }
  float low = std::numeric_limits<float>::infinity();
  float high = -std::numeric_limits<float>::infinity();
  for (const float v : depth.values) {
    if (!std::isfinite(v)) continue;
    low = std::min(low, v);
    high = std::max(high, v);
  }
  const double range = high > low ? static_cast<double>(high) - low : 0.0;
  RgbImage image;
  image.width = depth.cols;
  image.height = depth.rows;
  image.pixels.reserve(depth.values.size() * 3);
  for (const float v : depth.values) {
    const double t = (range > 0 && std::isfinite(v)) ? (v - low) / range : 0.0;
    const auto rgb = inferno(t);
    image.pixels.insert(image.pixels.end(), rgb.begin(), rgb.end());
  }
  return image;
}

}  // namespace wormsim::workloads
