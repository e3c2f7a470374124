// kiln: the command line. Every failure ends in one line "kiln: error: ..." on stderr and a
// non-zero exit; nothing aborts with a core dump on bad input.
#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <new>

#include "core/error.h"
#include "core/log.h"
#include "core/version.h"
#include "tools/commands.h"
#include "tools/dist/launch.h"

namespace {

// One line on stderr; in a job of several ranks it names the rank and ends the whole job: the
// other ranks may wait in a collective this one will never join, and returning would run
// MPI_Finalize, which waits for them. world_if_made(): a single-process run never starts MPI here.
int report_error(const char* what) {
  kiln::dist::Communicator* world = kiln::dist::world_if_made();
  if (world != nullptr && world->size() > 1) {
    fmt::print(stderr, "kiln: error: rank {}: {}\n", world->rank(), what);
    std::fflush(stderr);
    world->abort(1);
  }
  fmt::print(stderr, "kiln: error: {}\n", what);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kiln: a GPU deep learning engine (CUDA kernels, with a CPU path)", "kiln"};
  app.set_version_flag("--version", fmt::format("kiln {} ({} build)", kiln::version(), kiln::gpu_flavour()));
  std::string log_level = "info";
  app.add_option("--log", log_level, "Log level: debug, info, warn, error, off")->capture_default_str();
  app.require_subcommand(1);

  kiln::cli::Action action;
  kiln::cli::add_train_command(app, &action);
  kiln::cli::add_eval_command(app, &action);
  kiln::cli::add_sample_command(app, &action);
  kiln::cli::add_translate_command(app, &action);
  kiln::cli::add_bench_command(app, &action);
  kiln::cli::add_info_command(app, &action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "kiln: error: {}\nRun 'kiln --help' for usage.\n", e.what());
    return 2;
  }
  try {
    kiln::log::set_level(kiln::log::parse_level(log_level));
    return action ? action() : 0;
  } catch (const kiln::Error& e) {
    return report_error(e.what());
  } catch (const std::bad_alloc&) {
    // The last resort: the allocation sites that size from the input (a layer's tensors, a batch,
    // a file's bytes) name themselves; this one could not.
    return report_error("out of memory (the host ran out while kiln allocated memory; a smaller batch, "
                        "model or data set may fit)");
  } catch (const std::exception& e) {
    return report_error(e.what());
  }
}
