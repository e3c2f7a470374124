#include "tools/bench_ranks.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "core/error.h"
#include "tools/dist/launch.h"

#ifndef KILN_MPIEXEC
#define KILN_MPIEXEC ""
#endif

namespace kiln::cli {
namespace {

// The machine the figures belong to: /proc/cpuinfo's model name, its physical cores (distinct
// (physical id, core id) pairs) and logical CPUs.
struct CpuInfo {
  std::string model = "unknown CPU";
  int cores = 0, logical = 0;
};

CpuInfo read_cpu_info() {
  CpuInfo info;
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<std::string, std::string>> cores;
  std::string line, physical = "0", model;
  auto value = [](const std::string& l) {
    const size_t colon = l.find(':');
    std::string v = colon == std::string::npos ? "" : l.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    return v;
  };
  while (std::getline(in, line)) {
    if (line.starts_with("processor")) ++info.logical;
    if (line.starts_with("model name") && model.empty()) model = value(line);
    if (line.starts_with("physical id")) physical = value(line);
    if (line.starts_with("core id")) cores.insert({physical, value(line)});
  }
  if (!model.empty()) info.model = model;
  if (info.logical == 0) info.logical = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  info.cores = cores.empty() ? info.logical : static_cast<int>(cores.size());
  return info;
}

// mpirun: the launcher CMake found when kiln was built (KILN_MPIEXEC), else `mpirun` on PATH, else
// empty.
std::string find_mpirun() {
  namespace fs = std::filesystem;
  const std::string built = KILN_MPIEXEC;
  std::error_code ec;
  if (!built.empty() && fs::exists(built, ec)) return built;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const fs::path candidate = fs::path(dir) / "mpirun";
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

std::string this_binary() {
  std::error_code ec;
  const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  KILN_CHECK(!ec, "kiln bench train --ranks: cannot find this kiln binary (/proc/self/exe: {})", ec.message());
  return p.string();
}

struct ChildRun {
  int exit_code = -1;
  std::string out;  // stdout (the JSON); stderr goes to ours
};

// Runs argv with `env` added to this process's environment, stdin from /dev/null; captures stdout.
ChildRun run_child(const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env) {
  int fds[2];
  KILN_CHECK(pipe(fds) == 0, "kiln bench train --ranks: pipe: {}", std::strerror(errno));
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  KILN_CHECK(pid >= 0, "kiln bench train --ranks: fork: {}", std::strerror(errno));
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    const int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, STDIN_FILENO);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    fmt::print(stderr, "kiln: error: cannot run {}: {}\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  ChildRun r;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fds[0], buffer, sizeof buffer);
    if (n > 0) {
      r.out.append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// Rank 0's JSON object in a child's stdout (Open MPI may add lines of its own around it).
nlohmann::json parse_child_json(const std::string& out) {
  size_t begin = out.starts_with("{") ? 0 : out.find("\n{");
  if (begin == std::string::npos) return nullptr;
  if (begin != 0) ++begin;
  const size_t end = out.rfind('}');
  if (begin == std::string::npos || end == std::string::npos || end < begin) return nullptr;
  return nlohmann::json::parse(out.substr(begin, end - begin + 1), nullptr, /*allow_exceptions=*/false);
}

std::string quoted_command(const std::vector<std::string>& argv) {
  std::string s;
  for (const std::string& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

double number(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : -1.0;
}

}  // namespace

std::vector<int> parse_rank_list(const std::string& text) {
  const std::string what = fmt::format(
      "--ranks takes a comma-separated list of rank counts >= 1 without repeats, e.g. --ranks 1,2; got '{}'", text);
  std::vector<int> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    KILN_CHECK(!item.empty() && item.size() <= 4 && std::all_of(item.begin(), item.end(), [](char c) {
      return c >= '0' && c <= '9';
    }), "{}", what);
    const int r = std::stoi(item);
    KILN_CHECK(r >= 1 && std::find(out.begin(), out.end(), r) == out.end(), "{}", what);
    out.push_back(r);
  }
  KILN_CHECK(!out.empty() && !text.ends_with(','), "{}", what);
  return out;
}

int run_bench_ranks(const RanksRequest& request) {
  // Every row is checked before any runs: a batch that does not divide is refused up front.
  int64_t every = 1;  // the least common multiple of the rank counts
  for (int r : request.ranks) every = std::lcm(every, int64_t{r});
  for (int r : request.ranks) {
    KILN_CHECK(request.global_batch % r == 0,
               "kiln bench train --ranks: the batch {} is the global batch, split evenly over the ranks, and does not "
               "divide by {}: give a --batch that every rank count of --ranks divides (e.g. {})",
               request.global_batch, r, (request.global_batch / every + 1) * every);
  }
  const std::string mpirun = find_mpirun();
  KILN_CHECK(!mpirun.empty(),
             "kiln bench train --ranks runs mpirun, which was not found (neither at the path CMake found nor on PATH): "
             "apt-get install openmpi-bin libopenmpi-dev, then rebuild kiln");
  KILN_CHECK(dist::built_with_mpi(),
             "kiln bench train --ranks: this kiln was built without MPI, so its ranks cannot find each other: "
             "apt-get install libopenmpi-dev openmpi-bin, then rebuild kiln");
  const std::string kiln = this_binary();
  const CpuInfo cpu = read_cpu_info();
  const char* user_threads = std::getenv("OMP_NUM_THREADS");

  struct Row {
    int ranks = 0;
    int threads = 0;  // CPU threads per rank, 0: as the environment says
    nlohmann::json json;
  };
  std::vector<Row> rows;
  for (int r : request.ranks) {
    std::vector<std::string> argv{mpirun, "-np", std::to_string(r)};
    // --bind-to none, always: Open MPI binds each rank to one core by default when there are at
    // most 2 ranks, which would put the 1-rank row's worker threads all on one core (and any rank
    // with several threads likewise). kiln sets the threads per rank itself (OMP_NUM_THREADS below).
    argv.insert(argv.end(), {"--bind-to", "none"});
    // --oversubscribe only when there are more ranks than cores: Open MPI refuses that by default
    // (one slot per core), and it is the only case that needs it.
    if (r > cpu.cores) argv.push_back("--oversubscribe");
    argv.insert(argv.end(), {kiln, "bench", "train", request.config});
    argv.insert(argv.end(), request.args.begin(), request.args.end());
    argv.push_back("--json");
    std::vector<std::pair<std::string, std::string>> env;
    // Open MPI refuses to start as root unless told twice; only then is it told (CI runs as root).
    if (geteuid() == 0) env = {{"OMPI_ALLOW_RUN_AS_ROOT", "1"}, {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"}};
    // The cores are shared out: R ranks of cores/R CPU threads each (at least 1), as torchrun does
    // for DDP, so every row uses the same machine and none oversubscribes it (kiln's CPU ops run
    // on OpenMP's thread count: cpu_fallback/parallel.h). An OMP_NUM_THREADS the user set wins.
    Row row{r, 0, nullptr};
    if (user_threads == nullptr) {
      row.threads = std::max(1, cpu.cores / r);
      env.emplace_back("OMP_NUM_THREADS", std::to_string(row.threads));
    }
    fmt::print(stderr, "kiln bench train --ranks: {} rank{}: {}\n", r, r == 1 ? "" : "s", quoted_command(argv));
    const ChildRun run = run_child(argv, env);
    KILN_CHECK(run.exit_code == 0, "kiln bench train --ranks: the {}-rank run failed (exit code {}): {}\n{}", r,
               run.exit_code, quoted_command(argv), run.out);
    row.json = parse_child_json(run.out);
    KILN_CHECK(row.json.is_object() && row.json.contains("train_images_per_s"),
               "kiln bench train --ranks: the {}-rank run printed no JSON result: {}\n{}", r, quoted_command(argv),
               run.out);
    rows.push_back(std::move(row));
  }

  if (request.json) {
    nlohmann::json out;
    out["cpu_model"] = cpu.model;
    out["cpu_cores"] = cpu.cores;
    out["cpu_logical"] = cpu.logical;
    out["mpirun"] = mpirun;
    out["rows"] = nlohmann::json::array();
    for (const Row& row : rows) {
      nlohmann::json j = row.json;
      j["threads_per_rank"] = row.threads > 0 ? nlohmann::json(row.threads) : nlohmann::json(nullptr);
      j.erase("layers");
      out["rows"].push_back(std::move(j));
    }
    fmt::print("{}\n", out.dump(1));
    return 0;
  }
  const nlohmann::json& first = rows.front().json;
  fmt::print("{} ({}): data-parallel training on {}, {} steps after {} warm-up\n", first.value("model", "?"),
             request.config, first.value("device", "?"), first.value("iters", 0), first.value("warmup", 0));
  fmt::print("machine: {}, {} cores ({} logical CPUs); mpirun {}; {}\n", cpu.model, cpu.cores, cpu.logical, mpirun,
             user_threads ? fmt::format("OMP_NUM_THREADS={} per rank (as set)", user_threads)
                          : "CPU threads per rank = cores / ranks");
  fmt::print("gradients: {} parameters, {} bytes per all-reduce\n\n", first.value("parameters", int64_t{0}),
             first.value("gradient_bytes", int64_t{0}));
  fmt::print("{:>5} {:>12} {:>9} {:>8} {:>11} {:>8} {:>22} {:>26}\n", "ranks", "global batch", "per rank",
             "threads", "images/s", "speedup", "all-reduce exposed ms", "full all-reduce ms (min)");
  const double base = number(first, "train_images_per_s");
  for (const Row& row : rows) {
    const nlohmann::json& j = row.json;
    const double ips = number(j, "train_images_per_s");
    const double exposed = number(j, "allreduce_exposed_ms_per_step"), full = number(j, "allreduce_full_ms");
    const double full_min = number(j, "allreduce_full_min_ms");
    fmt::print("{:>5} {:>12} {:>9} {:>8} {:>11.1f} {:>7.2f}x {:>22} {:>26}\n", row.ranks,
               j.value("batch", int64_t{0}), j.value("batch_per_rank", j.value("batch", int64_t{0})),
               row.threads > 0 ? std::to_string(row.threads) : std::string("env"), ips, ips / base,
               exposed >= 0 ? fmt::format("{:.3f}", exposed) : std::string("-"),
               full >= 0 ? fmt::format("{:.3f} ({:.3f})", full, full_min) : std::string("-"));
  }
  fmt::print("\nall-reduce exposed: per step, the time GradientBuckets::finish waited after backward (the "
             "all-reduce backward did not hide,\n  and any wait for a slower rank); full all-reduce: one blocking "
             "all-reduce of every gradient, mean of 5 (fastest),\n  the most the overlap could hide.\n");
  return 0;
}

}  // namespace kiln::cli
