// HDF5 weights: reading by tensor name, shape checks and errors, float16 storage, running a
// graph on file weights, and scripts/convert_state_dict.py (when python3 with h5py is there).
#include "workloads/weights.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "graph_fixtures.hpp"
#include "sim/error.hpp"
#include "workloads/executor.hpp"

namespace wormsim::workloads {
namespace {

using testing::bf16;
using testing::n300;
using testing::tiny_mlp;

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/wormsim_weights_" + name;
}

std::vector<float> ramp(std::size_t n, float scale) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = scale * static_cast<float>(static_cast<int>(i % 23) - 11);
  return v;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Weights, ReadsDatasetsByTensorNameAndRoundsToTheTensorType) {
  const std::string path = temp_path("basic.h5");
  const std::vector<float> w = ramp(64 * 32, 0.013f);
  write_weight_file(path, {{"fc1.weight", {64, 32}, w}, {"fc1.bias", {32}, ramp(32, 0.5f)}});
  const WeightFile file(path);
  EXPECT_TRUE(file.contains("fc1.weight"));
  EXPECT_FALSE(file.contains("fc2.weight"));
  EXPECT_EQ(file.dataset_for("fc1.weight"), "/fc1.weight");
  EXPECT_EQ(file.dataset_paths(), (std::vector<std::string>{"/fc1.bias", "/fc1.weight"}));
  const NamedArray raw = file.read("fc1.weight");
  EXPECT_EQ(raw.shape, (std::vector<std::uint32_t>{64, 32}));
  EXPECT_EQ(raw.values, w);  // float32 storage is exact

  // [64, 32] feeds a [1, 1, 64, 32] weight (leading 1s ignored); fp32 golden, bf16 device values.
  const ops::Tensor t = file.load("fc1.weight", bf16({1, 1, 64, 32}));
  EXPECT_EQ(t.logical_golden(), w);
  const std::vector<float> device = t.logical_values();
  for (std::size_t i = 0; i < w.size(); ++i)
    ASSERT_NEAR(device[i], w[i], std::abs(w[i]) / 128.0f + 1e-9f) << i;
  EXPECT_NE(device, w);  // 0.013 * k is not a bfloat16 number for most k
  const ops::Tensor bias = file.load("fc1.bias", bf16({1, 1, 1, 32}));
  EXPECT_EQ(bias.logical_golden(), ramp(32, 0.5f));
  EXPECT_EQ(bias.logical_values(), ramp(32, 0.5f));  // halves are exact in bfloat16
  std::remove(path.c_str());
}

TEST(Weights, Float16DatasetsAndNestedGroups) {
  const std::string path = temp_path("fp16.h5");
  const std::vector<float> w = ramp(32 * 32, 0.25f);  // exact in float16
  std::vector<float> fine = ramp(32 * 32, 0.001f);
  write_weight_file(path, {{"enc/layer/0/weight", {32, 32}, w}, {"fine", {32, 32}, fine}},
                    WeightStorage::Float16);
  const WeightFile file(path);
  // A dotted tensor name finds the nested dataset.
  EXPECT_EQ(file.dataset_for("enc.layer.0.weight"), "/enc/layer/0/weight");
  EXPECT_EQ(file.read("enc.layer.0.weight").values, w);
  const std::vector<float> back = file.read("fine").values;
  for (std::size_t i = 0; i < fine.size(); ++i) {
    ASSERT_NEAR(back[i], fine[i], std::abs(fine[i]) / 1024.0f + 1e-7f) << i;  // 11-bit significand
  }
  std::remove(path.c_str());
}

TEST(Weights, MissingAndMisShapedDatasetsNameTheDatasetAndShapes) {
  const std::string path = temp_path("errors.h5");
  write_weight_file(path, {{"proj.weight", {128, 64}, ramp(128 * 64, 0.01f)}});
  const WeightFile file(path);
  const std::string missing = error_of([&] { file.load("proj.bias", bf16({1, 1, 1, 64})); });
  EXPECT_NE(missing.find("no dataset 'proj.bias'"), std::string::npos) << missing;
  EXPECT_NE(missing.find(path), std::string::npos) << missing;
  const std::string shaped = error_of([&] { file.load("proj.weight", bf16({1, 1, 128, 96})); });
  EXPECT_NE(shaped.find("'/proj.weight'"), std::string::npos) << shaped;
  EXPECT_NE(shaped.find("[128, 64]"), std::string::npos) << shaped;
  EXPECT_NE(shaped.find("expected [1, 1, 128, 96]"), std::string::npos) << shaped;
  // A PyTorch-layout [out, in] weight gets a hint.
  const std::string transposed = error_of([&] { file.load("proj.weight", bf16({1, 1, 64, 128})); });
  EXPECT_NE(transposed.find("transposed"), std::string::npos) << transposed;
  EXPECT_NE(transposed.find("convert_state_dict.py"), std::string::npos) << transposed;
  std::remove(path.c_str());

  const std::string not_hdf5 = temp_path("not.h5");
  std::ofstream(not_hdf5) << "plain text";
  EXPECT_NE(error_of([&] { WeightFile f(not_hdf5); }).find("not.h5"), std::string::npos);
  std::remove(not_hdf5.c_str());
  EXPECT_NE(
      error_of([&] { WeightFile f(temp_path("absent.h5")); }).find("cannot open weights file"),
      std::string::npos);
}

// Writes the graph's synthetic weights to a file: a run on the file must then be identical.
TEST(Weights, GraphRunOnFileWeightsMatchesTheSameValuesSynthesised) {
  const Graph g = tiny_mlp();
  std::vector<NamedArray> arrays;
  for (const GraphTensor& t : g.tensors()) {
    if (t.kind != TensorKind::Weight) continue;
    const std::vector<std::uint32_t> dims = t.spec.logical_shape().dims();
    arrays.push_back({t.name, {dims[2], dims[3]}, synthetic_tensor(t, 3).logical_golden()});
  }
  const std::string path = temp_path("mlp.h5");
  write_weight_file(path, arrays);
  const WeightFile file(path);

  ExecutorOptions synthetic;
  synthetic.seed = 3;
  ops::Device d1(n300());
  const GraphRun a = run_graph(d1, g, synthetic);
  ExecutorOptions loaded = synthetic;
  loaded.weights = &file;
  ops::Device d2(n300());
  const GraphRun b = run_graph(d2, g, loaded);
  EXPECT_EQ(a.outputs.at("fc2").values(), b.outputs.at("fc2").values());
  EXPECT_EQ(a.pcc, b.pcc);

  // Other weights in the file -> other outputs. (HDF5 locks open files: each version gets
  // its own path.)
  arrays[0].values = ramp(arrays[0].values.size(), 0.01f);
  const std::string other_path = temp_path("mlp_other.h5");
  write_weight_file(other_path, arrays);
  const WeightFile other(other_path);
  loaded.weights = &other;
  ops::Device d3(n300());
  EXPECT_NE(run_graph(d3, g, loaded).outputs.at("fc2").values(), a.outputs.at("fc2").values());

  // A weight the file lacks stops the run naming it, unless synthesising is allowed.
  arrays.pop_back();
  const std::string partial_path = temp_path("mlp_partial.h5");
  write_weight_file(partial_path, arrays);
  const WeightFile partial(partial_path);
  loaded.weights = &partial;
  ops::Device d4(n300());
  const std::string message = error_of([&] { run_graph(d4, g, loaded); });
  EXPECT_NE(message.find("no dataset 'fc2.weight'"), std::string::npos) << message;
  loaded.synthesize_missing_weights = true;
  ops::Device d5(n300());
  EXPECT_NO_THROW(run_graph(d5, g, loaded));
  for (const std::string& p : {path, other_path, partial_path}) std::remove(p.c_str());
}

// ---- scripts/convert_state_dict.py ----

// A python3 that has numpy and h5py (the PATH one first, then the system one).
std::string python_with_h5py() {
  for (const std::string candidate : {"python3", "/usr/bin/python3"}) {
    const std::string probe = candidate + " -c 'import numpy, h5py' >/dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) return candidate;
  }
  return {};
}

TEST(ConvertStateDict, NpzToHdf5TransposesLinearKeepsEmbeddingsAndPreparesConv) {
  const std::string python = python_with_h5py();
  if (python.empty())
    GTEST_SKIP()
        << "python3 with numpy and h5py not found (apt-get install python3-numpy python3-h5py)";
  const std::string script =
      std::string(WORMSIM_TEST_DATA_DIR) + "/../../scripts/convert_state_dict.py";
  const std::string npz = temp_path("sd.npz");
  const std::string h5 = temp_path("sd.h5");
  // A PyTorch-style state_dict: Linear [out=3, in=4] with bias, an embedding table, a conv.
  const std::string make =
      python + " -c \"import numpy as np; np.savez('" + npz +
      "', **{'model.fc.weight': np.arange(12, dtype=np.float32).reshape(3, 4), "
      "'model.fc.bias': np.array([1, 2, 3], dtype=np.float32), "
      "'model.embeddings.word_embeddings.weight': np.arange(10, dtype=np.float32).reshape(5, 2), "
      "'model.conv.weight': np.arange(2*3*2*2, dtype=np.float32).reshape(2, 3, 2, 2), "
      "'model.neck.reassemble_stage.layers.1.resize.weight': "
      "np.arange(3*2*2*2, dtype=np.float32).reshape(3, 2, 2, 2)})\"";
  ASSERT_EQ(std::system(make.c_str()), 0) << make;
  const std::string convert =
      python + " " + script + " " + npz + " " + h5 + " --strip-prefix model. --quiet";
  ASSERT_EQ(std::system(convert.c_str()), 0) << convert;

  const WeightFile file(h5);
  // Linear: stored [in=4, out=3] = the transpose; loads into a [1, 1, 4, 3] graph weight.
  const NamedArray fc = file.read("fc.weight");
  EXPECT_EQ(fc.shape, (std::vector<std::uint32_t>{4, 3}));
  for (std::uint32_t i = 0; i < 4; ++i) {
    for (std::uint32_t o = 0; o < 3; ++o)
      EXPECT_EQ(fc.values[i * 3 + o], static_cast<float>(o * 4 + i));
  }
  const ops::Tensor loaded = file.load(
      "fc.weight",
      ops::TensorSpec(ops::Shape({1, 1, 4, 3}), ops::DataType::Float32, ops::Layout::Tile));
  EXPECT_EQ(loaded.logical_values(), fc.values);
  EXPECT_EQ(file.read("fc.bias").values, (std::vector<float>{1, 2, 3}));
  // Embedding tables keep [vocab, dim].
  EXPECT_EQ(file.read("embeddings.word_embeddings.weight").shape,
            (std::vector<std::uint32_t>{5, 2}));
  // Conv [C_out=2, C_in=3, kh=2, kw=2] -> [kh*kw*C_in = 12, C_out = 2], row (ky*kw + kx)*C_in + c.
  const NamedArray conv = file.read("conv.weight");
  ASSERT_EQ(conv.shape, (std::vector<std::uint32_t>{12, 2}));
  for (std::uint32_t ky = 0; ky < 2; ++ky) {
    for (std::uint32_t kx = 0; kx < 2; ++kx) {
      for (std::uint32_t c = 0; c < 3; ++c) {
        for (std::uint32_t o = 0; o < 2; ++o) {
          const float torch_value = static_cast<float>(((o * 3 + c) * 2 + ky) * 2 + kx);
          EXPECT_EQ(conv.values[((ky * 2 + kx) * 3 + c) * 2 + o], torch_value);
        }
      }
    }
  }

  // ConvTranspose2d [C_in=3, C_out=2, kh=2, kw=2] (matched by name) -> the flipped kernel's
  // matrix: row (ky*kw + kx)*C_in + c holds W[c][o][kh-1-ky][kw-1-kx].
  const NamedArray up = file.read("neck.reassemble_stage.layers.1.resize.weight");
  ASSERT_EQ(up.shape, (std::vector<std::uint32_t>{12, 2}));
  for (std::uint32_t ky = 0; ky < 2; ++ky) {
    for (std::uint32_t kx = 0; kx < 2; ++kx) {
      for (std::uint32_t c = 0; c < 3; ++c) {
        for (std::uint32_t o = 0; o < 2; ++o) {
          const float torch_value = static_cast<float>(((c * 2 + o) * 2 + (1 - ky)) * 2 + (1 - kx));
          EXPECT_EQ(up.values[((ky * 2 + kx) * 3 + c) * 2 + o], torch_value);
        }
      }
    }
  }

  // float16 storage with nested groups reads back the same (small integers are exact).
  const std::string h5_16 = temp_path("sd16.h5");
  const std::string convert16 =
      python + " " + script + " " + npz + " " + h5_16 + " --dtype float16 --groups --quiet";
  ASSERT_EQ(std::system(convert16.c_str()), 0) << convert16;
  const WeightFile file16(h5_16);
  EXPECT_EQ(file16.dataset_for("model.fc.weight"), "/model/fc/weight");
  EXPECT_EQ(file16.read("model.fc.weight").values, fc.values);
  for (const std::string& p : {npz, h5, h5_16}) std::remove(p.c_str());
}

}  // namespace
}  // namespace wormsim::workloads
