// The `wormsim` command line. Subcommands register themselves (see command_registry.hpp).
#include <CLI/CLI.hpp>
#include <malloc.h>

#include <exception>
#include <iostream>

#include "sim/cli/command_registry.hpp"
#include "sim/error.hpp"

namespace {

// glibc serves blocks above its mmap threshold with fresh mappings and returns freed memory at
// the heap top to the kernel. A numerics run allocates and frees tensors of a few MiB op after
// op, so each op paid page faults and zero-filling again (about 10% of a dpt-large numerics run).
// Blocks up to the largest threshold glibc allows come from the heap instead, and freed heap
// memory is kept for the next op (vit-base with numerics: 16.2-16.4 s -> 14.9-15.2 s, peak RSS
// 246 -> 227 MiB). Larger blocks (a 384 x 384 depth head's maps) are still mapped.
constexpr int kMmapThresholdBytes = 32 * 1024 * 1024;  // glibc's maximum on 64-bit
constexpr int kTrimThresholdBytes = 1 << 30;

void tune_allocator() {
  mallopt(M_MMAP_THRESHOLD, kMmapThresholdBytes);
  mallopt(M_TRIM_THRESHOLD, kTrimThresholdBytes);
}

}  // namespace

int main(int argc, char** argv) {
  tune_allocator();
  CLI::App app{"wormsim: cycle-approximate simulator of the Tenstorrent Wormhole N300"};
  app.set_version_flag("--version", std::string("wormsim ") + WORMSIM_VERSION);
  app.require_subcommand(0, 1);
  wormsim::cli::register_all_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const wormsim::Error& e) {
    std::cerr << "wormsim: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "wormsim: internal error: " << e.what() << "\n";
    return 3;
  }
  if (argc == 1) {
    std::cout << app.help();
    return 0;
  }
  return wormsim::cli::exit_status();
}
