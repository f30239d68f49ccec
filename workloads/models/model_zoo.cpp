#include "workloads/models/model_zoo.hpp"

#include <algorithm>
#include <functional>
#include <set>

#include "sim/error.hpp"
#include "workloads/models/model_builder.hpp"

namespace wormsim::workloads {
namespace {

using Builder = std::function<Graph(const ModelOptions&, const arch::DeviceSpec&)>;

struct ModelEntry {
  std::string name;
  std::string description;
  std::vector<std::string> groups;
  Builder build;
};

const std::vector<ModelEntry>& entries() {
  static const std::vector<ModelEntry> models{
      {"bert-large",
       "BERT-Large SQuAD QA, seq 384, 24 layers, hidden 1024, 16 heads (batch 8)",
       {"embeddings", "attention", "mlp", "head"},
       models::build_bert_large},
      {"depth-anything-v2-large",
       "Depth Anything V2 Large: DINOv2 ViT-L/14 at 518 (1370 tokens; pad_sequence -> 2048) + DPT "
       "head (batch 1)",
       {"embeddings", "attention", "mlp", "neck", "fusion", "head"},
       models::build_depth_anything_v2_large},
      {"dpt-large",
       "DPT-Large depth: ViT-L/16 at 384 (577 tokens) + DPT reassemble/fusion/head (batch 1)",
       {"embeddings", "attention", "mlp", "neck", "fusion", "head"},
       models::build_dpt_large},
      {"mnist-cnn",
       "MNIST CNN: 2x (conv 3x3 + ReLU + max pool 2) + linear 10 (batch 32)",
       {"conv", "head"},
       models::build_mnist_cnn},
      {"mnist-mlp",
       "MNIST MLP 784-128-10 with softmax (batch 32)",
       {"mlp", "head"},
       models::build_mnist_mlp},
      {"pi0",
       "pi0 VLA: SigLIP-So400m/14 (2 cameras) + Gemma-2B prefix (560 tokens) + Gemma-300M action "
       "expert, 10 "
       "flow-matching steps over 50 actions (batch 1)",
       {"vision.embeddings", "vision.attention", "vision.mlp", "projector", "llm.embeddings",
        "llm.attention", "llm.mlp", "expert.embeddings", "expert.attention", "expert.mlp",
        "action_head"},
       models::build_pi0},
      {"resnet-50",
       "ResNet-50 v1.5 ImageNet at 224, batch norm folded, TT-NN fold stem (batch 16)",
       {"stem", "layer1", "layer2", "layer3", "layer4", "head"},
       models::build_resnet50},
      {"vit-base",
       "ViT-B/16 ImageNet at 224: 12 layers, hidden 768, 12 heads (batch 8)",
       {"embeddings", "attention", "mlp", "head"},
       models::build_vit_base},
      {"yolov8s",
       "YOLOv8s COCO detection at 640 (80 classes, 8400 anchors) (batch 1)",
       {"backbone", "neck", "head"},
       models::build_yolov8s},
  };
  return models;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

const ModelEntry& find(const std::string& name) {
  for (const ModelEntry& e : entries()) {
    if (e.name == name) return e;
  }
  throw Error("unknown model '" + name + "'; the model zoo has: " + join(model_names()));
}

// A group override must name a group of the model or a dot-separated part of one.
void check_group_keys(const ModelEntry& model, const std::map<std::string, std::string>& overrides,
                      const std::string& what) {
  std::set<std::string> known;
  for (const std::string& g : model.groups) {
    known.insert(g);
    std::size_t start = 0;
    while (true) {
      const std::size_t dot = g.find('.', start);
      known.insert(g.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
  }
  for (const auto& [key, value] : overrides) {
    if (known.count(key) == 0) {
      throw Error(model.name + ": " + what + " names layer group '" + key +
                  "', which the model does not have; its groups: " + join(model.groups));
    }
  }
}

}  // namespace

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const ModelEntry& e : entries()) names.push_back(e.name);
  std::sort(names.begin(), names.end());
  return names;
}

std::string model_description(const std::string& name) { return find(name).description; }

std::vector<std::string> model_groups(const std::string& name) { return find(name).groups; }

Graph build_model(const std::string& name, const ModelOptions& options,
                  const arch::DeviceSpec& device) {
  const ModelEntry& model = find(name);
  check_group_keys(model, options.group_dtype, "a per-group dtype");
  check_group_keys(model, options.group_fidelity, "a per-group fidelity");
  if (options.pad_sequence && name != "depth-anything-v2-large") {
    throw Error(name + ": pad_sequence applies to depth-anything-v2-large only");
  }
  if (options.vocab != 0 && name != "pi0" && name != "bert-large") {
    throw Error(name + ": a vocabulary size applies to the language models (pi0, bert-large) only");
  }
  return model.build(options, device);
}

}  // namespace wormsim::workloads
