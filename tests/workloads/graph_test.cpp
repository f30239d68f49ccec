// Graph IR: building, validation through the ops, topological order, lifetimes, JSON round
// trips, bad graph files and the JSON Schema.
#include "workloads/graph.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <regex>
#include <set>

#include "graph_fixtures.hpp"
#include "ops/op_registry.hpp"
#include "sim/error.hpp"

namespace wormsim::workloads {
namespace {

using testing::bf16;
using testing::n300;
using testing::tiny_mlp;

const std::string kGraphs = std::string(WORMSIM_TEST_DATA_DIR) + "/graphs/";

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Graph, AddOpDerivesOutputSpecsFromTheOps) {
  const Graph g = tiny_mlp();
  ASSERT_EQ(g.nodes().size(), 4u);
  ASSERT_EQ(g.tensors().size(), 8u);
  const GraphTensor& y = g.tensor(g.outputs().at(0));
  EXPECT_EQ(y.name, "fc2");
  EXPECT_EQ(y.kind, TensorKind::Activation);
  EXPECT_EQ(y.spec.logical_shape(), ops::Shape({1, 1, 64, 64}));
  EXPECT_EQ(y.producer, g.find_node("fc2"));
  // The broadcast add keeps fc1's [64, 256] shape.
  EXPECT_EQ(g.spec(*g.find_tensor("fc1.bias_add")).logical_shape(), ops::Shape({1, 1, 64, 256}));
  EXPECT_EQ(g.node(*g.find_node("act")).group, "mlp");
  EXPECT_EQ(g.node(*g.find_node("fc2")).group, "head");
}

TEST(Graph, ParameterCountAndFlops) {
  const Graph g = tiny_mlp();
  EXPECT_EQ(g.parameter_count(), 128u * 256 + 256 + 256 * 64);
  // Matmul FLOPs are 2*M*K*N each; the add and relu add their elementwise work on top.
  const std::uint64_t matmuls = 2ull * 64 * 128 * 256 + 2ull * 64 * 256 * 64;
  std::uint64_t sum = 0;
  for (const GraphNode& n : g.nodes()) sum += g.node_flops(n.id);
  EXPECT_EQ(g.flops(), sum);
  EXPECT_EQ(g.node_flops(*g.find_node("fc1")) + g.node_flops(*g.find_node("fc2")), matmuls);
  EXPECT_GE(g.flops(), matmuls);
}

TEST(Graph, AddOpRejectsInputsTheOpRejectsNamingTheNode) {
  Graph g("bad", n300());
  const TensorId x = g.add_input("x", bf16({1, 1, 32, 64}));
  const TensorId w = g.add_weight("w", bf16({1, 1, 96, 32}));
  const std::string message = error_of([&] { g.op("proj", "matmul", {x, w}); });
  EXPECT_NE(message.find("node 'proj'"), std::string::npos) << message;
  EXPECT_NE(message.find("matmul"), std::string::npos) << message;
  EXPECT_TRUE(g.nodes().empty());  // a rejected node leaves the graph unchanged
  EXPECT_EQ(g.tensors().size(), 2u);
}

TEST(Graph, RejectsUnknownOpsDuplicateNamesAndDanglingIds) {
  Graph g("bad", n300());
  const TensorId x = g.add_input("x", bf16({1, 1, 32, 64}));
  EXPECT_NE(error_of([&] { g.op("a", "relu6x", {x}); }).find("unknown op 'relu6x'"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              g.add_weight("x", bf16({1, 1, 32, 32}));
            }).find("duplicate tensor name 'x'"),
            std::string::npos);
  g.op("a", "relu", {x});
  EXPECT_NE(error_of([&] { g.op("a", "relu", {x}); }).find("duplicate node name 'a'"),
            std::string::npos);
  const std::string dangling = error_of([&] { g.op("b", "relu", {TensorId{42}}); });
  EXPECT_NE(dangling.find("node 'b'"), std::string::npos) << dangling;
  EXPECT_NE(dangling.find("tensor id 42"), std::string::npos) << dangling;
  EXPECT_NE(error_of([&] {
              g.add_weight("w", bf16({1, 1, 32, 32}), "gaussian");
            }).find("unknown init 'gaussian'"),
            std::string::npos);
}

TEST(Graph, TopologicalOrderRespectsEdgesAndKeepsInsertionOrderForTies) {
  Graph g("diamond", n300());
  const TensorId x = g.add_input("x", bf16({1, 1, 32, 32}));
  const TensorId a = g.op("a", "relu", {x});
  const TensorId b = g.op("b", "gelu", {x});
  const TensorId c = g.op("c", "add", {a, b});
  const TensorId d = g.op("d", "relu", {x});  // independent of a, b, c
  g.op("e", "mul", {c, d});
  const std::vector<NodeId> order = g.topological_order();
  std::vector<std::string> names;
  for (NodeId n : order) names.push_back(g.node(n).name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "d", "e"}));

  const auto last = g.last_uses(order);
  EXPECT_EQ(g.node(last.at(x)).name, "d");  // x is read by a, b and d
  EXPECT_EQ(g.node(last.at(a)).name, "c");
  EXPECT_EQ(g.node(last.at(c)).name, "e");
  EXPECT_EQ(g.node(last.at(d)).name, "e");
  EXPECT_EQ(last.count(*g.find_tensor("e")), 0u);  // nothing reads the last output
}

TEST(Graph, JsonRoundTripIsExact) {
  Graph g = tiny_mlp();
  g.set_batch(4);
  // Exercise the less common fields: a sharded L1 tensor, explicit padding, inits, params.
  const ops::TensorSpec plain = bf16({1, 1, 256, 512});
  const TensorId s =
      g.add_input("sharded", plain.with_memory_config(ops::block_sharded(plain, 4, 4)));
  const TensorId padded =
      g.add_constant("mask",
                     ops::TensorSpec(ops::Shape({1, 1, 19, 19}), ops::Shape({1, 1, 64, 64}),
                                     ops::DataType::BFloat16, ops::Layout::Tile,
                                     ops::MemoryConfig::dram_interleaved()),
                     "ones");
  g.add_weight("gamma", bf16({1, 1, 1, 512}), "normal", 0.5);
  g.op("s.gelu", "gelu", {s}, {{"math_approx_mode", true}}, "extra");
  g.op("mask.relu", "relu", {padded});
  const std::vector<TensorId> heads = g.add_op("s.heads", "sqrt", {s});
  ASSERT_EQ(heads.size(), 1u);

  const nlohmann::json json = g.to_json();
  const Graph back = Graph::from_json(json, n300());
  EXPECT_TRUE(back == g);
  EXPECT_EQ(back.to_json(), json);
  EXPECT_EQ(back.batch(), 4u);
  EXPECT_EQ(back.spec(*back.find_tensor("mask")).padded_shape(), ops::Shape({1, 1, 64, 64}));
  EXPECT_TRUE(back.spec(*back.find_tensor("sharded")).is_sharded());
  EXPECT_EQ(back.tensor(*back.find_tensor("gamma")).init, "normal");
  EXPECT_DOUBLE_EQ(back.tensor(*back.find_tensor("gamma")).init_scale, 0.5);

  // Through a file as well (what `wormsim graph --save` writes and `--graph` reads).
  const std::string path = ::testing::TempDir() + "/roundtrip_graph.json";
  g.save(path);
  EXPECT_TRUE(Graph::load(path, n300()) == g);
  EXPECT_EQ(Graph::file_device(path), "n300");
  std::remove(path.c_str());

  // A changed graph is not equal.
  Graph other = tiny_mlp();
  other.set_init(*other.find_tensor("fc1.bias"), "zeros", 1.0);
  EXPECT_FALSE(other == tiny_mlp());
}

TEST(Graph, LoadsAHandWrittenFileAndDerivesUnlistedActivations) {
  const Graph g = Graph::load(kGraphs + "mlp.json", n300());
  EXPECT_EQ(g.name(), "tiny-mlp");
  EXPECT_EQ(g.nodes().size(), 4u);
  const GraphTensor& y = g.tensor(g.outputs().at(0));
  EXPECT_EQ(y.name, "y");
  EXPECT_EQ(y.spec.logical_shape(), ops::Shape({1, 1, 32, 64}));
  EXPECT_EQ(g.tensor(*g.find_tensor("fc2.weight")).init, "uniform");  // default init
  EXPECT_DOUBLE_EQ(g.tensor(*g.find_tensor("fc2.weight")).init_scale, 0.09);
  // Loading then saving then loading again is stable.
  EXPECT_TRUE(Graph::from_json(g.to_json(), n300()) == g);
}

struct BadGraph {
  std::string file;
  std::vector<std::string> expected;  // fragments the error must contain
};

class BadGraphFiles : public ::testing::TestWithParam<BadGraph> {};

TEST_P(BadGraphFiles, FailWithAClearError) {
  const BadGraph& bad = GetParam();
  const std::string message = error_of([&] { Graph::load(kGraphs + bad.file, n300()); });
  ASSERT_NE(message, "(no error)") << bad.file;
  for (const std::string& fragment : bad.expected)
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(
    Graph, BadGraphFiles,
    ::testing::Values(
        BadGraph{"unknown_op.json",
                 {"unknown_op.json", "node 'act'", "unknown op 'relu6x'", "known ops"}},
        BadGraph{"shape_mismatch.json",
                 {"node 'fc1'", "shape mismatch", "'fc1'", "[1, 1, 32, 256]", "[1, 1, 32, 128]"}},
        BadGraph{"cycle.json", {"cycle", "'a' -> 'b' -> 'c' -> 'a'"}},
        BadGraph{"dangling_edge.json", {"node 'fc1.bias_add'", "'fc1.bais'", "dangling edge"}},
        BadGraph{"duplicate_name.json", {"duplicate node name 'act'"}},
        BadGraph{"bad_inputs.json", {"node 'fc2'", "matmul"}}),
    [](const ::testing::TestParamInfo<BadGraph>& info) {
      std::string name = info.param.file.substr(0, info.param.file.find('.'));
      std::erase(name, '_');
      return name;
    });

TEST(Graph, FromJsonRejectsStructuralProblems) {
  nlohmann::json base = Graph(tiny_mlp()).to_json();
  auto fails_with = [&](nlohmann::json j, const std::string& fragment) {
    const std::string message = error_of([&] { Graph::from_json(j, n300()); });
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
  };
  {
    nlohmann::json j = base;
    j["tensors"][1]["name"] = "x";  // fc1.weight renamed to the input's name
    fails_with(j, "duplicate tensor name 'x'");
  }
  {
    nlohmann::json j = base;
    j["nodes"][1]["outputs"] = {"fc1"};  // two producers of one tensor
    fails_with(j, "output of both node 'fc1' and node 'fc1.bias_add'");
  }
  {
    nlohmann::json j = base;
    j["nodes"][0]["outputs"] = {"x"};
    fails_with(j, "output 'x' names a tensor of kind input");
  }
  {
    nlohmann::json j = base;
    j["tensors"][4]["dtype"] = "bfloat8_b";  // fc1's recorded dtype differs from matmul's output
    fails_with(j, "shape mismatch on output 'fc1'");
    fails_with(j, "BFLOAT8_B");
  }
  {
    nlohmann::json j = base;
    j["tensors"][0]["kind"] = "parameter";
    fails_with(j, "unknown kind 'parameter'");
  }
  {
    nlohmann::json j = base;
    j["nodes"][0]["parmas"] = nlohmann::json::object();
    fails_with(j, "unknown key 'parmas'");
  }
  {
    nlohmann::json j = base;
    j["outputs"] = {"nope"};
    fails_with(j, "output 'nope' names no tensor");
  }
  {
    nlohmann::json j = base;
    j["version"] = 7;
    fails_with(j, "version 7 is not supported");
  }
  {
    nlohmann::json j = base;
    j["nodes"].erase(j["nodes"].begin());  // fc1's output is listed but nothing produces it
    fails_with(j, "activation tensor 'fc1' is no node's output");
  }
}

// ---- JSON Schema (draft 2020-12) conformance of what to_json writes ----
// A validator for the keywords graph.schema.json uses; any other keyword fails the test so
// the schema cannot silently outgrow it.
class MiniSchema {
 public:
  explicit MiniSchema(nlohmann::json root) : root_(std::move(root)) {}
  bool valid(const nlohmann::json& value) const { return check(root_, value); }

 private:
  const nlohmann::json& resolve(const std::string& ref) const {
    const std::string prefix = "#/$defs/";
    if (ref.rfind(prefix, 0) != 0) throw std::runtime_error("unsupported $ref " + ref);
    return root_.at("$defs").at(ref.substr(prefix.size()));
  }
  static bool type_ok(const std::string& type, const nlohmann::json& v) {
    if (type == "object") return v.is_object();
    if (type == "array") return v.is_array();
    if (type == "string") return v.is_string();
    if (type == "integer") return v.is_number_integer();
    if (type == "number") return v.is_number();
    if (type == "boolean") return v.is_boolean();
    throw std::runtime_error("unsupported type " + type);
  }
  bool check(const nlohmann::json& s, const nlohmann::json& v) const {
    static const std::set<std::string> annotations = {"$schema", "$id", "title", "description",
                                                      "$defs"};
    for (const auto& [key, rule] : s.items()) {
      if (annotations.count(key) || key == "then" || key == "else") continue;
      if (key == "$ref") {
        if (!check(resolve(rule.get<std::string>()), v)) return false;
      } else if (key == "type") {
        if (!type_ok(rule.get<std::string>(), v)) return false;
      } else if (key == "const") {
        if (v != rule) return false;
      } else if (key == "enum") {
        if (std::find(rule.begin(), rule.end(), v) == rule.end()) return false;
      } else if (key == "required") {
        if (v.is_object()) {
          for (const auto& r : rule) {
            if (!v.contains(r.get<std::string>())) return false;
          }
        }
      } else if (key == "properties") {
        if (v.is_object()) {
          for (const auto& [name, sub] : rule.items()) {
            if (v.contains(name) && !check(sub, v[name])) return false;
          }
        }
      } else if (key == "additionalProperties") {
        if (v.is_object() && rule == false) {
          for (const auto& [name, value] : v.items()) {
            if (!s.at("properties").contains(name)) return false;
          }
        }
      } else if (key == "items") {
        if (v.is_array()) {
          for (const auto& item : v) {
            if (!check(rule, item)) return false;
          }
        }
      } else if (key == "minItems") {
        if (v.is_array() && v.size() < rule.get<std::size_t>()) return false;
      } else if (key == "maxItems") {
        if (v.is_array() && v.size() > rule.get<std::size_t>()) return false;
      } else if (key == "minimum") {
        if (v.is_number() && v.get<double>() < rule.get<double>()) return false;
      } else if (key == "pattern") {
        // JSON Schema patterns are ECMA-262 regular expressions, as std::regex's default.
        if (v.is_string() &&
            !std::regex_search(v.get<std::string>(), std::regex(rule.get<std::string>())))
          return false;
      } else if (key == "minLength") {
        if (v.is_string() && v.get<std::string>().size() < rule.get<std::size_t>()) return false;
      } else if (key == "not") {
        if (check(rule, v)) return false;
      } else if (key == "anyOf") {
        if (std::none_of(rule.begin(), rule.end(),
                         [&](const nlohmann::json& sub) { return check(sub, v); }))
          return false;
      } else if (key == "if") {
        const nlohmann::json& branch = check(rule, v) ? s.value("then", nlohmann::json::object())
                                                      : s.value("else", nlohmann::json::object());
        if (!check(branch, v)) return false;
      } else {
        throw std::runtime_error("the test validator does not know keyword '" + key + "'");
      }
    }
    return true;
  }
  nlohmann::json root_;
};

TEST(GraphSchema, AcceptsWhatToJsonWritesAndRejectsBrokenGraphs) {
  std::ifstream in(std::string(WORMSIM_TEST_DATA_DIR) + "/../../workloads/graph.schema.json");
  ASSERT_TRUE(in) << "workloads/graph.schema.json missing";
  const nlohmann::json schema = nlohmann::json::parse(in);
  EXPECT_EQ(schema.at("$schema"), "https://json-schema.org/draft/2020-12/schema");
  const MiniSchema validator(schema);

  Graph g = tiny_mlp();
  const ops::TensorSpec plain = bf16({1, 1, 256, 512});
  g.add_input("sharded", plain.with_memory_config(ops::block_sharded(plain, 4, 4)));
  g.add_constant("pos",
                 bf16({1, 1, 1, 32}, ops::MemoryConfig::dram_interleaved(), ops::DataType::UInt32),
                 "arange");
  const nlohmann::json good = g.to_json();
  EXPECT_TRUE(validator.valid(good));
  std::ifstream hand(kGraphs + "mlp.json");
  EXPECT_TRUE(validator.valid(nlohmann::json::parse(hand)));

  auto broken = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json j = good;
    edit(j);
    return !validator.valid(j);
  };
  EXPECT_TRUE(broken([](nlohmann::json& j) { j.erase("nodes"); }));
  EXPECT_TRUE(broken([](nlohmann::json& j) { j["tensors"][0]["kind"] = "parameter"; }));
  EXPECT_TRUE(broken([](nlohmann::json& j) { j["tensors"][0]["shape"] = {1, 2, 3, 4, 5}; }));
  EXPECT_TRUE(broken([](nlohmann::json& j) { j["tensors"][0]["shape"] = {0, 32}; }));
  EXPECT_TRUE(broken(
      [](nlohmann::json& j) { j["tensors"][4]["init"] = "ones"; }));  // an activation with an init
  EXPECT_TRUE(broken(
      [](nlohmann::json& j) { j["tensors"][0]["producer"] = "fc1"; }));  // an input with a producer
  EXPECT_TRUE(
      broken([](nlohmann::json& j) { j["nodes"][0]["outputs"] = nlohmann::json::array(); }));
  EXPECT_TRUE(broken([](nlohmann::json& j) { j["nodes"][0]["extra"] = 1; }));
  EXPECT_TRUE(broken([](nlohmann::json& j) { j["batch"] = 0; }));
  EXPECT_TRUE(broken([](nlohmann::json& j) { j["format"] = "onnx"; }));
}

}  // namespace
}  // namespace wormsim::workloads
