#include "tools/dist/launch.h"

#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>

#include "core/error.h"
#include "tools/dist/single_process_communicator.h"
#if KILN_WITH_MPI
#include "tools/dist/mpi_communicator.h"
#endif

namespace kiln::dist {
namespace {

int parse_count(const char* name, const char* value, int min) {
  int out = 0;
  const char* end = value + std::char_traits<char>::length(value);
  const auto [last, ec] = std::from_chars(value, end, out);
  KILN_CHECK(ec == std::errc() && last == end && out >= min,
             "{}={} in the environment: expected an integer >= {} (set by mpirun for each rank)", name, value, min);
  return out;
}

}  // namespace

Launch detect_launch(const std::function<const char*(const char*)>& getenv) {
  struct Names {
    const char* size;
    const char* rank;
  };
  for (const Names n : {Names{"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"}, Names{"PMI_SIZE", "PMI_RANK"}}) {
    const char* size = getenv(n.size);
    if (size == nullptr) continue;
    Launch out;
    out.size = parse_count(n.size, size, 1);
    const char* rank = getenv(n.rank);
    KILN_CHECK(rank != nullptr, "{}={} is set but {} is not: this process was not started by mpirun as a rank",
               n.size, size, n.rank);
    out.rank = parse_count(n.rank, rank, 0);
    KILN_CHECK(out.rank < out.size, "{}={} is not below {}={}", n.rank, rank, n.size, size);
    out.launcher = fmt::format("{}={}", n.size, size);
    return out;
  }
  return {};
}

bool built_with_mpi() {
#if KILN_WITH_MPI
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Communicator> make_communicator(const Launch& launch) {
  if (launch.launcher.empty()) return std::make_unique<SingleProcessCommunicator>();
#if KILN_WITH_MPI
  return std::make_unique<MpiCommunicator>();
#else
  // One rank under mpirun computes what a single process computes; more cannot run without MPI.
  KILN_CHECK(launch.size == 1,
             "this process is rank {} of {} ({}), but this kiln was built without MPI, so a data-parallel "
             "run is not possible: install Open MPI (apt-get install libopenmpi-dev openmpi-bin, or "
             "./kiln.sh deps) and rebuild kiln",
             launch.rank, launch.size, launch.launcher);
  return std::make_unique<SingleProcessCommunicator>();
#endif
}

namespace {

std::atomic<Communicator*> g_world{nullptr};

// Publishes the communicator to world_if_made() while it lives.
struct World {
  std::unique_ptr<Communicator> communicator;
  explicit World(std::unique_ptr<Communicator> c) : communicator(std::move(c)) { g_world.store(communicator.get()); }
  ~World() { g_world.store(nullptr); }
};

}  // namespace

Communicator& world() {
  static const World w(make_communicator(detect_launch(std::getenv)));
  return *w.communicator;
}

Communicator* world_if_made() { return g_world.load(); }

double collective_timeout(const std::function<const char*(const char*)>& getenv) {
  const char* name = "KILN_COLLECTIVE_TIMEOUT";
  const char* value = getenv(name);
  if (value == nullptr) return kDefaultCollectiveTimeout;
  double out = -1;
  const char* end = value + std::char_traits<char>::length(value);
  const auto [last, ec] = std::from_chars(value, end, out);
  KILN_CHECK(ec == std::errc() && last == end && std::isfinite(out) && out >= 0,
             "{}={} in the environment: expected a number of seconds >= 0 (0: collectives wait forever)",
             name, value);
  return out;
}

Device rank_device(const std::string& request, const Communicator& comm) {
  if (comm.size() == 1 || request == "cpu") return select_device(request);
  KILN_CHECK(request == "auto" || request == "cuda",
             "--device {}: in a run of {} ranks each rank uses cuda:(its local rank); give --device cuda, auto or cpu",
             request, comm.size());
  if (select_device(request).is_cpu()) return Device::cpu();  // auto, and no GPU
  return select_device(fmt::format("cuda:{}", comm.local_rank()));
}

}  // namespace kiln::dist
