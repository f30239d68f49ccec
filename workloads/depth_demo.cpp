#include "workloads/depth_demo.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <sstream>

#include "sim/error.hpp"
#include "workloads/weights.hpp"

namespace wormsim::workloads {
namespace {

namespace fs = std::filesystem;

constexpr const char* kImageInput = "pixel_values";

// The models' HuggingFace image processors (preprocessor_config.json):
//  - Intel/dpt-large: DPTImageProcessor, size 384, keep_aspect_ratio false, resample 2
//    (bilinear), image_mean = image_std = [0.5, 0.5, 0.5]
//    (https://huggingface.co/Intel/dpt-large/blob/main/preprocessor_config.json);
//  - depth-anything/Depth-Anything-V2-*-hf: DPTImageProcessor, size 518 x 518,
//    keep_aspect_ratio true, ensure_multiple_of 14, resample 3 (bicubic), the ImageNet
//    image_mean [0.485, 0.456, 0.406] and image_std [0.229, 0.224, 0.225]
//    (https://huggingface.co/depth-anything/Depth-Anything-V2-Small-hf, preprocessor_config.json;
//    the V1 depth-anything-large-hf config holds the same values). The square graph cannot keep
//    the aspect ratio: the image is stretched to the graph's size instead.
constexpr std::array<ImagePreprocessing, 2> kPreprocessing{{
    {"dpt-large", Resample::Bilinear, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}},
    {"depth-anything-v2-large",
     Resample::Bicubic,
     {0.485f, 0.456f, 0.406f},
     {0.229f, 0.224f, 0.225f}},
}};

// The filters' reach in source pixels at scale 1, and their kernels.
double filter_support(Resample filter) { return filter == Resample::Bilinear ? 1.0 : 2.0; }

double filter_weight(Resample filter, double x) {
  x = std::abs(x);
  if (filter == Resample::Bilinear) return x < 1.0 ? 1.0 - x : 0.0;
  // Keys' cubic convolution with a = -0.5 (PIL's BICUBIC).
  constexpr double a = -0.5;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// For each output position along one axis: the first source index and the normalised weights
// of the source pixels it reads.
struct AxisTaps {
  std::vector<std::uint32_t> first;
  std::vector<std::vector<double>> weights;
};

AxisTaps axis_taps(std::uint32_t in_size, std::uint32_t out_size, Resample filter) {
  const double scale = static_cast<double>(in_size) / out_size;
  // Shrinking widens the kernel by the scale so every source pixel contributes (antialiasing).
  const double widen = std::max(scale, 1.0);
  const double support = filter_support(filter) * widen;
  AxisTaps taps;
  taps.first.resize(out_size);
  taps.weights.resize(out_size);
  for (std::uint32_t i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    const auto lo = static_cast<std::int64_t>(std::max(0.0, std::floor(center - support + 0.5)));
    const auto hi = static_cast<std::int64_t>(
        std::min(static_cast<double>(in_size), std::floor(center + support + 0.5)));
    std::vector<double> w;
    double sum = 0;
    for (std::int64_t x = lo; x < hi; ++x) {
      w.push_back(filter_weight(filter, (static_cast<double>(x) + 0.5 - center) / widen));
      sum += w.back();
    }
    for (double& v : w) v /= sum;
    taps.first[i] = static_cast<std::uint32_t>(lo);
    taps.weights[i] = std::move(w);
  }
  return taps;
}

double to_8bit(double v) { return std::clamp(std::round(v), 0.0, 255.0); }

// Separable resampling of an interleaved width x height x channels buffer: rows first, then
// columns (PIL's order); `eight_bit` rounds and clamps after each pass as PIL's 8-bit images do.
std::vector<double> resample(const std::vector<double>& in, std::uint32_t width,
                             std::uint32_t height, std::uint32_t channels, std::uint32_t out_width,
                             std::uint32_t out_height, Resample filter, bool eight_bit) {
  if (width == 0 || height == 0 || out_width == 0 || out_height == 0) {
    throw Error("resize: sizes must be at least 1 x 1");
  }
  const AxisTaps across = axis_taps(width, out_width, filter);
  std::vector<double> rows(static_cast<std::size_t>(height) * out_width * channels);
  for (std::uint32_t y = 0; y < height; ++y) {
    for (std::uint32_t x = 0; x < out_width; ++x) {
      for (std::uint32_t c = 0; c < channels; ++c) {
        double sum = 0;
        const auto& w = across.weights[x];
        for (std::size_t k = 0; k < w.size(); ++k) {
          sum +=
              w[k] * in[(static_cast<std::size_t>(y) * width + across.first[x] + k) * channels + c];
        }
        rows[(static_cast<std::size_t>(y) * out_width + x) * channels + c] =
            eight_bit ? to_8bit(sum) : sum;
      }
    }
  }
  const AxisTaps down = axis_taps(height, out_height, filter);
  std::vector<double> out(static_cast<std::size_t>(out_height) * out_width * channels);
  for (std::uint32_t y = 0; y < out_height; ++y) {
    const auto& w = down.weights[y];
    for (std::uint32_t x = 0; x < out_width; ++x) {
      for (std::uint32_t c = 0; c < channels; ++c) {
        double sum = 0;
        for (std::size_t k = 0; k < w.size(); ++k) {
          sum += w[k] * rows[((down.first[y] + k) * out_width + x) * channels + c];
        }
        out[(static_cast<std::size_t>(y) * out_width + x) * channels + c] =
            eight_bit ? to_8bit(sum) : sum;
      }
    }
  }
  return out;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string number_text(double v) {
  std::ostringstream out;
  out.precision(6);
  out << v;
  return out.str();
}

}  // namespace

const ImagePreprocessing* image_preprocessing(std::string_view model) {
  for (const auto& p : kPreprocessing) {
    if (p.model == model) return &p;
  }
  return nullptr;
}

std::string depth_model_names() {
  std::string names;
  for (const auto& p : kPreprocessing) names += (names.empty() ? "" : ", ") + std::string(p.model);
  return names;
}

RgbImage resize_image(const RgbImage& image, std::uint32_t width, std::uint32_t height,
                      Resample filter) {
  const std::vector<double> in(image.pixels.begin(), image.pixels.end());
  const std::vector<double> out =
      resample(in, image.width, image.height, 3, width, height, filter, /*eight_bit=*/true);
  RgbImage resized;
  resized.width = width;
  resized.height = height;
  resized.pixels.reserve(out.size());
  for (const double v : out) resized.pixels.push_back(static_cast<std::uint8_t>(v));
  return resized;
}

FloatArray2d resize_map(const FloatArray2d& map, std::uint32_t cols, std::uint32_t rows,
                        Resample filter) {
  const std::vector<double> in(map.values.begin(), map.values.end());
  const std::vector<double> out =
      resample(in, map.cols, map.rows, 1, cols, rows, filter, /*eight_bit=*/false);
  FloatArray2d resized;
  resized.rows = rows;
  resized.cols = cols;
  resized.values.assign(out.begin(), out.end());
  return resized;
}

ops::Tensor pixel_values(const Graph& graph, const RgbImage& image,
                         const ImagePreprocessing& preprocessing) {
  const auto id = graph.find_tensor(kImageInput);
  if (!id || graph.tensor(*id).kind != TensorKind::Input) {
    throw Error("graph '" + graph.name() + "' has no image input '" + kImageInput + "'");
  }
  const ops::TensorSpec& spec = graph.spec(*id);
  const auto& dims = spec.logical_shape().dims();
  if (dims.size() != 4 || dims[3] < 3) {
    throw Error("graph '" + graph.name() + "': " + kImageInput + " is " +
                ops::to_string(spec.logical_shape()) +
                ", not an NHWC image [batch, height, width, channels >= 3]");
  }
  const std::uint32_t batch = dims[0], height = dims[1], width = dims[2], channels = dims[3];
  const RgbImage resized = resize_image(image, width, height, preprocessing.resample);
  const std::size_t per_image = static_cast<std::size_t>(height) * width * channels;
  std::vector<float> values(per_image * batch, 0.0f);  // padding channels stay 0
  for (std::uint32_t y = 0; y < height; ++y) {
    for (std::uint32_t x = 0; x < width; ++x) {
      for (std::uint32_t c = 0; c < 3; ++c) {
        const float scaled = static_cast<float>(resized.at(x, y, c)) / 255.0f;
        const float normalised = (scaled - preprocessing.mean[c]) / preprocessing.std[c];
        for (std::uint32_t b = 0; b < batch; ++b) {
          values[b * per_image + (static_cast<std::size_t>(y) * width + x) * channels + c] =
              normalised;
        }
      }
    }
  }
  return tensor_from_logical(spec, values);
}

DepthDemo prepare_depth_demo(const Graph& graph, const std::string& input_path,
                             const std::string& dump_path, bool numerics) {
  DepthDemo demo;
  const std::string& model = graph.name();
  const ImagePreprocessing* preprocessing = image_preprocessing(model);
  if (!input_path.empty()) {
    const auto id = graph.find_tensor(kImageInput);
    if (!id || graph.tensor(*id).kind != TensorKind::Input) {
      throw Error("--input " + input_path + ": model '" + model + "' has no image input (" +
                  kImageInput + "); --input works with " + depth_model_names());
    }
    if (preprocessing == nullptr) {
      throw Error("--input " + input_path + ": wormsim has no image preprocessing for '" + model +
                  "' (its processor's resize and normalisation); --input works with " +
                  depth_model_names());
    }
  }
  if (!dump_path.empty()) {
    if (preprocessing == nullptr) {
      throw Error("--dump-depth: model '" + model + "' is not a depth model; use one of " +
                  depth_model_names());
    }
    if (!numerics) {
      throw Error(
          "--dump-depth needs the depth values, which --numerics off does not compute; "
          "drop --numerics off");
    }
    const fs::path path(dump_path);
    const std::string extension = lower(path.extension().string());
    if (extension != ".npy" && extension != ".png") {
      throw Error("--dump-depth " + dump_path +
                  ": the file must end in .npy (float32 depth values) or .png (colour-mapped "
                  "depth)");
    }
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      throw Error("--dump-depth " + dump_path + ": directory " + dir.string() +
                  " does not exist; create it or choose another path");
    }
    demo.dump_path = path;
  }
  if (!input_path.empty()) {
    try {
      demo.image = read_image(input_path);
    } catch (const Error& e) {
      throw Error(std::string("--input: ") + e.what());
    }
    demo.inputs.emplace(kImageInput, pixel_values(graph, *demo.image, *preprocessing));
  }
  return demo;
}

FloatArray2d depth_map(const Graph& graph, const GraphRun& run) {
  const auto image = graph.find_tensor(kImageInput);
  if (!image || graph.outputs().size() != 1) {
    throw Error("graph '" + graph.name() + "' is not a depth model (one image input '" +
                kImageInput + "', one depth output)");
  }
  const auto& dims = graph.spec(*image).logical_shape().dims();
  if (dims.size() != 4) {
    throw Error("graph '" + graph.name() + "': " + kImageInput +
                " is not [batch, height, width, "
                "channels]");
  }
  const std::string& output = graph.tensor(graph.outputs().front()).name;
  const auto found = run.outputs.find(output);
  if (found == run.outputs.end() || !found->second.has_values()) {
    throw Error("graph '" + graph.name() + "': the run has no values of output '" + output +
                "' (run with --numerics on)");
  }
  const std::uint32_t batch = dims[0], height = dims[1], width = dims[2];
  const std::vector<float> values = found->second.logical_values();
  const std::size_t per_image = static_cast<std::size_t>(height) * width;
  if (values.size() != per_image * batch) {
    throw Error("graph '" + graph.name() + "': output '" + output + "' has " +
                std::to_string(values.size()) + " values, not one per input pixel (" +
                std::to_string(batch) + " x " + std::to_string(height) + " x " +
                std::to_string(width) + ")");
  }
  FloatArray2d depth;
  depth.rows = height;
  depth.cols = width;
  depth.values.assign(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(per_image));
  return depth;
}

std::string write_depth_dump(const DepthDemo& demo, const FloatArray2d& depth) {
  const fs::path& path = demo.dump_path;
  if (path.empty()) throw Error("write_depth_dump: no --dump-depth file was given");
  float low = std::numeric_limits<float>::infinity();
  float high = -std::numeric_limits<float>::infinity();
  for (const float v : depth.values) {
    low = std::min(low, v);
    high = std::max(high, v);
  }
  const std::string range = "values " + number_text(low) + " .. " + number_text(high);
  if (lower(path.extension().string()) == ".npy") {
    write_npy(path, depth);
    return "depth map " + std::to_string(depth.rows) + " x " + std::to_string(depth.cols) +
           " (float32, " + range + ") written to " + path.string();
  }
  // The PNG lines up with the input image: the depth is resized to its size first.
  const FloatArray2d shown =
      demo.image ? resize_map(depth, demo.image->width, demo.image->height, Resample::Bilinear)
                 : depth;
  write_png(path, colorize_depth(shown));
  return "depth map " + std::to_string(depth.rows) + " x " + std::to_string(depth.cols) + " (" +
         range + "), drawn at " + std::to_string(shown.cols) + " x " + std::to_string(shown.rows) +
         " with inferno, written to " + path.string();
}

}  // namespace wormsim::workloads
