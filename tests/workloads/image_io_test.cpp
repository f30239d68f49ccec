// Image / array files and the depth demo (workloads/image_io.hpp, workloads/depth_demo.hpp):
// PPM / PNG round trips against known pixels, every PNG filter type and colour type decoded
// from PNGs built here by hand (filters written independently of the decoder, zlib, CRCs), the
// damaged / unsupported files' errors, .npy bytes, the colormap, PIL-style resizing, the
// preprocessed pixel_values, and `wormsim run --input ... --dump-depth ...` end to end.
//
// tests/data/images/scene.{png,ppm} are the synthetic_scene() below written by wormsim's own
// writers; regenerate them with
//   WORMSIM_WRITE_TEST_IMAGES=1 build/tests/test_workloads --gtest_filter='ImageIo.ShippedScene*'
#include "workloads/image_io.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"
#include "sim/error.hpp"
#include "workloads/depth_demo.hpp"
#include "workloads/models/model_zoo.hpp"

namespace {

namespace fs = std::filesystem;
using wormsim::Error;
using namespace wormsim::workloads;
using Bytes = std::vector<std::uint8_t>;

const fs::path kImages = fs::path(WORMSIM_TEST_DATA_DIR) / "images";

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("wormsim_image_io_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path operator/(const std::string& name) const { return path_ / name; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Expects `f` to throw wormsim::Error whose message contains every one of `parts`.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown (expected one mentioning '" << parts.front() << "')";
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const auto& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
    }
  }
}

// A small outdoor-like scene in integer arithmetic: sky gradient, ground that brightens towards
// the bottom (nearer), a grey box with a shaded side and a red disc.
RgbImage synthetic_scene(std::uint32_t width, std::uint32_t height) {
  RgbImage image{width, height, std::vector<std::uint8_t>(std::size_t{width} * height * 3)};
  const std::uint32_t horizon = height * 9 / 20;
  for (std::uint32_t y = 0; y < height; ++y) {
    for (std::uint32_t x = 0; x < width; ++x) {
      int r = 0, g = 0, b = 0;
      if (y < horizon) {
        const int t = static_cast<int>(y * 255 / horizon);
        r = 70 + 100 * t / 255;
        g = 110 + 90 * t / 255;
        b = 190 + 45 * t / 255;
      } else {
        const int t = static_cast<int>((y - horizon) * 255 / (height - horizon));
        r = 90 + 60 * t / 255;
        g = 120 - 10 * t / 255;
        b = 60 + 10 * t / 255;
      }
      const bool in_box = x >= width * 12 / 100 && x < width * 34 / 100 && y >= height * 35 / 100 &&
                          y < height * 80 / 100;
      if (in_box) {
        const bool shaded_side = x >= width * 28 / 100;
        r = shaded_side ? 80 : 125;
        g = shaded_side ? 80 : 125;
        b = shaded_side ? 90 : 135;
      }
      const int dx = static_cast<int>(x) - static_cast<int>(width * 70 / 100);
      const int dy = static_cast<int>(y) - static_cast<int>(height * 62 / 100);
      const int radius = static_cast<int>(height * 16 / 100);
      if (dx * dx + dy * dy <= radius * radius) {
        r = 200 - 3 * dx;  // lit from the left
        g = 40;
        b = 40;
      }
      std::uint8_t* p = &image.pixels[(std::size_t{y} * width + x) * 3];
      p[0] = static_cast<std::uint8_t>(std::clamp(r, 0, 255));
      p[1] = static_cast<std::uint8_t>(std::clamp(g, 0, 255));
      p[2] = static_cast<std::uint8_t>(std::clamp(b, 0, 255));
    }
  }
  return image;
}

// Pseudo-random pixels (a fixed LCG) so every byte value and every filter choice shows up.
RgbImage noise_image(std::uint32_t width, std::uint32_t height, std::uint32_t seed) {
  RgbImage image{width, height, std::vector<std::uint8_t>(std::size_t{width} * height * 3)};
  std::uint32_t state = seed;
  for (auto& v : image.pixels) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<std::uint8_t>(state >> 24);
  }
  return image;
}

// ---- a PNG writer for tests, independent of the library's ----------------------------------

void put_be32(Bytes& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 24));
  out.push_back(static_cast<std::uint8_t>(v >> 16));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

void put_chunk(Bytes& png, const std::string& type, const Bytes& data) {
  put_be32(png, static_cast<std::uint32_t>(data.size()));
  Bytes typed(type.begin(), type.end());
  typed.insert(typed.end(), data.begin(), data.end());
  png.insert(png.end(), typed.begin(), typed.end());
  put_be32(png,
           static_cast<std::uint32_t>(crc32(0, typed.data(), static_cast<uInt>(typed.size()))));
}

// Filters one row of samples (PNG specification, section 9): `bpp` bytes per pixel.
Bytes filter_row(int filter, const Bytes& row, const Bytes& above, std::size_t bpp) {
  Bytes out(row.size());
  for (std::size_t i = 0; i < row.size(); ++i) {
    const int a = i >= bpp ? row[i - bpp] : 0;
    const int b = above.empty() ? 0 : above[i];
    const int c = (i >= bpp && !above.empty()) ? above[i - bpp] : 0;
    int predicted = 0;
    if (filter == 1) predicted = a;
    if (filter == 2) predicted = b;
    if (filter == 3) predicted = (a + b) / 2;
    if (filter == 4) {
      const int p = a + b - c;
      const int pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
      predicted = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
    }
    out[i] = static_cast<std::uint8_t>(row[i] - predicted);
  }
  return out;
}

struct HandPng {
  std::uint32_t width{0};
  std::uint32_t height{0};
  std::uint8_t colour_type{2};
  std::uint8_t bit_depth{8};
  std::uint8_t interlace{0};
  std::vector<Bytes> rows;                          // unfiltered samples per row
  std::function<int(std::uint32_t)> filter_of_row;  // filter type per row
  std::size_t idat_pieces{1};                       // IDAT chunks the data is split over
};

std::size_t channels_of(std::uint8_t colour_type) {
  return colour_type == 0 ? 1 : colour_type == 2 ? 3 : colour_type == 4 ? 2 : 4;
}

Bytes build_png(const HandPng& spec) {
  const std::size_t bpp = channels_of(spec.colour_type) * spec.bit_depth / 8;
  Bytes raw;
  for (std::uint32_t y = 0; y < spec.height; ++y) {
    const int filter = spec.filter_of_row ? spec.filter_of_row(y) : 0;
    raw.push_back(static_cast<std::uint8_t>(filter));
    const Bytes filtered =
        filter_row(filter, spec.rows[y], y > 0 ? spec.rows[y - 1] : Bytes{}, bpp);
    raw.insert(raw.end(), filtered.begin(), filtered.end());
  }
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  Bytes compressed(size);
  EXPECT_EQ(compress(compressed.data(), &size, raw.data(), static_cast<uLong>(raw.size())), Z_OK);
  compressed.resize(size);

  Bytes png{137, 80, 78, 71, 13, 10, 26, 10};
  Bytes ihdr;
  put_be32(ihdr, spec.width);
  put_be32(ihdr, spec.height);
  ihdr.insert(ihdr.end(), {spec.bit_depth, spec.colour_type, 0, 0, spec.interlace});
  put_chunk(png, "IHDR", ihdr);
  put_chunk(png, "tEXt", Bytes{'C', 'o', 'm', 'm', 'e', 'n', 't', 0, 'h', 'i'});  // skipped
  const std::size_t piece = (compressed.size() + spec.idat_pieces - 1) / spec.idat_pieces;
  for (std::size_t at = 0; at < compressed.size(); at += piece) {
    const std::size_t end = std::min(compressed.size(), at + piece);
    put_chunk(png, "IDAT",
              Bytes(compressed.begin() + static_cast<std::ptrdiff_t>(at),
                    compressed.begin() + static_cast<std::ptrdiff_t>(end)));
  }
  put_chunk(png, "IEND", {});
  return png;
}

// Rows of `channels` samples per pixel from an RGB image: grey = R, alpha = a pattern.
std::vector<Bytes> rows_for(const RgbImage& image, std::uint8_t colour_type) {
  std::vector<Bytes> rows(image.height);
  for (std::uint32_t y = 0; y < image.height; ++y) {
    for (std::uint32_t x = 0; x < image.width; ++x) {
      const std::uint8_t alpha = static_cast<std::uint8_t>(x * 37 + y * 11);
      if (colour_type == 0 || colour_type == 4) rows[y].push_back(image.at(x, y, 0));
      if (colour_type == 2 || colour_type == 6) {
        for (std::uint32_t c = 0; c < 3; ++c) rows[y].push_back(image.at(x, y, c));
      }
      if (colour_type == 4 || colour_type == 6) rows[y].push_back(alpha);
    }
  }
  return rows;
}

// ---- PPM ---------------------------------------------------------------------------------

TEST(ImageIo, PpmBinaryRoundTripKeepsEveryPixel) {
  TempDir dir;
  const RgbImage image = noise_image(13, 7, 1);
  write_ppm(dir / "a.ppm", image);
  const RgbImage back = read_image(dir / "a.ppm");
  EXPECT_EQ(back, image);
  // The header is what netpbm writes.
  const Bytes bytes = read_file_bytes(dir / "a.ppm");
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 11), "P6\n13 7\n255");
  EXPECT_EQ(bytes.size(), 12u + 13 * 7 * 3);
}

TEST(ImageIo, PpmTextWithCommentsReadsKnownPixels) {
  const std::string text =
      "P3\n# a comment\n3 2 # trailing comment\n255\n"
      "255 0 0   0 255 0   0 0 255\n"
      "0 0 0  128 128 128  255 255 255\n";
  const RgbImage image = decode_ppm(Bytes(text.begin(), text.end()), "inline.ppm");
  ASSERT_EQ(image.width, 3u);
  ASSERT_EQ(image.height, 2u);
  EXPECT_EQ(image.at(0, 0, 0), 255);
  EXPECT_EQ(image.at(1, 0, 1), 255);
  EXPECT_EQ(image.at(2, 0, 2), 255);
  EXPECT_EQ(image.at(2, 0, 0), 0);
  EXPECT_EQ(image.at(1, 1, 0), 128);
  EXPECT_EQ(image.at(2, 1, 1), 255);
  // Binary with a comment in the header.
  std::string binary = "P6 # c\n2 1\n255\n";
  binary += std::string{'\x01', '\x02', '\x03', '\xFD', '\xFE', '\xFF'};
  const RgbImage b = decode_ppm(Bytes(binary.begin(), binary.end()), "inline.ppm");
  EXPECT_EQ(b.pixels, (Bytes{1, 2, 3, 253, 254, 255}));
}

TEST(ImageIo, PpmErrorsNameTheProblem) {
  const auto decode = [](const std::string& text) {
    return [text] { decode_ppm(Bytes(text.begin(), text.end()), "x.ppm"); };
  };
  expect_error(decode("P6\n2 2\n65535\n"), {"x.ppm", "maxval 65535", "8-bit"});
  expect_error(decode("P6\n2 2\n255\n\x01\x02\x03"), {"x.ppm", "truncated", "12 bytes"});
  expect_error(decode("P3\n2 1\n255\n1 2 3 4"), {"x.ppm", "truncated"});
  expect_error(decode("P3\n1 1\n255\n1 2 300\n"), {"above maxval"});
  expect_error(decode("P6\n0 4\n255\n"), {"at least 1"});
  expect_error(decode("P6\nab"), {"width", "corrupt"});
  TempDir dir;
  expect_error([&] { read_image(dir / "missing.png"); }, {"missing.png", "does not exist"});
  std::ofstream(dir / "pgm.pgm") << "P5\n1 1\n255\n\x10";
  expect_error([&] { read_image(dir / "pgm.pgm"); }, {"PGM", "RGB PNG"});
  std::ofstream(dir / "j.jpg") << "\xFF\xD8\xFF\xE0 not really";
  expect_error([&] { read_image(dir / "j.jpg"); }, {"JPEG", "convert"});
}

// ---- PNG ---------------------------------------------------------------------------------

TEST(ImageIo, PngRoundTripKeepsEveryPixel) {
  TempDir dir;
  for (const auto& [w, h] :
       std::vector<std::pair<std::uint32_t, std::uint32_t>>{{1, 1}, {7, 5}, {64, 48}}) {
    for (const RgbImage& image : {noise_image(w, h, w * 7 + h), synthetic_scene(w, h)}) {
      const fs::path path = dir / ("r" + std::to_string(w) + ".png");
      write_png(path, image);
      EXPECT_EQ(read_image(path), image) << w << " x " << h;
    }
  }
  // The writer's stream is a valid PNG: signature, IHDR first with 8-bit RGB, IEND last.
  const Bytes png = encode_png(synthetic_scene(64, 48));
  EXPECT_EQ(std::string(png.begin() + 12, png.begin() + 16), "IHDR");
  EXPECT_EQ(png[24], 8);  // bit depth
  EXPECT_EQ(png[25], 2);  // truecolour
  EXPECT_EQ(std::string(png.end() - 8, png.end() - 4), "IEND");
}

TEST(ImageIo, PngEveryFilterTypeDecodes) {
  const RgbImage image = noise_image(9, 6, 42);
  for (int filter = 0; filter <= 4; ++filter) {
    HandPng spec{9, 6, 2, 8, 0, rows_for(image, 2), [filter](std::uint32_t) { return filter; }, 1};
    EXPECT_EQ(decode_png(build_png(spec), "f.png"), image) << "filter " << filter;
  }
  // All five mixed row by row, the data split over three IDAT chunks.
  HandPng mixed{9,
                6,
                2,
                8,
                0,
                rows_for(image, 2),
                [](std::uint32_t y) { return static_cast<int>((y * 3 + 1) % 5); },
                3};
  EXPECT_EQ(decode_png(build_png(mixed), "mixed.png"), image);
}

TEST(ImageIo, PngGreyAndAlphaBecomeRgb) {
  const RgbImage image = noise_image(5, 4, 9);
  for (const std::uint8_t colour_type : {0, 4, 6}) {
    for (int filter = 0; filter <= 4; ++filter) {
      HandPng spec{5,
                   4,
                   colour_type,
                   8,
                   0,
                   rows_for(image, colour_type),
                   [filter](std::uint32_t) { return filter; },
                   1};
      const RgbImage decoded = decode_png(build_png(spec), "c.png");
      ASSERT_EQ(decoded.width, 5u);
      for (std::uint32_t y = 0; y < 4; ++y) {
        for (std::uint32_t x = 0; x < 5; ++x) {
          const bool grey = colour_type != 6;
          for (std::uint32_t c = 0; c < 3; ++c) {
            ASSERT_EQ(decoded.at(x, y, c), image.at(x, y, grey ? 0 : c))
                << "colour type " << int{colour_type} << " filter " << filter;
          }
        }
      }
    }
  }
}

TEST(ImageIo, PngDamagedAndUnsupportedFilesAreClearErrors) {
  const RgbImage image = noise_image(6, 4, 3);
  const Bytes good = encode_png(image);
  ASSERT_EQ(decode_png(good, "good.png"), image);

  Bytes bad_crc = good;
  bad_crc[45] ^= 0x01;  // inside IDAT's data (it starts at byte 41)
  expect_error([&] { decode_png(bad_crc, "crc.png"); }, {"crc.png", "bad CRC", "IDAT"});

  for (const std::size_t keep : {std::size_t{20}, good.size() / 2, good.size() - 6}) {
    const Bytes truncated(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(keep));
    expect_error([&] { decode_png(truncated, "cut.png"); }, {"cut.png", "truncated"});
  }

  const auto rows16 = [] {
    std::vector<Bytes> rows(2, Bytes(2 * 6, 0x7F));  // 2 x 2 pixels, 16-bit RGB
    return rows;
  };
  HandPng sixteen{2, 2, 2, 16, 0, rows16(), nullptr, 1};
  expect_error([&] { decode_png(build_png(sixteen), "deep.png"); },
               {"deep.png", "16 bits", "8-bit RGB PNG"});
  HandPng palette{2, 2, 3, 8, 0, std::vector<Bytes>(2, Bytes(2, 0)), nullptr, 1};
  expect_error([&] { decode_png(build_png(palette), "pal.png"); }, {"pal.png", "palette"});
  HandPng interlaced{2, 2, 2, 8, 1, std::vector<Bytes>(2, Bytes(6, 0)), nullptr, 1};
  expect_error([&] { decode_png(build_png(interlaced), "i.png"); }, {"i.png", "interlaced"});
  HandPng two_bit{8, 1, 0, 2, 0, std::vector<Bytes>(1, Bytes(2, 0)), nullptr, 1};
  expect_error([&] { decode_png(build_png(two_bit), "b.png"); }, {"2 bits per sample"});

  // A bad filter byte inside valid zlib data.
  HandPng bad_filter{
      2, 1, 2, 8, 0, std::vector<Bytes>(1, Bytes(6, 1)), [](std::uint32_t) { return 7; }, 1};
  expect_error([&] { decode_png(build_png(bad_filter), "ft.png"); }, {"filter type 7"});
}

// ---- atomic writes -----------------------------------------------------------------------

TEST(ImageIo, FailedWritesLeaveNoFile) {
  TempDir dir;
  const RgbImage image = noise_image(3, 3, 5);
  expect_error([&] { write_png(dir / "no_such_dir" / "x.png", image); },
               {"no_such_dir", "does not exist"});
  fs::create_directory(dir / "a_dir.png");
  expect_error([&] { write_png(dir / "a_dir.png", image); }, {"a_dir.png", "directory"});
  // Nothing but the directory made above is left behind (no temporary files).
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u);
  // An existing file is replaced whole.
  write_png(dir / "y.png", image);
  write_png(dir / "y.png", noise_image(4, 2, 6));
  EXPECT_EQ(read_image(dir / "y.png"), noise_image(4, 2, 6));
}

// ---- .npy --------------------------------------------------------------------------------

TEST(ImageIo, NpyHeaderBytesAndValues) {
  const FloatArray2d array{2, 3, {1.0f, -2.5f, 0.0f, 3.25f, 1e-3f, -0.0f}};
  const Bytes npy = encode_npy(array);
  const std::string magic = "\x93NUMPY";
  ASSERT_GE(npy.size(), 10u);
  EXPECT_EQ(std::string(npy.begin(), npy.begin() + 6), magic);
  EXPECT_EQ(npy[6], 1);  // version 1.0
  EXPECT_EQ(npy[7], 0);
  const std::size_t header_length = npy[8] | (npy[9] << 8);
  EXPECT_EQ((10 + header_length) % 64, 0u);  // data aligned to 64 bytes
  const std::string header(npy.begin() + 10, npy.begin() + 10 + static_cast<long>(header_length));
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  EXPECT_EQ(header.substr(0, dict.size()), dict);
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(header.find_first_not_of(' ', dict.size()), header.size() - 1);  // space padding
  ASSERT_EQ(npy.size(), 10 + header_length + 6 * 4);
  // 1.0f little-endian is 00 00 80 3F; -2.5f is 00 00 20 C0.
  const std::size_t data = 10 + header_length;
  EXPECT_EQ((Bytes(npy.begin() + data, npy.begin() + data + 8)),
            (Bytes{0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC0}));

  TempDir dir;
  write_npy(dir / "d.npy", array);
  const FloatArray2d back = read_npy(dir / "d.npy");
  EXPECT_EQ(back.rows, 2u);
  EXPECT_EQ(back.cols, 3u);
  for (std::size_t i = 0; i < array.values.size(); ++i) {
    EXPECT_EQ(std::bit_cast<std::uint32_t>(back.values[i]),
              std::bit_cast<std::uint32_t>(array.values[i]));
  }
  const Bytes cut(npy.begin(), npy.end() - 3);
  expect_error([&] { decode_npy(cut, "cut.npy"); }, {"cut.npy", "truncated"});
}

// ---- colormap ----------------------------------------------------------------------------

TEST(ImageIo, InfernoEndpointsAndBrightnessOrder) {
  EXPECT_EQ(inferno(0.0), (std::array<std::uint8_t, 3>{0, 0, 4}));
  EXPECT_EQ(inferno(1.0), (std::array<std::uint8_t, 3>{252, 255, 164}));
  EXPECT_EQ(inferno(-3.0), inferno(0.0));  // clamped
  EXPECT_EQ(inferno(7.0), inferno(1.0));
  EXPECT_EQ(inferno(std::nan("")), inferno(0.0));
  // Mid-point: matplotlib's inferno(0.5) is about (188, 55, 84).
  const auto mid = inferno(0.5);
  EXPECT_NEAR(mid[0], 188, 3);
  EXPECT_NEAR(mid[1], 55, 3);
  EXPECT_NEAR(mid[2], 84, 3);
  // Perceptually ordered: luminance rises all the way.
  double previous = -1;
  for (int k = 0; k <= 100; ++k) {
    const auto c = inferno(k / 100.0);
    const double luminance = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    EXPECT_GT(luminance, previous) << k;
    previous = luminance;
  }
  // colorize: min -> inferno(0), max -> inferno(1), a constant map draws as inferno(0).
  const RgbImage drawn = colorize_depth(FloatArray2d{1, 3, {2.0f, 7.0f, 4.5f}});
  EXPECT_EQ(drawn.width, 3u);
  EXPECT_EQ(drawn.height, 1u);
  EXPECT_EQ(drawn.at(0, 0, 2), 4);
  EXPECT_EQ(drawn.at(1, 0, 1), 255);
  EXPECT_EQ(drawn.at(2, 0, 0), inferno(0.5)[0]);
  const RgbImage flat = colorize_depth(FloatArray2d{2, 2, {1.0f, 1.0f, 1.0f, 1.0f}});
  for (std::size_t i = 0; i < flat.pixels.size(); i += 3) EXPECT_EQ(flat.pixels[i + 2], 4);
}

// ---- resizing and preprocessing ----------------------------------------------------------

TEST(DepthDemo, ResizeFollowsPilBilinear) {
  // Upscaling 2 -> 4: pixel centres at +0.5 give 0, 25, 75, 100.
  const FloatArray2d up = resize_map(FloatArray2d{1, 2, {0.0f, 100.0f}}, 4, 1, Resample::Bilinear);
  EXPECT_EQ(up.values, (std::vector<float>{0.0f, 25.0f, 75.0f, 100.0f}));
  // Downscaling 4 -> 2 widens the triangle to 2 source pixels (antialiasing): output 0 reads
  // sources 0, 1, 2 with weights 0.75, 0.75, 0.25 (normalised).
  const FloatArray2d down =
      resize_map(FloatArray2d{1, 4, {0.0f, 100.0f, 200.0f, 50.0f}}, 2, 1, Resample::Bilinear);
  EXPECT_NEAR(down.values[0], (100 * 0.75 + 200 * 0.25) / 1.75, 1e-4);
  // Same size is the identity for both filters; a flat image stays flat at any size.
  const RgbImage scene = synthetic_scene(64, 48);
  EXPECT_EQ(resize_image(scene, 64, 48, Resample::Bicubic), scene);
  EXPECT_EQ(resize_image(scene, 64, 48, Resample::Bilinear), scene);
  RgbImage flat{5, 3, {}};
  for (int i = 0; i < 15; ++i) flat.pixels.insert(flat.pixels.end(), {10, 200, 77});
  for (const auto filter : {Resample::Bilinear, Resample::Bicubic}) {
    for (const auto& [w, h] :
         std::vector<std::pair<std::uint32_t, std::uint32_t>>{{32, 32}, {2, 7}}) {
      const RgbImage r = resize_image(flat, w, h, filter);
      for (std::size_t i = 0; i < r.pixels.size(); i += 3) {
        ASSERT_EQ(r.pixels[i], 10);
        ASSERT_EQ(r.pixels[i + 1], 200);
        ASSERT_EQ(r.pixels[i + 2], 77);
      }
    }
  }
}

const wormsim::arch::DeviceSpec& n300() {
  static const wormsim::arch::DeviceSpec spec = wormsim::arch::load_device_spec_by_name("n300");
  return spec;
}

Graph small_model(const std::string& name, std::uint32_t resolution, std::uint32_t batch = 1) {
  ModelOptions options;
  options.layers = 1;
  options.batch = batch;
  options.resolution = resolution;
  return build_model(name, options, n300());
}

TEST(DepthDemo, PixelValuesAreNormalisedNhwcRepeatedOverTheBatch) {
  // A flat colour: every pixel normalises to the same numbers.
  RgbImage flat{3, 2, {}};
  for (int i = 0; i < 6; ++i) flat.pixels.insert(flat.pixels.end(), {255, 0, 128});
  const Graph dpt = small_model("dpt-large", 32, 2);
  const wormsim::ops::Tensor t = pixel_values(dpt, flat, *image_preprocessing("dpt-large"));
  EXPECT_EQ(t.spec(), dpt.spec(*dpt.find_tensor("pixel_values")));
  ASSERT_EQ(t.spec().logical_shape().dims(), (std::vector<std::uint32_t>{2, 32, 32, 4}));
  // mean = std = 0.5: 255 -> 1, 0 -> -1, 128 -> 0.00392 (bfloat16 on the device, exact golden).
  for (std::uint32_t b = 0; b < 2; ++b) {
    for (const auto& [y, x] :
         std::vector<std::pair<std::uint32_t, std::uint32_t>>{{0, 0}, {31, 17}}) {
      EXPECT_FLOAT_EQ(t.at(b, y, x, 0), 1.0f);
      EXPECT_FLOAT_EQ(t.at(b, y, x, 1), -1.0f);
      EXPECT_NEAR(t.at(b, y, x, 2), 1.0f / 255.0f, 1e-4);
      EXPECT_FLOAT_EQ(t.golden_at(b, y, x, 2), (128.0f / 255.0f - 0.5f) / 0.5f);
      EXPECT_EQ(t.at(b, y, x, 3), 0.0f);  // the padding channel
    }
  }
  // Depth Anything: ImageNet mean / std.
  const Graph da = small_model("depth-anything-v2-large", 28);
  const wormsim::ops::Tensor d =
      pixel_values(da, flat, *image_preprocessing("depth-anything-v2-large"));
  EXPECT_FLOAT_EQ(d.golden_at(0, 5, 5, 0), (1.0f - 0.485f) / 0.229f);
  EXPECT_FLOAT_EQ(d.golden_at(0, 5, 5, 1), (0.0f - 0.456f) / 0.224f);
  // A real image keeps its layout: the scene's sky (top) is bluer than its ground (bottom).
  const wormsim::ops::Tensor s =
      pixel_values(dpt, synthetic_scene(64, 48), *image_preprocessing("dpt-large"));
  EXPECT_GT(s.golden_at(0, 1, 16, 2), s.golden_at(0, 30, 16, 2));
  EXPECT_EQ(s.golden_at(0, 1, 16, 2), s.golden_at(1, 1, 16, 2));
}

TEST(DepthDemo, RequestsThatCannotWorkFailBeforeTheRun) {
  TempDir dir;
  const std::string image = (kImages / "scene.png").string();
  const Graph dpt = small_model("dpt-large", 32);
  expect_error([&] { prepare_depth_demo(small_model("bert-large", 32), image, "", true); },
               {"--input", "bert-large", "no image input", "dpt-large"});
  expect_error([&] { prepare_depth_demo(small_model("vit-base", 32), image, "", true); },
               {"--input", "vit-base", "no image preprocessing"});
  expect_error([&] { prepare_depth_demo(small_model("vit-base", 32), "", "d.npy", true); },
               {"--dump-depth", "vit-base", "not a depth model"});
  expect_error([&] { prepare_depth_demo(dpt, "", (dir / "d.npy").string(), false); },
               {"--dump-depth", "--numerics off"});
  expect_error([&] { prepare_depth_demo(dpt, "", (dir / "d.tiff").string(), true); },
               {".npy", ".png"});
  expect_error([&] { prepare_depth_demo(dpt, "", (dir / "nope" / "d.png").string(), true); },
               {"nope", "does not exist"});
  expect_error([&] { prepare_depth_demo(dpt, (dir / "gone.png").string(), "", true); },
               {"--input", "gone.png", "does not exist"});
  const DepthDemo ok = prepare_depth_demo(dpt, image, (dir / "d.PNG").string(), true);
  EXPECT_EQ(ok.inputs.count("pixel_values"), 1u);
  ASSERT_TRUE(ok.image.has_value());
  EXPECT_EQ(ok.image->width, 64u);
}

// ---- the shipped test image --------------------------------------------------------------

TEST(ImageIo, ShippedSceneIsTheSyntheticScene) {
  const RgbImage scene = synthetic_scene(64, 48);
  if (std::getenv("WORMSIM_WRITE_TEST_IMAGES") != nullptr) {
    fs::create_directories(kImages);
    write_png(kImages / "scene.png", scene);
    write_ppm(kImages / "scene.ppm", scene);
  }
  EXPECT_EQ(read_image(kImages / "scene.png"), scene);
  EXPECT_EQ(read_image(kImages / "scene.ppm"), scene);
}

// ---- end to end --------------------------------------------------------------------------

int run_wormsim(const std::string& args) {
  const std::string command = std::string(WORMSIM_BINARY) + " " + args;
  return std::system(command.c_str());
}

TEST(DepthDemoCli, DumpsTheDepthOfAnImage) {
  TempDir dir;
  const fs::path npy = dir / "depth.npy";
  ASSERT_EQ(run_wormsim("run --model dpt-large --layers 1 --batch 1 --resolution 32 --no-db "
                        "--top 1 --input " +
                        (kImages / "scene.png").string() + " --dump-depth " + npy.string() + " > " +
                        (dir / "out.txt").string()),
            0);
  const FloatArray2d depth = read_npy(npy);
  EXPECT_EQ(depth.rows, 32u);
  EXPECT_EQ(depth.cols, 32u);
  float low = depth.values.front(), high = depth.values.front();
  for (const float v : depth.values) {
    ASSERT_TRUE(std::isfinite(v));
    low = std::min(low, v);
    high = std::max(high, v);
  }
  EXPECT_LT(low, high) << "constant depth map";
  EXPECT_GE(low, 0.0f);  // the head ends in ReLU

  // The PNG is drawn at the input image's size; a different image gives a different map.
  const fs::path png = dir / "depth.png";
  ASSERT_EQ(run_wormsim("run --model dpt-large --layers 1 --resolution 32 --no-db --top 1 "
                        "--format json --input " +
                        (kImages / "scene.ppm").string() + " --dump-depth " + png.string() + " > " +
                        (dir / "out.json").string()),
            0);
  const RgbImage drawn = read_image(png);
  EXPECT_EQ(drawn.width, 64u);
  EXPECT_EQ(drawn.height, 48u);

  // Errors exit non-zero before running and leave no file.
  EXPECT_NE(run_wormsim("run --model dpt-large --layers 1 --resolution 32 --no-db --numerics off "
                        "--dump-depth " +
                        (dir / "off.npy").string() + " 2> /dev/null"),
            0);
  EXPECT_NE(run_wormsim("run --model bert-large --layers 1 --resolution 32 --no-db --input " +
                        (kImages / "scene.png").string() + " 2> /dev/null"),
            0);
  EXPECT_FALSE(fs::exists(dir / "off.npy"));
}

}  // namespace
