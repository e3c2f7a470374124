// `kiln info`: the build flavour, each CUDA device found (or why there is none), and the versions
// of the libraries kiln runs with.
#include <fmt/format.h>

#include "core/allocator.h"
#include "core/device.h"
#include "core/version.h"
#include "tools/commands.h"
#include "tools/dist/versions.h"

namespace kiln::cli {
namespace {

int run_info() {
  fmt::print("kiln {}\n", version());
  fmt::print("build flavour : {}\n", gpu_flavour());
  std::string why;
  const auto devices = cuda_devices(&why);
  if (devices.empty()) {
    fmt::print("CUDA devices  : none ({})\n", why);
  } else {
    fmt::print("CUDA devices  : {}\n", devices.size());
    for (const DeviceInfo& d : devices) {
      fmt::print("  cuda:{}  {}{}, {} total ({} free), compute capability {}.{}, {} multiprocessors\n",
                 d.index, d.name, d.emulated ? " (emulated on the CPU)" : "", format_bytes(d.total_memory),
                 format_bytes(d.free_memory), d.compute_major, d.compute_minor, d.multiprocessors);
    }
  }
  fmt::print("default device: {}\n", devices.empty() ? "cpu" : "cuda:0");
  for (const ComponentVersion& c : component_versions()) {
    fmt::print("{:<14}: {}\n", c.name, c.version);
  }
  fmt::print("{:<14}: {}\n", "MPI", dist::mpi_version());
  fmt::print("{:<14}: {}\n", "NCCL", dist::nccl_version());
  return 0;
}

}  // namespace

void add_info_command(CLI::App& app, Action* action) {
  CLI::App* cmd = app.add_subcommand("info", "Show the build, the devices found and library versions");
  cmd->callback([action] { *action = run_info; });
}

}  // namespace kiln::cli
