#pragma once
// The model zoo: graph builders for the models wormsim simulates (docs/models.md lists each
// model's exact configuration, parameter count and FLOPs).
//
// Every builder produces the op sequence TT-NN runs for the model (patch embedding by fold +
// linear, fused QKV + nlp_create_qkv_heads, NHWC convolutions with folded batch norm, ...), with
// nodes tagged by layer group so that dtype and math fidelity can be chosen per group.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"
#include "workloads/graph.hpp"

namespace wormsim::workloads {

struct ModelOptions {
  std::uint32_t batch{0};         // 0 = the model's default batch
  std::uint32_t resolution{0};    // image side in pixels (BERT: sequence length); 0 = default
  std::string dtype{"bfloat16"};  // activations and weights
  // Per layer group overrides, e.g. {"mlp", "bfloat8_b"}. A key matches a node's group exactly
  // or one of its dot-separated parts ("mlp" matches "vision.mlp"); an exact match wins.
  std::map<std::string, std::string> group_dtype;
  std::string fidelity{"HiFi2"};                      // math fidelity of every compute op
  std::map<std::string, std::string> group_fidelity;  // same matching as group_dtype
  bool pad_sequence{false};  // depth-anything-v2-large: pad 1370 tokens to 2048 (64 tile rows)
  std::uint32_t layers{0};   // 0 = full depth; otherwise every transformer / stage stack is cut
                             // to at most this many blocks (tests use reduced depth)
  std::uint32_t vocab{0};    // 0 = the model's vocabulary; otherwise the token embedding table of
                             // a language model (pi0, bert-large) has this many rows (tests: a
                             // small table instead of synthesising Gemma's 257k x 2048)
};

// Names of the models build_model() knows, sorted.
std::vector<std::string> model_names();
// One-line description of a model (throws wormsim::Error listing the models for an unknown name).
std::string model_description(const std::string& name);
// The layer groups a model's nodes use (for --group-dtype style options and reports).
std::vector<std::string> model_groups(const std::string& name);
// Builds the model's graph. Unknown name, or options the model cannot take (a resolution that is
// not a multiple of the patch size, an unknown dtype or fidelity, a group override naming no
// group of the model) -> wormsim::Error naming the problem and the accepted values.
Graph build_model(const std::string& name, const ModelOptions& options,
                  const arch::DeviceSpec& device);

}  // namespace wormsim::workloads
