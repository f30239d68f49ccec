#pragma once
// The depth demo of `wormsim run --input IMAGE --dump-depth FILE` (docs/models.md, "Depth
// demo"): an image file becomes the graph's pixel_values the way the model's HuggingFace image
// processor prepares it, and the depth output of a numeric run is written as .npy or as a
// colour-mapped .png.
//
// Preprocessing (per model, see image_preprocessing()):
//  1. resize to the graph's input size (H x W of pixel_values) with the processor's PIL filter,
//     done as PIL does it: separable, pixel centres at +0.5, the filter widened by the scale
//     factor when shrinking (antialiasing), 8-bit results after each pass;
//  2. scale to [0, 1] (x / 255) and normalise per channel ((x - mean) / std);
//  3. lay out as pixel_values [B, H, W, C] ROW_MAJOR (NHWC; channels beyond RGB are the zero
//     padding TT-NN's patch embedding reads), the same image in every batch entry, values
//     rounded to the tensor's data type (the fp32 golden keeps the unrounded ones).
// The graphs are square, so an image of another aspect ratio is stretched (Depth Anything's
// processor keeps the aspect ratio and would feed a non-square image).
//
// Output: the depth map of batch entry 0 at the model resolution, [1, 1, B*H*W, 1] ->
// H x W. `.npy` stores it unchanged (float32, shape (H, W)); `.png` resizes it (bilinear, as
// above, without rounding) to the input image's size when an image was given, then maps
// min..max through inferno (workloads/image_io.hpp).
#include <array>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "ops/tensor.hpp"
#include "workloads/executor.hpp"
#include "workloads/graph.hpp"
#include "workloads/image_io.hpp"

namespace wormsim::workloads {

// The PIL resampling filters HuggingFace's image processors use.
enum class Resample { Bilinear, Bicubic };

struct ImagePreprocessing {
  std::string_view model;     // graph name
  Resample resample;          // the processor's "resample" (PIL: 2 = bilinear, 3 = bicubic)
  std::array<float, 3> mean;  // "image_mean"
  std::array<float, 3> std;   // "image_std"
};

// The preprocessing of a depth model (dpt-large, depth-anything-v2-large), or nullptr.
const ImagePreprocessing* image_preprocessing(std::string_view model);
// "dpt-large, depth-anything-v2-large": for error messages.
std::string depth_model_names();

// Resizes like PIL's Image.resize with the filter (see the header note); 8-bit results.
RgbImage resize_image(const RgbImage& image, std::uint32_t width, std::uint32_t height,
                      Resample filter);
// The same resampling on a float map, without rounding.
FloatArray2d resize_map(const FloatArray2d& map, std::uint32_t cols, std::uint32_t rows,
                        Resample filter);

// The graph's "pixel_values" tensor for `image` (steps 1-3 above). Throws wormsim::Error if the
// graph has no such input or its shape is not [B, H, W, C >= 3].
ops::Tensor pixel_values(const Graph& graph, const RgbImage& image,
                         const ImagePreprocessing& preprocessing);

// What --input / --dump-depth ask for, checked before the run.
struct DepthDemo {
  std::map<std::string, ops::Tensor> inputs;  // for ExecutorOptions::inputs
  std::optional<RgbImage> image;              // the --input image as read
  std::filesystem::path dump_path;            // "" = no --dump-depth
};

// Checks the request against the graph and reads + preprocesses the image. Errors (naming the
// flag and the fix): --input on a model without an image input or without preprocessing,
// --dump-depth on a model that is not a depth model, --dump-depth with numerics off, a dump
// file that is neither .npy nor .png or whose directory does not exist, and every image
// reading error.
DepthDemo prepare_depth_demo(const Graph& graph, const std::string& input_path,
                             const std::string& dump_path, bool numerics);

// The depth map of batch entry 0 from a numeric run: rows x cols = pixel_values' H x W.
FloatArray2d depth_map(const Graph& graph, const GraphRun& run);

// Writes the demo's dump file (see the header note); returns a one-line description of what was
// written.
std::string write_depth_dump(const DepthDemo& demo, const FloatArray2d& depth);

}  // namespace wormsim::workloads
