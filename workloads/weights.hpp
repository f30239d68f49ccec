#pragma once
// Model weights from HDF5 files (docs/graph-format.md, "Weights").
//
// A weight tensor named "encoder.layer.0.attention.query.weight" is the dataset of that exact
// name at the file's root (dots are ordinary characters in HDF5 link names; this is the layout
// scripts/convert_state_dict.py writes). A file that nests groups instead
// ("/encoder/layer/0/attention/query/weight") is found too: the name with every '.' read as
// '/' is tried second.
//
// The dataset holds the logical values row-major, float32 or float16 (any HDF5 float or
// integer type is converted to float on reading). Its shape must equal the tensor's logical
// shape, leading 1s ignored on both sides ([1, 1, 768, 3072] reads a [768, 3072] dataset).
// Linear weights are stored as the graph uses them, [in, out] (TT-NN's matmul in1), not
// PyTorch's [out, in]; the converter transposes them.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ops/tensor.hpp"

namespace H5 {
class H5File;
}

namespace wormsim::workloads {

// One named array: logical shape and row-major values.
struct NamedArray {
  std::string name;
  std::vector<std::uint32_t> shape;
  std::vector<float> values;
};

class WeightFile {
 public:
  // Opens `path` read-only; throws wormsim::Error if it is missing or not HDF5.
  explicit WeightFile(const std::string& path);
  ~WeightFile();
  WeightFile(const WeightFile&) = delete;
  WeightFile& operator=(const WeightFile&) = delete;

  const std::string& path() const noexcept { return path_; }
  // The dataset path a tensor name resolves to ("/name" or "/a/b/c"), if any.
  std::optional<std::string> dataset_for(const std::string& tensor_name) const;
  bool contains(const std::string& tensor_name) const {
    return dataset_for(tensor_name).has_value();
  }
  // Every dataset in the file, as full paths ("/fc1.weight", "/encoder/layer/0/weight").
  std::vector<std::string> dataset_paths() const;

  // The dataset's shape and values. Throws wormsim::Error naming the file and the dataset when
  // it is missing or not numeric.
  NamedArray read(const std::string& tensor_name) const;
  // A device tensor for a graph weight: the file's values (checked against spec's logical shape;
  // the error names the dataset, the expected and the found shape) as the fp32 golden, rounded
  // to spec's data type as the device values.
  ops::Tensor load(const std::string& tensor_name, const ops::TensorSpec& spec) const;
  // Throws the errors load() would (missing dataset, other shape) without reading the values.
  void check(const std::string& tensor_name, const ops::TensorSpec& spec) const;

 private:
  // The dataset's shape and, when with_values, its values.
  NamedArray read_dataset(const std::string& tensor_name, bool with_values) const;
  void check_shape(const std::string& tensor_name, const std::vector<std::uint32_t>& found,
                   const ops::TensorSpec& spec) const;

  std::string path_;
  std::unique_ptr<H5::H5File> file_;
};

enum class WeightStorage { Float32, Float16 };

// Writes arrays as root datasets named by their names (what the converter produces). For tests
// and tools; overwrites `path`.
void write_weight_file(const std::string& path, const std::vector<NamedArray>& arrays,
                       WeightStorage storage = WeightStorage::Float32);

// Device values (rounded to spec's data type) and fp32 golden values (as given) of a tensor
// whose logical values are `logical` (row-major, spec.logical_shape().volume() of them).
ops::Tensor tensor_from_logical(const ops::TensorSpec& spec, const std::vector<float>& logical);

}  // namespace wormsim::workloads
