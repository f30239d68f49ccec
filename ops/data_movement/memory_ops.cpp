// interleaved_to_sharded, sharded_to_interleaved, reshard and move.
#include "ops/data_movement/data_movement.hpp"

namespace wormsim::ops {
namespace {

// Every element stays at its coordinate; only the pages' placement changes.
class IdentityMap : public dm::ElementMap {
 public:
  dm::Source source(std::size_t, const dm::Coord4& at) const override {
    return dm::Source::from(0, at);
  }
  std::string cache_key() const override { return "identity"; }
  bool is_identity() const override { return true; }
};

}  // namespace

std::string MemoryMoveOp::name() const {
  switch (kind_) {
    case MemoryMoveKind::InterleavedToSharded:
      return "interleaved_to_sharded";
    case MemoryMoveKind::ShardedToInterleaved:
      return "sharded_to_interleaved";
    case MemoryMoveKind::Reshard:
      return "reshard";
    case MemoryMoveKind::Move:
      return "move";
  }
  return "?";
}

std::string MemoryMoveOp::op_code() const {
  switch (kind_) {
    case MemoryMoveKind::InterleavedToSharded:
      return "InterleavedToShardedDeviceOperation";
    case MemoryMoveKind::ShardedToInterleaved:
      return "ShardedToInterleavedDeviceOperation";
    case MemoryMoveKind::Reshard:
      return "ReshardDeviceOperation";
    case MemoryMoveKind::Move:
      return "MoveDeviceOperation";
  }
  return "?";
}

std::string MemoryMoveOp::attributes() const {
  return "{'output_mem_config': '" + memory_attribute() + "'}";
}

std::vector<TensorSpec> MemoryMoveOp::output_specs(const std::vector<TensorSpec>& inputs,
                                                   const arch::DeviceSpec& device) const {
  const std::string op = name();
  if (inputs.size() != 1)
    throw Error(op + " takes one input, got " + std::to_string(inputs.size()));
  const TensorSpec& in = inputs[0];
  const std::string placement = to_string(in.memory_config());
  const bool needs_request =
      kind_ == MemoryMoveKind::InterleavedToSharded || kind_ == MemoryMoveKind::Reshard;
  if (needs_request && !memory_.requested()) {
    throw Error(op +
                ": give output_memory, a sharded placement (l1-height-sharded, l1-width-sharded, "
                "l1-block-sharded, dram-sharded with grid [x, y]) or a TT-NN MemoryConfig string");
  }
  if (kind_ == MemoryMoveKind::InterleavedToSharded && in.is_sharded()) {
    throw Error(op + ": the input is already sharded (" + placement + "); use reshard");
  }
  if ((kind_ == MemoryMoveKind::ShardedToInterleaved || kind_ == MemoryMoveKind::Reshard) &&
      !in.is_sharded()) {
    throw Error(op + ": the input is interleaved (" + placement + "); use " +
                (kind_ == MemoryMoveKind::Reshard ? "interleaved_to_sharded" : "move"));
  }
  const MemoryConfig fallback = kind_ == MemoryMoveKind::ShardedToInterleaved
                                    ? MemoryConfig::dram_interleaved()
                                    : in.memory_config();
  const MemoryConfig config = output_memory(in, fallback, device);
  const bool want_sharded =
      kind_ == MemoryMoveKind::InterleavedToSharded || kind_ == MemoryMoveKind::Reshard;
  if (kind_ != MemoryMoveKind::Move && config.is_sharded() != want_sharded) {
    throw Error(op + ": the output placement " + to_string(config) + " is " +
                (config.is_sharded() ? "sharded" : "interleaved") + "; " + op + " needs an " +
                (want_sharded ? "L1 or DRAM sharded" : "interleaved") + " output");
  }
  return {in.with_memory_config(config)};
}

std::unique_ptr<dm::ElementMap> MemoryMoveOp::element_map(const std::vector<TensorSpec>&,
                                                          const std::vector<TensorSpec>&) const {
  return std::make_unique<IdentityMap>();
}

void MemoryMoveOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                         const std::vector<TensorSpec>& outputs) const {
  // Reshard splits each output core's reads over both data-movement RISCs.
  dm::build_gather(program, *element_map(inputs, outputs), inputs, outputs,
                   kind_ == MemoryMoveKind::Reshard);
}

}  // namespace wormsim::ops
