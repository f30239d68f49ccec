#include "workloads/weights.hpp"

#include <H5Cpp.h>

#include <algorithm>

#include "ops/numerics/number_formats.hpp"
#include "sim/error.hpp"

namespace wormsim::workloads {
namespace {

std::string dims_text(const std::vector<std::uint32_t>& dims) {
  std::string out = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

// Shapes compare without their leading 1s: [1, 1, K, N] is the same tensor as [K, N].
std::vector<std::uint32_t> squeeze_leading(std::vector<std::uint32_t> dims) {
  auto first = std::find_if(dims.begin(), dims.end(), [](std::uint32_t d) { return d != 1; });
  if (first == dims.end()) return {1};
  return {first, dims.end()};
}

// HDF5 prints its own error stack on failures by default; wormsim reports its own messages.
void silence_hdf5() {
  static const bool silenced = [] {
    H5::Exception::dontPrint();
    return true;
  }();
  (void)silenced;
}

bool path_exists(const H5::H5File& file, const std::string& path) {
  // Each prefix must exist before the next link can be asked about (HDF5 fails otherwise).
  std::size_t pos = 0;
  while ((pos = path.find('/', pos + 1)) != std::string::npos) {
    if (H5Lexists(file.getId(), path.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return H5Lexists(file.getId(), path.c_str(), H5P_DEFAULT) > 0;
}

herr_t collect_dataset(hid_t /*root*/, const char* name, const H5O_info_t* info, void* out) {
  if (info->type == H5O_TYPE_DATASET)
    static_cast<std::vector<std::string>*>(out)->push_back("/" + std::string(name));
  return 0;
}

}  // namespace

WeightFile::WeightFile(const std::string& path) : path_(path) {
  silence_hdf5();
  try {
    if (H5::H5File::isHdf5(path) <= 0)
      throw Error("weights file '" + path + "' is not an HDF5 file");
    file_ = std::make_unique<H5::H5File>(path, H5F_ACC_RDONLY);
  } catch (const H5::Exception&) {
    throw Error("cannot open weights file '" + path +
                "' (missing or not HDF5); convert a PyTorch state_dict with "
                "scripts/convert_state_dict.py");
  }
}

WeightFile::~WeightFile() = default;

std::optional<std::string> WeightFile::dataset_for(const std::string& tensor_name) const {
  std::vector<std::string> candidates = {"/" + tensor_name};
  std::string nested = tensor_name;
  std::replace(nested.begin(), nested.end(), '.', '/');
  if (nested != tensor_name) candidates.push_back("/" + nested);
  for (const std::string& path : candidates) {
    try {
      if (!path_exists(*file_, path)) continue;
      if (file_->childObjType(path) == H5O_TYPE_DATASET) return path;
    } catch (const H5::Exception&) {
      continue;
    }
  }
  return std::nullopt;
}

std::vector<std::string> WeightFile::dataset_paths() const {
  std::vector<std::string> out;
  H5Ovisit(file_->getId(), H5_INDEX_NAME, H5_ITER_INC, collect_dataset, &out);
  return out;
}

NamedArray WeightFile::read(const std::string& tensor_name) const {
  return read_dataset(tensor_name, /*with_values=*/true);
}

NamedArray WeightFile::read_dataset(const std::string& tensor_name, bool with_values) const {
  const auto path = dataset_for(tensor_name);
  if (!path) {
    std::string nested = tensor_name;
    std::replace(nested.begin(), nested.end(), '.', '/');
    throw Error(
        "weights file '" + path_ + "' has no dataset '" + tensor_name + "'" +
        (nested != tensor_name ? " (nor '/" + nested + "')" : std::string()) +
        "; the graph's weight names are the dataset names (wormsim graph --graph FILE lists them)");
  }
  NamedArray array;
  array.name = tensor_name;
  try {
    const H5::DataSet dataset = file_->openDataSet(*path);
    const H5T_class_t type_class = dataset.getTypeClass();
    if (type_class != H5T_FLOAT && type_class != H5T_INTEGER) {
      throw Error("weights file '" + path_ + "': dataset '" + *path +
                  "' is not numeric (HDF5 type class " +
                  std::to_string(static_cast<int>(type_class)) + "); store float32 or float16");
    }
    const H5::DataSpace space = dataset.getSpace();
    const int rank = space.getSimpleExtentNdims();
    std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
    if (rank > 0) space.getSimpleExtentDims(dims.data());
    std::uint64_t count = 1;
    for (hsize_t d : dims) {
      array.shape.push_back(static_cast<std::uint32_t>(d));
      count *= d;
    }
    if (array.shape.empty()) array.shape.push_back(1);  // a scalar dataset
    if (with_values) {
      array.values.resize(count);
      // HDF5 converts any float (float16 included) or integer storage to native float here.
      if (count > 0) dataset.read(array.values.data(), H5::PredType::NATIVE_FLOAT);
    }
  } catch (const H5::Exception& e) {
    throw Error("weights file '" + path_ + "': cannot read dataset '" + *path +
                "': " + e.getDetailMsg());
  }
  return array;
}

ops::Tensor WeightFile::load(const std::string& tensor_name, const ops::TensorSpec& spec) const {
  NamedArray array = read(tensor_name);
  check_shape(tensor_name, array.shape, spec);
  return tensor_from_logical(spec, array.values);
}

void WeightFile::check(const std::string& tensor_name, const ops::TensorSpec& spec) const {
  check_shape(tensor_name, read_dataset(tensor_name, /*with_values=*/false).shape, spec);
}

void WeightFile::check_shape(const std::string& tensor_name,
                             const std::vector<std::uint32_t>& found_shape,
                             const ops::TensorSpec& spec) const {
  const std::vector<std::uint32_t>& expected = spec.logical_shape().dims();
  const auto found = squeeze_leading(found_shape);
  const auto want = squeeze_leading(expected);
  if (found == want) return;
  std::string hint;
  if (found.size() == 2 && want.size() == 2 && found[0] == want[1] && found[1] == want[0]) {
    hint =
        "; it looks transposed: PyTorch stores linear weights [out, in], the graph wants [in, "
        "out] "
        "(scripts/convert_state_dict.py transposes them)";
  }
  throw Error("weights file '" + path_ + "': dataset '" + *dataset_for(tensor_name) +
              "' has shape " + dims_text(found_shape) + ", expected " + dims_text(expected) +
              " (the logical shape of weight '" + tensor_name + "')" + hint);
}

ops::Tensor tensor_from_logical(const ops::TensorSpec& spec, const std::vector<float>& logical) {
  // The exact values become the golden; the device values are a rounded copy.
  const ops::Tensor exact = ops::Tensor::from_logical(spec, logical);
  auto values = std::make_shared<std::vector<float>>(exact.values());
  const ops::DataType type = spec.data_type();
  if (type == ops::DataType::UInt32 || type == ops::DataType::Int32) {
    // Integer tensors hold whole numbers; the device stores them exactly.
    for (float& v : *values) v = static_cast<float>(static_cast<std::int64_t>(v));
    return ops::Tensor(spec, values, values);
  }
  ops::numerics::quantize(*values, static_cast<std::size_t>(spec.physical_height()),
                          spec.physical_width(), type);
  return ops::Tensor(spec, values, exact.values_buffer());
}

void write_weight_file(const std::string& path, const std::vector<NamedArray>& arrays,
                       WeightStorage storage) {
  silence_hdf5();
  try {
    H5::H5File file(path, H5F_ACC_TRUNC);
    H5::FloatType stored(H5::PredType::IEEE_F32LE);
    if (storage == WeightStorage::Float16) {
      // IEEE 754 binary16: sign bit 15, exponent bits 10-14 (bias 15), mantissa bits 0-9.
      stored.setFields(15, 10, 5, 0, 10);
      stored.setSize(2);
      stored.setEbias(15);
    }
    // Names with '/' nest groups, created on the way.
    H5::LinkCreatPropList links;
    links.setCreateIntermediateGroup(true);
    for (const NamedArray& array : arrays) {
      std::uint64_t count = 1;
      std::vector<hsize_t> dims;
      for (std::uint32_t d : array.shape) {
        dims.push_back(d);
        count *= d;
      }
      if (count != array.values.size()) {
        throw Error("write_weight_file: array '" + array.name + "' has shape " +
                    dims_text(array.shape) + " but " + std::to_string(array.values.size()) +
                    " values");
      }
      const H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
      H5::DataSet dataset =
          file.createDataSet(array.name, stored, space, H5::DSetCreatPropList::DEFAULT,
                             H5::DSetAccPropList::DEFAULT, links);
      dataset.write(array.values.data(), H5::PredType::NATIVE_FLOAT);
    }
  } catch (const H5::Exception& e) {
    throw Error("cannot write weights file '" + path + "': " + e.getDetailMsg() +
                " (is the directory writable, and the file not open elsewhere?)");
  }
}

}  // namespace wormsim::workloads
