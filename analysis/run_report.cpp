#include "analysis/run_report.hpp"

#include <algorithm>
#include <map>

#include "analysis/text_table.hpp"

namespace wormsim::analysis {
namespace {

// Gaps worth a remark: a fifth of the device time or more spent between ops.
constexpr double kGapShareAdvicePct = 20.0;

std::vector<const OpProfile*> first_chip_ops(const RunProfile& profile) {
  std::vector<const OpProfile*> ops;
  if (profile.ops.empty()) return ops;
  std::uint32_t chip = profile.ops.front().chip;
  for (const OpProfile& op : profile.ops) chip = std::min(chip, op.chip);
  for (const OpProfile& op : profile.ops) {
    if (op.chip == chip && op.node != nullptr) ops.push_back(&op);
  }
  return ops;
}

std::string us(double ns) { return format_fixed(ns / 1000.0, 2); }
std::string pct(const std::optional<double>& value) { return value ? format_fixed(*value, 1) : ""; }

}  // namespace

std::string gap_advice(const RunProfile& profile) {
  const std::vector<const OpProfile*> ops = first_chip_ops(profile);
  double kernel = 0, gaps = 0;
  std::size_t high = 0;
  for (const OpProfile* op : ops) {
    kernel += op->fw_ns;
    gaps += op->op_to_op_ns;
    if (op->op_to_op_ns > kHighOpToOpGapNs) ++high;
  }
  const double total = kernel + gaps;
  if (total <= 0) return "";
  const double share = 100.0 * gaps / total;
  if (share < kGapShareAdvicePct && high == 0) return "";
  const bool traced = !ops.empty() && ops.front()->traced;
  std::string text =
      "many small ops: op-to-op gaps are " + format_fixed(share, 0) + "% of device time";
  if (high > 0)
    text += " (" + std::to_string(high) + " gaps > " + format_fixed(kHighOpToOpGapNs / 1000.0, 1) +
            " us)";
  text += traced ? " - fuse ops or batch more work per op"
                 : " - run the model as a captured trace (--dispatch trace)";
  return text;
}

void print_run_report(std::ostream& out, const RunProfile& profile, const ReportOptions& options) {
  const std::vector<const OpProfile*> ops = first_chip_ops(profile);
  if (ops.empty()) {
    out << "no ops ran\n";
    return;
  }
  double total_kernel = 0, total_gap = 0;
  for (const OpProfile* op : ops) {
    total_kernel += op->kernel_ns;
    total_gap += op->op_to_op_ns;
  }
  const auto share = [&](double ns) {
    return format_fixed(total_kernel > 0 ? 100.0 * ns / total_kernel : 0.0, 1);
  };

  // Per op type.
  struct TypeTotals {
    std::size_t count{0};
    double kernel_ns{0};
    double cores{0};
    std::map<std::string, std::size_t> bounds;
  };
  std::map<std::string, TypeTotals> types;
  for (const OpProfile* op : ops) {
    TypeTotals& t = types[op->record().op_code];
    ++t.count;
    t.kernel_ns += op->kernel_ns;
    t.cores += op->record().timing.core_count;
    ++t.bounds[std::string(to_string(op->bound))];
  }
  std::vector<std::pair<std::string, TypeTotals>> sorted(types.begin(), types.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second.kernel_ns > b.second.kernel_ns;
  });
  out << "device time by op type (chip " << ops.front()->chip << ", " << ops.size() << " ops, "
      << format_fixed(total_kernel / 1e6, 3) << " ms kernel time)\n";
  TextTable by_type(
      {"op code", "count", "time [us]", "share [%]", "mean [us]", "mean cores", "bound"});
  for (const auto& [code, t] : sorted) {
    std::string bounds;
    for (const auto& [bound, n] : t.bounds)
      bounds += (bounds.empty() ? "" : " ") + bound + " " + std::to_string(n);
    by_type.add_row({code, std::to_string(t.count), us(t.kernel_ns), share(t.kernel_ns),
                     us(t.kernel_ns / static_cast<double>(t.count)),
                     format_fixed(t.cores / static_cast<double>(t.count), 1), bounds});
  }
  by_type.print(out);

  std::vector<const OpProfile*> top = ops;
  std::stable_sort(top.begin(), top.end(),
                   [](const auto* a, const auto* b) { return a->kernel_ns > b->kernel_ns; });
  if (top.size() > options.top) top.resize(options.top);
  out << "\ntop ops by device kernel time (bound: >= " << format_fixed(kBoundThresholdPct, 0)
      << "% of peak DRAM bandwidth / FLOPs, NoC: busiest link; traffic "
      << (profile.per_op_traffic ? "per op" : "not recorded per op") << ")\n";
  // PCC only when the run computed values (numerics on).
  const bool has_pcc = std::any_of(ops.begin(), ops.end(),
                                   [](const OpProfile* op) { return op->node->pcc().has_value(); });
  std::vector<std::string> columns = {"node",         "op code",  "time [us]", "share [%]",
                                      "cores",        "DRAM [%]", "FLOPs [%]", "NoC max [%]",
                                      "ideal/actual", "bound"};
  if (has_pcc) columns.push_back("PCC");
  TextTable table(columns);
  for (const OpProfile* op : top) {
    std::vector<std::string> row = {op->node->name,
                                    op->record().op_code,
                                    us(op->kernel_ns),
                                    share(op->kernel_ns),
                                    std::to_string(op->record().timing.core_count),
                                    pct(op->dram_pct),
                                    pct(op->flops_pct),
                                    pct(op->max_link_util_pct),
                                    format_fixed(op->ideal_ratio, 2),
                                    std::string(to_string(op->bound))};
    if (has_pcc) {
      const std::optional<double> pcc = op->node->pcc();
      row.push_back(pcc ? format_fixed(*pcc, 6) : "n/a");
    }
    table.add_row(row);
  }
  table.print(out);

  // Op-to-op gaps.
  const OpProfile* widest = nullptr;
  std::size_t high = 0;
  for (const OpProfile* op : ops) {
    if (widest == nullptr || op->op_to_op_ns > widest->op_to_op_ns) widest = op;
    if (op->op_to_op_ns > kHighOpToOpGapNs) ++high;
  }
  const double device = total_gap;
  out << "\nop-to-op gaps: " << us(device) << " us total over " << (ops.size() - 1)
      << " gaps, mean " << us(ops.size() > 1 ? device / static_cast<double>(ops.size() - 1) : 0.0)
      << " us, max " << us(widest->op_to_op_ns) << " us (before " << widest->node->name << "), "
      << high << " above " << us(kHighOpToOpGapNs) << " us\n";

  // Advice for the worst ops.
  out << "\nadvice\n";
  std::size_t lines = 0;
  const std::string gaps = gap_advice(profile);
  if (!gaps.empty()) {
    out << "  " << gaps << "\n";
    ++lines;
  }
  // Ops that repeat per layer get the same advice: one line for the first (slowest) of them
  // and a count of the others, so the lines left go to different problems.
  struct AdviceGroup {
    const OpProfile* first{nullptr};
    std::size_t alike{0};
  };
  std::vector<AdviceGroup> groups;
  std::map<std::pair<std::string, std::string>, std::size_t> group_of;
  std::vector<const OpProfile*> worst = ops;
  std::stable_sort(worst.begin(), worst.end(),
                   [](const auto* a, const auto* b) { return a->kernel_ns > b->kernel_ns; });
  for (const OpProfile* op : worst) {
    if (op->advice.empty()) continue;
    const auto [it, added] =
        group_of.emplace(std::make_pair(op->record().op_code, op->advice), groups.size());
    if (added) {
      groups.push_back({op, 0});
    } else {
      ++groups[it->second].alike;
    }
  }
  if (groups.size() > options.advice_lines) groups.resize(options.advice_lines);
  for (const AdviceGroup& g : groups) {
    const OpProfile* op = g.first;
    out << "  " << op->node->name;
    if (g.alike > 0) out << " and " << g.alike << " like it";
    out << " (" << op->record().op_code << ", " << us(op->kernel_ns) << " us, "
        << to_string(op->bound) << "): " << op->advice << "\n";
    ++lines;
  }
  if (lines == 0) out << "  nothing stands out: the top ops run near their bounds\n";
}

}  // namespace wormsim::analysis
