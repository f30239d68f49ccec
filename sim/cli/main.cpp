// The `wormsim` command line. Subcommands register themselves (see command_registry.hpp).
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "ops/numerics/fidelity_matmul.hpp"
#include "sim/cli/allocator.hpp"
#include "sim/cli/command_registry.hpp"
#include "sim/error.hpp"

int main(int argc, char** argv) {
  wormsim::cli::tune_allocator();
  // wormsim threads its own large GEMMs; OpenBLAS's idle workers would spin on the cores.
  wormsim::ops::numerics::split_gemms_over_threads(wormsim::ops::numerics::blas_thread_count());
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
