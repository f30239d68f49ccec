#pragma once
#include <stdexcept>
#include <string>

namespace wormsim {

// An error caused by the user's input (a bad file, an impossible configuration, an unknown
// name). The CLI prints its message, which names the culprit and the fix, and exits non-zero.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace wormsim
