// kiln_kernel_bench: every op x version x shape of the op table, validated against cpu_fallback,
// then timed. On a GPU: CUDA events, L2 flushed between repetitions, cuBLAS/cuDNN rows beside
// kiln's own, GFLOP/s, GB/s and % of the device's peak. On the CPU (or the emulator): wall clock,
// with OpenBLAS SGEMM's rate on this machine as the roofline column.
//
//   kiln_kernel_bench [--sizes test|bench] [--device cpu|cuda|all] [--filter REGEX]
//                     [--min-time SECONDS] [--json FILE] [--csv FILE] [--smoke]
//
// --smoke: the first case of every op, whether or not it is a benchmark row, so one quick run
// validates and times every op and kernel version (CI runs it on the emulator so it cannot rot).
#include <CLI/CLI.hpp>
#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <vector>

#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/stream.h"
#include "core/version.h"
#include "tests/parity/harness.h"

#if KILN_WITH_DEVICE
#include <cuda_runtime.h>

#include "core/cuda_check.h"
#endif

namespace kiln::bench {
namespace {

using optable::OpCase;

struct Timing {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  int reps = 0;
};

struct Row {
  Row(std::string op_, std::string shape_, std::string impl_)
      : op(std::move(op_)), shape(std::move(shape_)), impl(std::move(impl_)) {}
  std::string op, shape, impl, status = "ok";
  Timing t;
  double gflops = 0, gbytes = 0, peak_pct = 0, vs_reference = 0;  // vs_reference: time(ref)/time(this)
  std::string reference;
};

// Repeats `once` (which must finish its work before returning) until `min_seconds` have passed,
// at least 3 times after one warm-up; returns median and spread.
template <class F>
Timing repeat(F&& once, double min_seconds) {
  once();  // warm-up
  std::vector<double> ms;
  double total = 0;
  while (ms.size() < 3 || (total < min_seconds * 1e3 && ms.size() < 1000)) {
    const double t = once();
    ms.push_back(t);
    total += t;
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front(), ms.back(), static_cast<int>(ms.size())};
}

double wall_ms(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// OpenBLAS SGEMM 1024^3 on this machine: the CPU roofline column.
double sgemm_gflops() {
  const int n = 1024;
  std::vector<float> a(n * n, 1.0f), b(n * n, 0.5f), c(n * n);
  const Timing t = repeat([&] {
    return wall_ms([&] { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n); });
  }, 0.5);
  return 2.0 * n * n * n / (t.median_ms * 1e6);
}

struct DevicePeak {
  double gflops = 0, gbytes = 0;  // 0: unknown (the emulator)
  std::string name;
};

DevicePeak device_peak() {
  DevicePeak p;
#if KILN_WITH_DEVICE
  cudaDeviceProp prop{};
  KILN_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  p.name = prop.name;
#if KILN_WITH_CUDA
  int clock_khz = 0, mem_khz = 0, bus_bits = 0;
  cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0);
  cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, 0);
  cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, 0);
  const int cc = prop.major * 10 + prop.minor;
  const int fp32_per_sm = (cc == 80 || cc < 80) ? 64 : 128;  // GA100 64; GA10x, AD10x, GH100 128
  p.gflops = 2.0 * prop.multiProcessorCount * fp32_per_sm * clock_khz * 1e-6;
  p.gbytes = 2.0 * mem_khz * 1e3 * (bus_bits / 8) * 1e-9;
#endif
#endif
  return p;
}

#if KILN_WITH_DEVICE
// Times one launch on the device: CUDA events around it, L2 flushed before (real GPU); wall
// clock around launch + synchronise on the emulator.
class DeviceTimer {
 public:
  DeviceTimer() {
#if KILN_WITH_CUDA
    int l2 = 0;
    cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0);
    flush_bytes_ = static_cast<size_t>(std::max(l2, 1 << 20)) * 2;
    KILN_CUDA_CHECK(cudaMalloc(&flush_, flush_bytes_));
    KILN_CUDA_CHECK(cudaEventCreate(&start_));
    KILN_CUDA_CHECK(cudaEventCreate(&stop_));
#endif
  }
  ~DeviceTimer() {
#if KILN_WITH_CUDA
    cudaFree(flush_);
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
#endif
  }
  double time(const std::function<void()>& launch, const Stream& stream) {
#if KILN_WITH_CUDA
    auto s = static_cast<cudaStream_t>(stream.native());
    KILN_CUDA_CHECK(cudaMemsetAsync(flush_, 0, flush_bytes_, s));
    KILN_CUDA_CHECK(cudaEventRecord(start_, s));
    launch();
    KILN_CUDA_CHECK(cudaEventRecord(stop_, s));
    KILN_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    KILN_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return ms;
#else
    return wall_ms([&] {
      launch();
      stream.synchronize();
    });
#endif
  }

 private:
#if KILN_WITH_CUDA
  void* flush_ = nullptr;
  size_t flush_bytes_ = 0;
  cudaEvent_t start_{}, stop_{};
#endif
};
#endif

void fill_rates(Row& r, const OpCase& c, double peak_gflops) {
  const double s = r.t.median_ms * 1e-3;
  if (s <= 0) return;
  r.gflops = c.flops / s * 1e-9;
  r.gbytes = c.bytes / s * 1e-9;
  if (peak_gflops > 0 && c.flops > 0) r.peak_pct = 100.0 * r.gflops / peak_gflops;
}

struct Options {
  std::string sizes_name, device_name = "all", filter = ".*", json_path, csv_path;
  double min_time = 0.2;
  bool smoke = false;
};

// The command line into `o`; an exit code when the program should stop there (--help, a bad option).
std::optional<int> parse_command_line(int argc, char** argv, Options& o) {
  CLI::App app{"kiln kernel benchmarks: every op x version x shape, validated, then timed", "kiln_kernel_bench"};
#if KILN_WITH_CUDA
  o.sizes_name = "bench";
#else
  o.sizes_name = "test";  // the emulator and the CPU default to the small shapes
#endif
  app.add_option("--sizes", o.sizes_name, "test (small shapes) or bench (AlexNet, convnet-benchmarks)")
      ->check(CLI::IsMember({"test", "bench"}))->capture_default_str();
  app.add_option("--device", o.device_name, "cpu, cuda or all")->check(CLI::IsMember({"cpu", "cuda", "all"}))
      ->capture_default_str();
  app.add_option("--filter", o.filter, "regular expression on 'op/shape'");
  app.add_option("--min-time", o.min_time, "seconds of repetitions per row")->capture_default_str();
  app.add_option("--json", o.json_path, "write the rows as JSON");
  app.add_option("--csv", o.csv_path, "write the rows as CSV");
  app.add_flag("--smoke", o.smoke, "only the first case of every op, benchmark row or not (a quick check)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return std::nullopt;
}

// What is timed and against which peaks, decided once and printed as the table's header.
struct Setup {
  bool time_cpu = false, time_gpu = false;
  double cpu_peak = 0;  // OpenBLAS SGEMM GFLOP/s
  DevicePeak peak;      // the device's, when time_gpu
};

Setup set_up(const Options& o) {
  Setup s;
  std::string why;
  const bool have_device = cuda_available(&why);
  s.time_cpu = o.device_name != "cuda";
  s.time_gpu = o.device_name != "cpu" && have_device;
  if (o.device_name == "cuda" && !have_device) fail("--device cuda: no usable CUDA device (" + why + ")");

  s.cpu_peak = sgemm_gflops();
  fmt::print("kiln {} ({} build), sizes: {}\n", version(), gpu_flavour(), o.sizes_name);
  fmt::print("CPU roofline: OpenBLAS SGEMM 1024^3 = {:.1f} GFLOP/s\n", s.cpu_peak);
  if (s.time_gpu) {
    s.peak = device_peak();
    if (s.peak.gflops > 0) {
      fmt::print("device: {}: peak {:.0f} GFLOP/s FP32, {:.0f} GB/s\n", s.peak.name, s.peak.gflops, s.peak.gbytes);
    } else {
      fmt::print("device: {} (emulated: times are CPU times of the emulator, not GPU speed)\n", s.peak.name);
    }
  } else if (!have_device) {
    fmt::print("no CUDA device ({}): CPU rows only\n", why);
  }
  return s;
}

// The CPU row of one case; returns its median time in ms.
double time_cpu_row(const OpCase& c, const optable::HostBuffers& initial, const Options& o, const Setup& s,
                    std::vector<Row>& rows) {
  Row r(c.op, c.shape, "cpu");
  optable::HostBuffers work = initial;
  const Stream cpu = Stream::default_for(Device::cpu());
  optable::Args args = work.args();
  r.t = repeat([&] { return wall_ms([&] { c.cpu(args, cpu); }); }, o.min_time);
  fill_rates(r, c, s.cpu_peak);
  rows.push_back(r);
  return r.t.median_ms;
}

#if KILN_WITH_DEVICE
// One row per kernel version of one case, each validated against the CPU's `reference` before it
// is timed (a version that fails validation gets a WRONG row, untimed).
void time_gpu_rows(const OpCase& c, const optable::HostBuffers& initial, const optable::HostBuffers& reference,
                   const Options& o, const Setup& s, std::vector<Row>& rows) {
  DeviceTimer timer;
  const Stream stream = Stream::default_for(Device::cuda(0));
  for (const optable::Version& v : c.gpu) {
    Row r(c.op, c.shape, v.name);
    const auto check = optable::run_gpu(c, v, initial);
    const auto cmp = optable::compare(c, reference, check.result, v.tolerance_scale);
    if (!cmp.ok || !check.problems.empty()) {
      r.status = "WRONG";
      fmt::print(stderr, "{} {} {}: does not match the CPU, not timed\n{}", c.op, c.shape, v.name, cmp.summary());
      rows.push_back(r);
      continue;
    }
    optable::DeviceBuffers buffers(c, initial);
    r.t = repeat([&] { return timer.time([&] { v.run(buffers.args, stream); }, stream); }, o.min_time);
    fill_rates(r, c, s.peak.gflops);
    rows.push_back(r);
  }
}

// Ratios of the rows from `first` on against the vendor library row (cudnn/cublas) where there is
// one, else against the CPU's time `cpu_ms` (0: none).
void set_speedups(std::vector<Row>& rows, size_t first, double cpu_ms) {
  const Row* vendor = nullptr;
  for (size_t i = first; i < rows.size(); ++i) {
    if (rows[i].impl == "cudnn" || rows[i].impl == "cublas") vendor = &rows[i];
  }
  for (size_t i = first; i < rows.size(); ++i) {
    if (rows[i].t.median_ms <= 0) continue;
    if (vendor && vendor->t.median_ms > 0) {
      rows[i].reference = vendor->impl;
      rows[i].vs_reference = vendor->t.median_ms / rows[i].t.median_ms;
    } else if (cpu_ms > 0) {
      rows[i].reference = "cpu";
      rows[i].vs_reference = cpu_ms / rows[i].t.median_ms;
    }
  }
}
#endif

// Every case of the op table that `re` selects: validated and timed on the CPU and the device as
// `s` says.
std::vector<Row> time_cases(const Options& o, const std::regex& re, const Setup& s) {
  const auto sizes = o.sizes_name == "bench" ? optable::Sizes::Bench : optable::Sizes::Test;
  std::vector<Row> rows;
  std::set<std::string> ops_seen;
  for (const OpCase& c : optable::all_cases(sizes)) {
    if (!std::regex_search(c.op + "/" + c.shape, re)) continue;
    if (o.smoke ? !ops_seen.insert(c.op).second : !c.bench) continue;
    const auto initial = optable::make_initial(c, 7);
    const auto reference = optable::run_cpu(c, initial);
    [[maybe_unused]] double cpu_ms = 0;  // the GPU rows compare with it (device builds)
    if (s.time_cpu) cpu_ms = time_cpu_row(c, initial, o, s, rows);
#if KILN_WITH_DEVICE
    if (s.time_gpu) {
      const size_t first = rows.size();
      time_gpu_rows(c, initial, reference, o, s, rows);
      set_speedups(rows, first, cpu_ms);
    }
#endif
  }
  return rows;
}

void print_table(const std::vector<Row>& rows) {
  fmt::print("\n{:<22} {:<34} {:<18} {:>10} {:>19} {:>9} {:>8} {:>6} {:>12}\n", "op", "shape", "impl",
             "median ms", "spread ms", "GFLOP/s", "GB/s", "%peak", "speed-up vs");
  for (const Row& r : rows) {
    fmt::print("{:<22} {:<34} {:<18} {:>10.4f} {:>8.4f}-{:<10.4f} {:>9.2f} {:>8.2f} {:>6.1f} {:>12}{}\n", r.op,
               r.shape, r.impl, r.t.median_ms, r.t.min_ms, r.t.max_ms, r.gflops, r.gbytes, r.peak_pct,
               r.reference.empty() ? "" : fmt::format("{:.2f}x {}", r.vs_reference, r.reference),
               r.status == "ok" ? "" : "  " + r.status);
  }
}

void write_json(const std::string& path, const std::vector<Row>& rows) {
  std::ofstream out(path);
  out << "[\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    out << fmt::format(R"(  {{"op": "{}", "shape": "{}", "impl": "{}", "status": "{}", "median_ms": {}, "min_ms": {}, "max_ms": {}, "reps": {}, "gflops": {}, "gbytes": {}, "peak_pct": {}, "reference": "{}", "speedup_vs_reference": {}}}{})",
                       r.op, r.shape, r.impl, r.status, r.t.median_ms, r.t.min_ms, r.t.max_ms, r.t.reps, r.gflops,
                       r.gbytes, r.peak_pct, r.reference, r.vs_reference, i + 1 < rows.size() ? ",\n" : "\n");
  }
  out << "]\n";
}

void write_csv(const std::string& path, const std::vector<Row>& rows) {
  std::ofstream out(path);
  out << "op,shape,impl,status,median_ms,min_ms,max_ms,reps,gflops,gbytes,peak_pct,reference,speedup_vs_reference\n";
  for (const Row& r : rows) {
    out << fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{}\n", r.op, r.shape, r.impl, r.status, r.t.median_ms,
                       r.t.min_ms, r.t.max_ms, r.t.reps, r.gflops, r.gbytes, r.peak_pct, r.reference, r.vs_reference);
  }
}

int run(int argc, char** argv) {
  Options o;
  if (const auto exit_code = parse_command_line(argc, argv, o)) return *exit_code;
  log::set_level(log::Level::Warn);
  const std::regex re(o.filter);
  const Setup s = set_up(o);
  const std::vector<Row> rows = time_cases(o, re, s);
  const auto failures = std::count_if(rows.begin(), rows.end(), [](const Row& r) { return r.status == "WRONG"; });
  print_table(rows);
  if (!o.json_path.empty()) write_json(o.json_path, rows);
  if (!o.csv_path.empty()) write_csv(o.csv_path, rows);
  fmt::print("\n{} rows{}\n", rows.size(), failures ? fmt::format(", {} versions failed validation", failures) : "");
  return failures ? 1 : 0;
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  try {
    return kiln::bench::run(argc, argv);
  } catch (const kiln::Error& e) {
    fmt::print(stderr, "kiln_kernel_bench: error: {}\n", e.what());
    return 1;
  }
}
