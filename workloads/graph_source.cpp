#include "workloads/graph_source.hpp"

#include "sim/error.hpp"

namespace wormsim::workloads {

void check_graph_source(const GraphSource& source) {
  if (source.model.empty() == source.graph_file.empty()) {
    std::string models;
    for (const std::string& m : model_names()) models += (models.empty() ? "" : ", ") + m;
    throw Error("give either --model NAME (" + models + ") or --graph FILE.json");
  }
  if (!source.graph_file.empty()) {
    const ModelOptions& o = source.model_options;
    if (o.batch != 0 || o.resolution != 0 || o.layers != 0) {
      throw Error("--batch, --resolution and --layers shape a --model; graph file " +
                  source.graph_file +
                  " has its shapes built in (rebuild it, or save a model with `wormsim graph "
                  "--model NAME --batch B "
                  "--save FILE`)");
    }
  }
}

std::string default_device(const GraphSource& source) {
  if (!source.graph_file.empty()) {
    if (auto device = Graph::file_device(source.graph_file)) return *device;
  }
  return "n300";
}

Graph load_graph(const GraphSource& source, const arch::DeviceSpec& device) {
  check_graph_source(source);
  if (!source.graph_file.empty()) return Graph::load(source.graph_file, device);
  return build_model(source.model, source.model_options, device);
}

}  // namespace wormsim::workloads
