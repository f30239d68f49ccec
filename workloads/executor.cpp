#include "workloads/executor.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "arch/l1_allocator.hpp"
#include "ops/op_registry.hpp"
#include "ops/op_timing_reuse.hpp"
#include "sim/error.hpp"
#include "workloads/synthetic_random.hpp"

namespace wormsim::workloads {
namespace {

bool is_integer(ops::DataType type) {
  return type == ops::DataType::UInt32 || type == ops::DataType::Int32;
}

// (endpoint, bytes) pieces of a tensor: where its pages live on the chip.
std::vector<std::pair<noc::Endpoint, std::uint64_t>> tensor_pieces(const ops::TensorSpec& spec,
                                                                   noc::ChipFabric& fabric) {
  std::vector<std::pair<noc::Endpoint, std::uint64_t>> pieces;
  const std::uint64_t page = spec.page_size_bytes();
  const bool dram = spec.memory_config().is_dram();
  if (spec.is_sharded()) {
    for (const ops::ShardPlacement& p : ops::shard_placements(spec)) {
      if (p.pages == 0) continue;
      pieces.emplace_back(dram ? fabric.dram_bank(p.core.x) : fabric.worker(p.core.x, p.core.y),
                          p.pages * page);
    }
    return pieces;
  }
  const std::uint32_t banks =
      ops::num_interleaved_banks(spec.memory_config().buffer_type(), fabric.spec());
  const std::uint64_t pages = spec.num_pages();
  for (std::uint32_t b = 0; b < banks; ++b) {
    const std::uint64_t count = pages / banks + (b < pages % banks ? 1 : 0);
    if (count == 0) continue;
    if (dram) {
      pieces.emplace_back(fabric.dram_bank(b), count * page);
    } else {
      const ops::CoreCoord core = ops::l1_bank_core(b, fabric.spec());
      pieces.emplace_back(fabric.worker(core.x, core.y), count * page);
    }
  }
  return pieces;
}

// Buffers the run owns; whatever is still held when the run ends (or throws) is freed, so the
// Device can run the next graph.
class BufferSet {
 public:
  explicit BufferSet(ops::Device& device) : device_(device) {}
  BufferSet(const BufferSet&) = delete;
  BufferSet& operator=(const BufferSet&) = delete;
  ~BufferSet() {
    for (const auto& [id, buffer] : buffers_) device_.free(buffer);
  }
  void allocate(TensorId id, std::uint32_t chip, const ops::TensorSpec& spec,
                const std::string& name) {
    buffers_.emplace(id, device_.allocate(chip, spec, name));
    placed_.insert_or_assign(id, Placed{spec, name});
  }
  void free(TensorId id) {
    auto it = buffers_.find(id);
    if (it == buffers_.end()) return;
    device_.free(it->second);
    buffers_.erase(it);
    placed_.erase(id);
  }
  bool holds(TensorId id) const { return buffers_.count(id) != 0; }

  // ttnn.reallocate of every live L1 tensor of `chip`: freed and placed again from the top of
  // L1, highest first, so the holes freed tensors left between them close up and the circular
  // buffers (which grow from the bottom up to the lowest L1 buffer) get the space back.
  // Returns the tensors whose address changed: each is a copy the device has to make.
  std::vector<TensorId> compact_l1(std::uint32_t chip) {
    struct Live {
      TensorId id;
      std::uint64_t address;
    };
    std::vector<Live> live;
    arch::ChipL1Map& l1 = device_.l1().chip(chip);
    for (const auto& [id, buffer] : buffers_) {
      if (buffer.chip == chip && buffer.buffer_type == ops::BufferType::L1)
        live.push_back({id, l1.buffer(buffer.handle).address});
    }
    std::sort(live.begin(), live.end(),
              [](const Live& a, const Live& b) { return a.address > b.address; });
    for (const Live& l : live) {
      device_.free(buffers_.at(l.id));
      buffers_.erase(l.id);
    }
    std::vector<TensorId> moved;
    for (const Live& l : live) {
      const Placed& p = placed_.at(l.id);
      const ops::DeviceBuffer buffer = device_.allocate(chip, p.spec, p.name);
      buffers_.emplace(l.id, buffer);
      if (l1.buffer(buffer.handle).address != l.address) moved.push_back(l.id);
    }
    return moved;
  }

 private:
  struct Placed {
    ops::TensorSpec spec;
    std::string name;
  };
  ops::Device& device_;
  std::map<TensorId, ops::DeviceBuffer> buffers_;
  std::map<TensorId, Placed> placed_;
};

// Integer tensors read as embedding indices draw from the table's rows.
std::map<TensorId, std::uint64_t> index_bounds(const Graph& graph) {
  std::map<TensorId, std::uint64_t> bounds;
  for (const GraphNode& n : graph.nodes()) {
    if (n.op != "embedding" || n.inputs.size() < 2) continue;
    const std::uint64_t rows = graph.spec(n.inputs[1]).logical_shape().y();
    auto [it, inserted] = bounds.emplace(n.inputs[0], rows);
    if (!inserted) it->second = std::min(it->second, rows);
  }
  return bounds;
}

}  // namespace

std::string_view to_string(DispatchMode mode) {
  return mode == DispatchMode::Trace ? "trace" : "eager";
}

std::optional<DispatchMode> parse_dispatch_mode(std::string_view text) {
  if (text == "trace") return DispatchMode::Trace;
  if (text == "eager") return DispatchMode::Eager;
  return std::nullopt;
}

std::uint64_t name_hash(std::string_view name) {
  // FNV-1a 64-bit offset basis and prime.
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

ops::Tensor synthetic_tensor(const GraphTensor& tensor, std::uint64_t seed,
                             std::uint64_t index_bound) {
  const ops::TensorSpec& spec = tensor.spec;
  std::vector<float> values(spec.logical_shape().volume(), 0.0f);
  const std::uint64_t key = name_hash(tensor.name) ^ mix64(seed);
  const bool integer = is_integer(spec.data_type());
  if (tensor.init == "ones") {
    std::fill(values.begin(), values.end(), 1.0f);
  } else if (tensor.init == "arange") {
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  } else if (tensor.init == "zeros") {
    // already zero
  } else if (tensor.init == "rotate_half") {
    // [.., D, D] with x @ R = [-x2, x1] for x = [x1, x2] (RoPE's rotate_half as a matmul).
    const std::uint32_t d = spec.logical_shape().x();
    const std::uint64_t block = static_cast<std::uint64_t>(d) * d;
    for (std::uint64_t base = 0; base + block <= values.size(); base += block) {
      for (std::uint32_t j = 0; j < d / 2; ++j) {
        values[base + static_cast<std::uint64_t>(j + d / 2) * d + j] = -1.0f;
        values[base + static_cast<std::uint64_t>(j) * d + j + d / 2] = 1.0f;
      }
    }
  } else if (tensor.init.rfind("rope_cos", 0) == 0 || tensor.init.rfind("rope_sin", 0) == 0) {
    // [.., S, D]: cos / sin of (first + row) * theta^(-2k / D), k = column mod D/2 (the halves
    // repeat, HuggingFace's layout); theta = init_scale.
    const bool cosine = tensor.init.rfind("rope_cos", 0) == 0;
    const std::size_t at = tensor.init.find('@');
    const double first = at == std::string::npos ? 0.0 : std::stod(tensor.init.substr(at + 1));
    const std::uint32_t d = spec.logical_shape().x();
    const std::uint32_t rows = spec.logical_shape().y();
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::uint32_t column = static_cast<std::uint32_t>(i % d);
      const std::uint32_t row = static_cast<std::uint32_t>((i / d) % rows);
      const double k = static_cast<double>(column % (d / 2));
      const double angle =
          (first + row) * std::pow(tensor.init_scale, -2.0 * k / static_cast<double>(d));
      values[i] = static_cast<float>(cosine ? std::cos(angle) : std::sin(angle));
    }
  } else if (integer) {
    const std::uint64_t bound =
        index_bound > 0 ? index_bound
                        : std::max<std::uint64_t>(1, static_cast<std::uint64_t>(tensor.init_scale));
    fill_whole_numbers(values, key, bound);
  } else if (tensor.init == "normal") {
    fill_normal(values, key, tensor.init_scale);
  } else if (tensor.init == "uniform") {
    fill_uniform(values, key, tensor.init_scale);
  } else {
    throw Error("tensor '" + tensor.name + "': unknown init '" + tensor.init + "'");
  }
  return tensor_from_logical(spec, values);
}

sim::Cycle host_write_tensor(ops::Device& device, std::uint32_t chip, const ops::TensorSpec& spec,
                             sim::Cycle at) {
  sim::Cycle done = at;
  for (const auto& [endpoint, bytes] : tensor_pieces(spec, device.fabric(chip))) {
    done = std::max(done, device.board().host_write(chip, endpoint, bytes, at).data_done);
  }
  return done;
}

sim::Cycle host_read_tensor(ops::Device& device, std::uint32_t chip, const ops::TensorSpec& spec,
                            sim::Cycle at) {
  sim::Cycle done = at;
  for (const auto& [endpoint, bytes] : tensor_pieces(spec, device.fabric(chip))) {
    done = std::max(done, device.board().host_read(chip, endpoint, bytes, at).data_done);
  }
  return done;
}

GraphRun run_graph(ops::Device& device, const Graph& graph, const ExecutorOptions& options) {
  const arch::DeviceSpec& spec = device.spec();
  device.timing_reuse().set_verify(options.verify_op_reuse);
  if (options.chip >= spec.num_chips) {
    throw Error("graph '" + graph.name() + "': chip " + std::to_string(options.chip) +
                " does not exist on " + spec.name + " (it has " + std::to_string(spec.num_chips) +
                ")");
  }
  for (const auto& [name, tensor] : options.inputs) {
    const auto id = graph.find_tensor(name);
    if (!id || graph.tensor(*id).kind != TensorKind::Input) {
      throw Error("graph '" + graph.name() + "' has no input tensor '" + name + "'");
    }
    if (!(tensor.spec() == graph.spec(*id))) {
      throw Error("graph '" + graph.name() + "': input '" + name + "' is " +
                  ops::to_string(tensor.spec()) + " but the graph expects " +
                  ops::to_string(graph.spec(*id)));
    }
  }
  const std::vector<NodeId> order = graph.topological_order();
  const std::map<TensorId, NodeId> last_use = graph.last_uses(order);
  const std::set<TensorId> graph_outputs(graph.outputs().begin(), graph.outputs().end());
  const std::map<TensorId, std::uint64_t> bounds = index_bounds(graph);
  const double ns_per_cycle = 1000.0 / spec.clock_mhz;
  const double gap_ns = options.dispatch == DispatchMode::Trace ? spec.host.trace_op_gap_ns
                                                                : spec.host.eager_dispatch_ns;
  const auto gap_cycles = static_cast<sim::Cycle>(std::llround(gap_ns / ns_per_cycle));
  sim::Engine& engine = device.engine();
  const std::uint32_t chip = options.chip;

  GraphRun run;
  run.graph = graph.name();
  run.chip = chip;
  run.dispatch = options.dispatch;
  run.launch_ns = options.dispatch == DispatchMode::Trace ? spec.host.trace_replay_launch_ns
                                                          : spec.host.eager_dispatch_ns;

  device.l1().chip(chip).reset_peaks();
  device.dram(chip).reset_peak();
  BufferSet buffers(device);
  std::map<TensorId, ops::Tensor> values;

  // A given file holds every weight unless synthesising is allowed (a missing one is then an
  // error naming the dataset); constants come from it only when it has them.
  auto from_file = [&](const GraphTensor& t) {
    if (options.weights == nullptr || t.kind == TensorKind::Input) return false;
    return options.weights->contains(t.name) ||
           (t.kind == TensorKind::Weight && !options.synthesize_missing_weights);
  };
  auto source_values = [&](const GraphTensor& t) -> ops::Tensor {
    if (!options.numerics) return ops::Tensor(t.spec);
    if (t.kind == TensorKind::Input) {
      auto given = options.inputs.find(t.name);
      if (given != options.inputs.end()) return given->second;
    }
    if (from_file(t)) return options.weights->load(t.name, t.spec);
    return synthetic_tensor(t, options.seed, bounds.count(t.id) ? bounds.at(t.id) : 0);
  };

  // Sources get their buffers before the first op and keep them for the whole run. Their host
  // values are made when a node first reads them and dropped after the last reader: each is
  // deterministic (seeded by name, or the file's), so only host memory changes (holding every
  // weight as device + golden fp32 would take 8 bytes per parameter for the whole run).
  for (const GraphTensor& t : graph.tensors()) {
    if (t.kind == TensorKind::Activation) continue;
    try {
      buffers.allocate(t.id, chip, t.spec, t.name);
    } catch (const Error& e) {
      throw Error("graph '" + graph.name() + "': cannot place " + std::string(to_string(t.kind)) +
                  " '" + t.name + "': " + e.what());
    }
    // A missing or mis-shaped dataset stops the run now, not at its first reader.
    if (options.numerics && from_file(t)) options.weights->check(t.name, t.spec);
  }
  auto value_of = [&](TensorId id) -> const ops::Tensor& {
    auto it = values.find(id);
    if (it == values.end()) it = values.emplace(id, source_values(graph.tensor(id))).first;
    return it->second;
  };

  if (options.host_io) {
    const sim::Cycle at = engine.now();
    sim::Cycle done = at;
    for (const GraphTensor& t : graph.tensors()) {
      if (t.kind == TensorKind::Input)
        done = std::max(done, host_write_tensor(device, chip, t.spec, at));
    }
    engine.advance_to(done);
    run.host_write_ns = static_cast<double>(done - at) * ns_per_cycle;
  }

  auto free_activation = [&](TensorId id) {
    if (graph.tensor(id).kind != TensorKind::Activation || graph_outputs.count(id)) return;
    buffers.free(id);
    values.erase(id);
  };
  auto release_source_values = [&](TensorId id) {
    if (graph.tensor(id).kind != TensorKind::Activation && !graph_outputs.count(id))
      values.erase(id);
  };

  for (std::size_t step = 0; step < order.size(); ++step) {
    const GraphNode& node = graph.node(order[step]);
    const std::string where =
        "graph '" + graph.name() + "', node '" + node.name + "' (op '" + node.op + "')";
    NodeRun nr;
    nr.node = node.id;
    nr.name = node.name;
    nr.group = node.group;
    nr.op = node.op;
    if (step > 0) {
      engine.advance_to(engine.now() + gap_cycles);
      nr.gap_before_ns = static_cast<double>(gap_cycles) * ns_per_cycle;
    }
    std::vector<ops::TensorSpec> in_specs;
    std::vector<ops::Tensor> inputs;
    ops::OpResult result;
    try {
      // A source's values are made here, at its first reader, so a bad init or an unreadable
      // dataset is reported with the node that needed it.
      for (TensorId t : node.inputs) {
        in_specs.push_back(graph.spec(t));
        inputs.push_back(value_of(t));
      }
      // --strict: a program config the graph requests may not fall back to an automatic one.
      nlohmann::json params = node.params;
      if (options.strict_program_configs && params.is_object() && params.contains("program_config"))
        params["strict"] = true;
      const auto op = ops::make_operation(node.op, params, in_specs, spec);
      ops::ExecuteOptions execute;
      execute.chip = chip;
      execute.numerics = options.numerics;
      if (options.reuse_op_timing) execute.reuse_key = node.op + "\n" + params.dump();
      try {
        for (TensorId t : node.outputs)
          buffers.allocate(t, chip, graph.spec(t), graph.tensor(t).name);
        result = ops::execute(device, *op, inputs, execute);
      } catch (const arch::L1OutOfMemory&) {
        // Freed tensors left holes between the live ones: reallocate them (what a TT-NN model
        // does with ttnn.reallocate) and try once more. The copies run before the op, in its gap.
        if (!options.reallocate_l1) throw;
        for (TensorId t : node.outputs) buffers.free(t);
        const std::vector<TensorId> moved = buffers.compact_l1(chip);
        if (moved.empty()) throw;
        const sim::Cycle before = engine.now();
        for (TensorId t : moved) {
          const ops::TensorSpec& s = graph.spec(t);
          const auto copy = ops::make_operation("move", nlohmann::json::object(), {s}, spec);
          ops::ExecuteOptions timing_only = execute;
          timing_only.numerics = false;
          if (options.reuse_op_timing) timing_only.reuse_key = "move\n{}";
          ops::execute(device, *copy, {ops::Tensor(s)}, timing_only);
        }
        nr.reallocated_tensors = static_cast<std::uint32_t>(moved.size());
        nr.reallocate_ns = static_cast<double>(engine.now() - before) * ns_per_cycle;
        for (TensorId t : node.outputs)
          buffers.allocate(t, chip, graph.spec(t), graph.tensor(t).name);
        result = ops::execute(device, *op, inputs, execute);
      }
      if (options.local_op_pcc && options.numerics && !result.outputs.empty() &&
          result.outputs.front().has_values()) {
        // The op's own error: its golden recomputed from the device values of the activations
        // it reads (upstream error removed) and the exact values of its sources (so rounding
        // its weights still counts against it).
        std::vector<ops::Tensor> device_inputs;
        for (std::size_t k = 0; k < inputs.size(); ++k) {
          const bool activation = graph.tensor(node.inputs[k]).kind == TensorKind::Activation;
          device_inputs.push_back(activation ? inputs[k].with_golden(nullptr) : inputs[k]);
        }
        const std::vector<ops::Tensor> local = op->compute(device_inputs, result.record.outputs);
        nr.local_pcc = local.front().golden_pcc();
      }
    } catch (const Error& e) {
      throw Error(where + ": " + e.what());
    }
    if (result.outputs.size() != node.outputs.size()) {
      throw Error(where + ": the op returned " + std::to_string(result.outputs.size()) +
                  " outputs, the graph has " + std::to_string(node.outputs.size()));
    }
    for (std::size_t k = 0; k < node.outputs.size(); ++k)
      values.insert_or_assign(node.outputs[k], result.outputs[k]);
    nr.record = std::move(result.record);
    nr.duration_ns = static_cast<double>(nr.record.timing.fw_duration()) * ns_per_cycle;
    run.op_time_ns += nr.duration_ns;
    run.gap_time_ns += nr.gap_before_ns;
    run.reallocate_time_ns += nr.reallocate_ns;
    run.reallocations += nr.reallocated_tensors;
    if (const auto p = nr.pcc(); p && (!run.worst_op_pcc || *p < *run.worst_op_pcc)) {
      run.worst_op_pcc = p;
      run.worst_op = node.name;
    }
    for (TensorId t : std::set<TensorId>(node.inputs.begin(), node.inputs.end())) {
      if (last_use.at(t) != node.id) continue;
      release_source_values(t);
      if (options.free_after_last_use) free_activation(t);
    }
    if (options.free_after_last_use) {
      for (TensorId t : node.outputs) {
        if (!last_use.count(t)) free_activation(t);  // nothing reads it
      }
    }
    run.nodes.push_back(std::move(nr));
    if (options.progress) options.progress(step + 1, order.size());
  }
  run.device_time_ns = run.op_time_ns + run.gap_time_ns + run.reallocate_time_ns;

  if (options.host_io) {
    const sim::Cycle at = engine.now();
    sim::Cycle done = at;
    for (TensorId t : graph.outputs())
      done = std::max(done, host_read_tensor(device, chip, graph.spec(t), at));
    engine.advance_to(done);
    run.host_read_ns = static_cast<double>(done - at) * ns_per_cycle;
  }

  const arch::ChipL1Map& l1 = device.l1().chip(chip);
  run.l1_peak_bytes = l1.peak_total_bytes();
  run.l1_peak_core_x = static_cast<std::uint32_t>(l1.peak_core().x);
  run.l1_peak_core_y = static_cast<std::uint32_t>(l1.peak_core().y);
  run.dram_peak_bytes = device.dram(chip).peak_bytes_per_bank() * device.dram(chip).num_banks();

  for (TensorId t : graph.outputs()) {
    const ops::Tensor& value = value_of(t);
    run.outputs.emplace(graph.tensor(t).name, value);
    if (const auto p = value.golden_pcc(); p && (!run.pcc || *p < *run.pcc)) run.pcc = p;
  }
  return run;
}

}  // namespace wormsim::workloads
