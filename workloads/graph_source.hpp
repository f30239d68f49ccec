#pragma once
// Where a command's graph comes from: a model of the zoo (workloads/models/model_zoo.hpp) or
// a graph JSON file (docs/graph-format.md). Shared by `wormsim run` and `wormsim graph`.
#include <cstdint>
#include <string>

#include "arch/device_spec.hpp"
#include "workloads/graph.hpp"
#include "workloads/models/model_zoo.hpp"

namespace wormsim::workloads {

struct GraphSource {
  std::string model;       // zoo model name, or
  std::string graph_file;  // a graph JSON file (exactly one of the two)
  ModelOptions model_options;
};

// Throws wormsim::Error unless exactly one of model / graph_file is set, and when model options
// are given for a graph file (its shapes are fixed).
void check_graph_source(const GraphSource& source);
// The device to use when the user names none: the graph file's "device", else n300.
std::string default_device(const GraphSource& source);
// Builds or loads the graph for `device` (the spec must outlive the graph).
Graph load_graph(const GraphSource& source, const arch::DeviceSpec& device);

}  // namespace wormsim::workloads
