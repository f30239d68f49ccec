#pragma once
// Building blocks shared by the model zoo's builders (internal to workloads/models/).
//
// ModelBuilder wraps a Graph with the zoo's conventions:
//  - weights are named like the checkpoints they come from (HuggingFace / torchvision names), so
//    an HDF5 file with those dataset names can replace the synthetic values;
//  - every compute node gets "output_dtype" and "math_fidelity" from the options of its layer
//    group; data-movement nodes keep their input's format;
//  - matrix weights are initialised U(-a, a) with a = sqrt(3 / fan_in) (unit-variance outputs
//    for unit-variance inputs), so deep graphs keep meaningful values for PCC.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ops/data_type.hpp"
#include "ops/tensor_spec.hpp"
#include "workloads/graph.hpp"
#include "workloads/models/model_zoo.hpp"

namespace wormsim::workloads::models {

// An NHWC activation as TT-NN's CNN ops keep it: a [1, 1, N*H*W, C] tensor plus its geometry.
struct FeatureMap {
  TensorId id{0};
  std::uint32_t batch{1};
  std::uint32_t height{1};
  std::uint32_t width{1};
  std::uint32_t channels{1};
};

struct LinearOptions {
  bool bias{true};
  std::string activation;  // fused into the matmul ("gelu", "relu", "silu", ...)
};

struct ConvOptions {
  std::uint32_t kernel{1};
  std::uint32_t stride{1};
  std::uint32_t padding{0};
  std::uint32_t groups{1};
  bool bias{true};  // batch norm folded into the conv gives every conv a bias
  std::string activation;
  double weight_gain{1.0};  // init scale multiplier (relu nets: sqrt(2))
  // Write the output to DRAM: feature maps a much later op reads (skip connections across a
  // network) are kept out of L1, as TT-NN's models move them to DRAM.
  bool output_in_dram{false};
  // TT-NN's enable_act_double_buffer: the readers gather the next act block while this one is
  // tilized (more L1; tt-metal's tuned CNNs turn it on for their 3x3 convs).
  bool act_double_buffer{false};
};

class ModelBuilder {
 public:
  ModelBuilder(Graph& graph, const ModelOptions& options);

  Graph& graph() { return graph_; }
  const ModelOptions& options() const { return options_; }

  // Resolved per-group settings (group overrides, else the global ones).
  ops::DataType dtype(const std::string& group) const;
  std::string dtype_name(const std::string& group) const;
  std::string fidelity(const std::string& group) const;
  // A type a ROW_MAJOR tensor of the group can hold (block-float formats become bfloat16).
  ops::DataType row_major_dtype(const std::string& group) const;

  // Blocks of a stack of `full` blocks after options.layers.
  std::uint32_t depth(std::uint32_t full) const;

  // ---- tensors ----
  TensorId input(const std::string& name, const ops::Shape& shape, ops::Layout layout,
                 ops::DataType type);
  // A TILE weight in the group's dtype, U(-scale, scale).
  TensorId weight(const std::string& name, const ops::Shape& shape, const std::string& group,
                  double scale, const std::string& init = "uniform");
  // A [1, 1, 1, width] vector (bias, norm gamma / beta, layer scale) in the group's dtype.
  TensorId vector(const std::string& name, std::uint32_t width, const std::string& group,
                  const std::string& init, double scale = 0.02);
  // A constant the model builds; `scale` as for weights (U(-scale, scale); integer tensors draw
  // from [0, scale)).
  TensorId constant(const std::string& name, const ops::Shape& shape, ops::Layout layout,
                    ops::DataType type, const std::string& init,
                    double scale = kDefaultWeightScale);

  // ---- nodes ----
  // A compute op (matmul, eltwise, norm, softmax, conv, pool): output_dtype and math_fidelity
  // of `group` are added to params (conv2d takes the output dtype as "dtype").
  std::vector<TensorId> compute_n(const std::string& name, const std::string& op,
                                  const std::vector<TensorId>& inputs, nlohmann::json params,
                                  const std::string& group);
  TensorId compute(const std::string& name, const std::string& op,
                   const std::vector<TensorId>& inputs, nlohmann::json params,
                   const std::string& group);
  // A data-movement op: params as given.
  std::vector<TensorId> move_n(const std::string& name, const std::string& op,
                               const std::vector<TensorId>& inputs, const nlohmann::json& params,
                               const std::string& group);
  TensorId move(const std::string& name, const std::string& op, const std::vector<TensorId>& inputs,
                const nlohmann::json& params, const std::string& group);

  // ttnn.linear with weight "<name>.weight" [1, 1, in, out] and bias "<name>.bias" [1, 1, 1, out].
  TensorId linear(const std::string& name, TensorId x, std::uint32_t in_features,
                  std::uint32_t out_features, const std::string& group,
                  const LinearOptions& linear_options = {});
  TensorId matmul(const std::string& name, TensorId a, TensorId b, const std::string& group);
  // Norms with "<name>.weight" / "<name>.bias" (rmsnorm: weight only).
  TensorId layernorm(const std::string& name, TensorId x, std::uint32_t width, double epsilon,
                     const std::string& group);
  TensorId rmsnorm(const std::string& name, TensorId x, std::uint32_t width, double epsilon,
                   const std::string& group);
  TensorId binary(const std::string& op, const std::string& name, TensorId a, TensorId b,
                  const std::string& group);
  TensorId unary(const std::string& op, const std::string& name, TensorId x,
                 const std::string& group);
  TensorId softmax(const std::string& name, TensorId x, double scale, const std::string& group,
                   std::optional<TensorId> mask = std::nullopt);

  // ---- NHWC convolution path ----
  // ttnn.conv2d: weight "<name>.weight" [1, 1, k*k*C_in, C_out] (TT-NN's prepared layout;
  // grouped convs hold their block-diagonal zeros, so a depthwise conv counts k*k*C*C
  // elements), bias "<name>.bias" [1, 1, 1, C_out]. Placement: see place_window_op(); a conv
  // that fits L1 in no placement runs in bands of output rows through DRAM (TT-NN's DRAM
  // slicing), each band reading its rows plus the window overlap.
  FeatureMap conv(const std::string& name, const FeatureMap& x, std::uint32_t out_channels,
                  const ConvOptions& conv_options, const std::string& group);
  // ttnn.conv_transpose2d with kernel = stride = `factor`, no padding (each input pixel becomes
  // a factor x factor block): weight "<name>.weight" [1, 1, f*f*C_in, C_out], TT-NN's prepared
  // matrix of the flipped kernel, bias "<name>.bias". TT-NN runs it as halo (inserting the zeros)
  // + conv2d, so the conv does f*f times the transposed conv's multiply-adds. Placed like conv();
  // throws Error if it fits L1 in no placement (no DRAM slicing for transposed convs).
  FeatureMap conv_transpose(const std::string& name, const FeatureMap& x,
                            std::uint32_t out_channels, std::uint32_t factor,
                            const std::string& group);
  FeatureMap max_pool(const std::string& name, const FeatureMap& x, std::uint32_t kernel,
                      std::uint32_t stride, std::uint32_t padding, const std::string& group);
  // ttnn.upsample (nearest or bilinear) by an integer factor: untilize, NHWC view, height
  // shards of whole image rows, upsample, optional crop to crop_height x crop_width (the
  // non-integer resizes of Depth Anything), flatten, tilize back. A map too large for L1 is
  // upsampled in bands of rows (bilinear: with a one-row halo) through DRAM.
  FeatureMap upsample(const std::string& name, const FeatureMap& x, std::uint32_t factor,
                      const std::string& mode, const std::string& group,
                      std::uint32_t crop_height = 0, std::uint32_t crop_width = 0);
  // Channel concat of NHWC maps of the same geometry.
  FeatureMap concat_channels(const std::string& name, const std::vector<FeatureMap>& maps,
                             const std::string& group);
  // Channels [first, first + count) of an NHWC map.
  FeatureMap slice_channels(const std::string& name, const FeatureMap& x, std::uint32_t first,
                            std::uint32_t count, const std::string& group);
  FeatureMap add_maps(const std::string& name, const FeatureMap& a, const FeatureMap& b,
                      const std::string& group, const std::string& activation = "");
  // The map's tensor in TILE layout (tilize if it is ROW_MAJOR).
  FeatureMap to_tile(const std::string& name, const FeatureMap& x, const std::string& group);
  // Image rows [first, last) of every image of the map, in DRAM (TT-NN's padded_slice).
  FeatureMap slice_rows(const std::string& name, const FeatureMap& x, std::uint32_t first,
                        std::uint32_t last, const std::string& group);
  // Joins bands of image rows (each holding every image) back into one map in DRAM (TT-NN's
  // slice_write of every band).
  FeatureMap concat_rows(const std::string& name, const std::vector<FeatureMap>& bands,
                         const std::string& group);
  // The map in DRAM (interleaved).
  FeatureMap in_dram(const std::string& name, const FeatureMap& x, const std::string& group);

  // ---- transformer helpers ----
  // Scaled dot-product attention over heads: Q [B, H, S, D], K^T [B, KVH, D, T], V [B, KVH, T, D]
  // as TT-NN's unfused path runs it: matmul Q K^T, softmax (scale, optional additive mask),
  // matmul with V. With fewer KV heads than query heads (MQA/GQA) the query heads of one KV
  // head are folded into the rows (reshape [B, H, S, D] -> [B, KVH, H/KVH*S, D]; a view when S
  // is a whole number of tiles). The mask must then cover H/KVH*S rows.
  TensorId attention(const std::string& name, TensorId q, TensorId k_t, TensorId v,
                     std::uint32_t heads, std::uint32_t kv_heads, double scale,
                     const std::string& group, std::optional<TensorId> mask = std::nullopt);

  // The spec readers of `id` see (its DRAM copy's, once spilled).
  const ops::TensorSpec& spec(TensorId id) const { return graph_.spec(resolve(id)); }
  // Whether `op` accepts these inputs and params: its output_specs() succeeds and a dry run of
  // its placement (held tensors, inputs, outputs, then its circular buffers) fits a core's L1.
  // The zoo asks before choosing a default placement: TT-NN's L1-sharded output, else DRAM.
  bool accepts(const std::string& op, const std::vector<TensorId>& inputs,
               const nlohmann::json& params) const;
  // `op_inputs`: the graph tensors the op reads (held tensors among them are not counted twice).
  bool accepts_specs(const std::string& op, const std::vector<ops::TensorSpec>& inputs,
                     const nlohmann::json& params, const std::vector<TensorId>& op_inputs) const;
  // Tensors the caller keeps alive in L1 across the next ops (a residual branch's input, a
  // feature map a later concat reads): placement decisions leave room for them.
  void hold(TensorId tensor);
  void release(TensorId tensor);
  // The tensor readers of `tensor` use: its DRAM copy once it was spilled, else itself.
  TensorId resolve(TensorId tensor) const;
  std::vector<TensorId> resolved(const std::vector<TensorId>& tensors) const;
  // Moves every held tensor that sits in L1 to DRAM (what a TT-NN model does with
  // ttnn.to_memory_config(x, DRAM_MEMORY_CONFIG) when an op does not fit beside its residual).
  // Returns whether anything moved.
  bool spill_held_tensors(const std::string& group);
  std::vector<std::uint32_t> dims4(TensorId id) const;

 private:
  // TT-NN's default placement for a sliding-window op (conv2d, max_pool2d): output in L1
  // sharded like the input. When the op reports that it does not fit L1, the output goes to
  // DRAM, and if that is not enough either the input is moved to DRAM first.
  // Returns false (adding nothing) if no placement fits.
  bool place_window_op(const std::string& name, const std::string& op,
                       std::vector<TensorId>& inputs, nlohmann::json& params,
                       const std::string& group);
  nlohmann::json conv_params(const FeatureMap& x, std::uint32_t input_height,
                             std::uint32_t out_channels, const ConvOptions& c,
                             std::uint32_t pad_top, std::uint32_t pad_bottom,
                             const std::string& group) const;
  // Cores for height shards of whole image rows: the largest count <= the worker grid dividing
  // `rows`.
  std::int64_t row_shard_cores(std::uint64_t rows) const;
  std::string resolve(const std::map<std::string, std::string>& overrides, const std::string& group,
                      const std::string& fallback) const;

  Graph& graph_;
  ModelOptions options_;
  std::vector<TensorId> held_;
  // Held tensors moved to DRAM to make room for an op (spill_held_tensors); later readers of the
  // original read the copy.
  std::map<TensorId, TensorId> spilled_;
};

// Weight init scale sqrt(3 / fan_in): U(-a, a) with unit output variance for unit inputs.
double fan_in_scale(std::uint64_t fan_in);

// Builders of the model families (one .cpp each).
Graph build_vit_base(const ModelOptions& options, const arch::DeviceSpec& device);
Graph build_dpt_large(const ModelOptions& options, const arch::DeviceSpec& device);
Graph build_depth_anything_v2_large(const ModelOptions& options, const arch::DeviceSpec& device);
Graph build_pi0(const ModelOptions& options, const arch::DeviceSpec& device);
Graph build_resnet50(const ModelOptions& options, const arch::DeviceSpec& device);
Graph build_bert_large(const ModelOptions& options, const arch::DeviceSpec& device);
Graph build_yolov8s(const ModelOptions& options, const arch::DeviceSpec& device);
Graph build_mnist_mlp(const ModelOptions& options, const arch::DeviceSpec& device);
Graph build_mnist_cnn(const ModelOptions& options, const arch::DeviceSpec& device);

}  // namespace wormsim::workloads::models
