#include "analysis/op_calibration.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "analysis/csv_table.hpp"
#include "arch/l1_allocator.hpp"
#include "ops/isolated_run.hpp"
#include "ops/op_registry.hpp"
#include "sim/error.hpp"

namespace wormsim::analysis {

std::filesystem::path default_op_references_file() {
  return project_data_directory() / "op_references.json";
}

OpCalibration calibrate_ops(const arch::DeviceSpec& spec, const std::filesystem::path& references) {
  const std::string file = references.string();
  std::ifstream in(references);
  if (!in) throw Error("cannot open op references " + file);
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error("op references " + file + " are not valid JSON: " + e.what());
  }
  if (!doc.contains("rows") || !doc["rows"].is_array())
    throw Error(file + ": needs \"rows\": [...]");
  OpCalibration out;
  std::size_t index = 0;
  for (const nlohmann::json& row : doc["rows"]) {
    const std::string where = file + ": rows[" + std::to_string(index++) + "]";
    try {
      // The row's own fields first, so a broken row fails whatever its op does.
      CalibrationRow r;
      r.group = "ops";
      r.name = row.at("name").get<std::string>();
      r.unit = "us";
      r.measured = row.at("measured_us").get<double>();
      if (r.measured <= 0) throw Error("measured_us must be positive");
      r.note = row.at("kind").get<std::string>() + ": " + row.at("source").get<std::string>();
      const nlohmann::json& desc = row.at("op");
      std::vector<ops::TensorSpec> inputs;
      for (const nlohmann::json& t : desc.at("inputs"))
        inputs.push_back(ops::tensor_spec_from_json(t, spec));
      const auto op =
          ops::make_operation(desc.at("op").get<std::string>(),
                              desc.value("params", nlohmann::json::object()), inputs, spec);
      op->output_specs(inputs, spec);  // shape and parameter errors are the row's
      // An op whose circular buffers do not fit L1 is reported as not simulated, with why.
      std::optional<ops::OpResult> result;
      try {
        result = ops::run_isolated(spec, *op, inputs, {false, 0});
      } catch (const arch::L1OutOfMemory& e) {
        out.skipped.push_back({r.name, e.what()});
        continue;
      }
      // Cycles at the spec's clock, in microseconds.
      r.simulated = static_cast<double>(result->record.timing.kernel_duration()) /
                    static_cast<double>(spec.clock_mhz);
      r.error_pct = (r.simulated - r.measured) / r.measured * 100.0;
      out.rows.push_back(std::move(r));
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + ": " + e.what() +
                  "; each row needs name, kind, measured_us, source and op");
    } catch (const Error& e) {
      throw Error(where + ": " + e.what());
    }
  }
  index = 0;
  for (const nlohmann::json& entry : doc.value("not_expressible", nlohmann::json::array())) {
    const std::string where = file + ": not_expressible[" + std::to_string(index++) + "]";
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
        !entry.contains("why") || !entry["why"].is_string())
      throw Error(where + ": needs {\"name\": \"...\", \"why\": \"...\"}");
    out.skipped.push_back({entry["name"].get<std::string>(), entry["why"].get<std::string>()});
  }
  return out;
}

}  // namespace wormsim::analysis
