#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace wormsim::analysis {

// An aligned plain-text table for console reports. Numeric-looking cells align right.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) : header_(std::move(header)) {}
  void add_row(std::vector<std::string> cells);
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// Fixed-point text with `decimals` digits ("12.35").
std::string format_fixed(double value, int decimals);

}  // namespace wormsim::analysis
