// Access counting (access_count.h): the loads and stores of GPU threads, grouped into warp-wide
// requests per site at the end of each block, turned into sectors and wavefronts.
//
// The GPU sources of a KILN_EMU_ACCESS=ON build are compiled with GCC's -fsanitize=kernel-address
// and out-of-line checks: every load and store calls __asan_loadN_noabort / storeN(address)
// first (N = 1, 2, 4, 8, 16, or any size). This file defines those functions (there is no
// sanitizer runtime in that build). An access counts
// when a GPU thread makes it (tl_thread) to the block's shared memory or to a device (or pinned)
// block; the rest (the thread's local variables, the kernel's arguments, the emulator's own state)
// is what a GPU keeps in registers, local or constant memory, and is skipped.
//
// The emulator runs a warp's lanes one after another, so the lanes of one warp-wide instruction
// are matched afterwards: the k-th access of a lane at a site belongs with the k-th access of the
// other lanes of its warp at that site (SIMT lockstep; divergent paths through one site are
// matched in order, as if reconverged). A float2/float4 copy is one 8/16-byte access, as on the
// GPU, because the counting build keeps aggregate copies whole (-fno-tree-sra: no splitting into
// scalars) and does not vectorise scalar code.
#include "kernels/emu/access_count.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <tuple>
#include <mutex>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kernels/emu/access_site.h"
#include "kernels/emu/emu_api.h"

namespace kiln::emu::access {
namespace {

enum : uint8_t { kStore = 1, kShared = 2 };

struct Event {
  uintptr_t addr;
  uint64_t site;
  uint32_t tid;
  uint16_t bytes;
  uint8_t flags;
};

using Ranges = std::vector<std::pair<uintptr_t, uintptr_t>>;

// One worker's block in progress.
struct Worker {
  bool active = false;
  const LaunchSpec* spec = nullptr;
  Ranges shared;
  Ranges global;
  uint64_t global_generation = ~uint64_t{0};
  std::vector<Event> events;
};

struct SiteKey {
  uint64_t site;
  uint8_t flags;
  uint16_t bytes;
  auto operator<=>(const SiteKey&) const = default;
};
struct SiteAcc {
  uint64_t requests = 0, lanes = 0, units = 0, ideal = 0;
};
struct SectorHash {
  size_t operator()(const std::pair<uint64_t, uint64_t>& p) const {
    return std::hash<uint64_t>()(p.first * 0x9e3779b97f4a7c15ull ^ p.second);
  }
};
struct KernelAcc {
  std::string name;
  std::unordered_set<uint64_t> launches;
  uint64_t load_sectors = 0, store_sectors = 0;
  std::unordered_set<std::pair<uint64_t, uint64_t>, SectorHash> sectors;  // (launch, sector)
  std::map<SiteKey, SiteAcc> sites;
};

std::atomic<bool> g_on{false};
std::mutex g_mutex;  // guards g_kernels
std::map<const void*, KernelAcc>& kernels() {
  static auto* m = new std::map<const void*, KernelAcc>();  // outlives static destructors
  return *m;
}

__thread Worker* t_worker = nullptr;

bool in(const Ranges& r, uintptr_t a) {
  auto it = std::upper_bound(r.begin(), r.end(), a,
                             [](uintptr_t x, const std::pair<uintptr_t, uintptr_t>& e) { return x < e.first; });
  return it != r.begin() && a < std::prev(it)->second;
}

void on_access(uintptr_t a, unsigned bytes, bool store, uint64_t site) {
  Worker* w = t_worker;
  if (!w || !w->active) return;
  const Thread* t = emu::detail::tl_thread;
  if (!t) return;
  uint8_t flags = store ? kStore : 0;
  bool shared = false;
  for (const auto& [lo, hi] : w->shared) shared |= a >= lo && a < hi;
  if (shared)
    flags |= kShared;
  else if (!in(w->global, a))
    return;
  w->events.push_back(Event{a, site, t->linear, static_cast<uint16_t>(bytes), flags});
}

// The sectors of one request, and those of the same bytes packed contiguously.
void global_request(const Event* const* lane, int n, uint64_t& units, uint64_t& ideal,
                    std::vector<uint64_t>& scratch) {
  scratch.clear();
  uint64_t asked = 0;
  for (int i = 0; i < n; ++i) {
    const uintptr_t a = lane[i]->addr, end = a + lane[i]->bytes;
    for (uintptr_t s = a >> 5; s <= (end - 1) >> 5; ++s) scratch.push_back(s);
    bool repeat = false;  // lanes asking for the same bytes share them
    for (int j = 0; j < i && !repeat; ++j) repeat = lane[j]->addr == a && lane[j]->bytes == lane[i]->bytes;
    if (!repeat) asked += lane[i]->bytes;
  }
  std::sort(scratch.begin(), scratch.end());
  units += static_cast<uint64_t>(std::unique(scratch.begin(), scratch.end()) - scratch.begin());
  ideal += (asked + 31) / 32;
}

// The wavefronts of one shared-memory request: lanes are served in phases (the whole warp for
// accesses up to 4 bytes, half-warps for 8, quarter-warps for 16); within a phase a bank (4-byte
// word address mod 32) delivers one distinct word per wavefront.
void shared_request(const Event* const* lane, int n, uint64_t& units, uint64_t& ideal,
                    std::vector<uint64_t>& scratch) {
  const unsigned width = lane[0]->bytes;
  const unsigned per_phase = width > 8 ? 8 : width > 4 ? 16 : 32;
  for (unsigned phase = 0; phase < 32 / per_phase; ++phase) {
    scratch.clear();
    for (int i = 0; i < n; ++i) {
      if ((lane[i]->tid & 31u) / per_phase != phase) continue;
      const uintptr_t a = lane[i]->addr, end = a + lane[i]->bytes;
      for (uintptr_t word = a >> 2; word <= (end - 1) >> 2; ++word) scratch.push_back(word);
    }
    if (scratch.empty()) continue;
    std::sort(scratch.begin(), scratch.end());
    scratch.erase(std::unique(scratch.begin(), scratch.end()), scratch.end());
    unsigned per_bank[32] = {};
    unsigned worst = 0;
    for (uint64_t word : scratch) worst = std::max(worst, ++per_bank[word & 31u]);
    units += worst;
    ideal += 1;
  }
}

}  // namespace

namespace detail {

void block_begin(const LaunchSpec& spec, const void* dynamic_shared, size_t bytes) {
  if (!g_on.load(std::memory_order_relaxed)) {
    if (t_worker) t_worker->active = false;
    return;
  }
  if (!t_worker) t_worker = new Worker();  // one per worker thread, for the process's life
  Worker& w = *t_worker;
  w.active = true;
  w.spec = &spec;
  w.shared.clear();
  if (dynamic_shared) shared_allocated(dynamic_shared, bytes);
  if (allocation_generation() != w.global_generation) w.global = global_ranges(&w.global_generation);
  w.events.clear();
}

void shared_allocated(const void* p, size_t bytes) {
  Worker* w = t_worker;
  if (!w || !w->active) return;
  const auto a = reinterpret_cast<uintptr_t>(p);
  w->shared.emplace_back(a, a + bytes);
}

void block_end() {
  Worker* w = t_worker;
  if (!w || !w->active) return;
  w->active = false;
  std::vector<Event>& ev = w->events;
  // Warp by warp, site by site, lane by lane; each lane's accesses stay in program order.
  std::stable_sort(ev.begin(), ev.end(), [](const Event& x, const Event& y) {
    if ((x.tid >> 5) != (y.tid >> 5)) return (x.tid >> 5) < (y.tid >> 5);
    if (x.site != y.site) return x.site < y.site;
    if (x.flags != y.flags) return x.flags < y.flags;
    return x.tid < y.tid;
  });
  std::map<SiteKey, SiteAcc> sites;
  uint64_t load_sectors = 0, store_sectors = 0;
  std::vector<uint64_t> touched, scratch;
  const Event* lane[32];
  size_t begin[32], count[32];
  for (size_t g = 0; g < ev.size();) {
    size_t end = g;
    while (end < ev.size() && (ev[end].tid >> 5) == (ev[g].tid >> 5) && ev[end].site == ev[g].site &&
           ev[end].flags == ev[g].flags)
      ++end;
    int lanes = 0;
    size_t longest = 0;
    for (size_t i = g; i < end;) {
      size_t j = i;
      while (j < end && ev[j].tid == ev[i].tid) ++j;
      begin[lanes] = i;
      count[lanes] = j - i;
      longest = std::max(longest, j - i);
      ++lanes;
      i = j;
    }
    for (size_t k = 0; k < longest; ++k) {
      int n = 0;
      for (int l = 0; l < lanes; ++l)
        if (k < count[l]) lane[n++] = &ev[begin[l] + k];
      uint16_t width = 0;  // a request's width: its widest lane
      for (int i = 0; i < n; ++i) width = std::max(width, lane[i]->bytes);
      SiteAcc& s = sites[SiteKey{ev[g].site, ev[g].flags, width}];
      ++s.requests;
      s.lanes += static_cast<uint64_t>(n);
      const uint64_t before = s.units;
      if (ev[g].flags & kShared) {
        shared_request(lane, n, s.units, s.ideal, scratch);
      } else {
        global_request(lane, n, s.units, s.ideal, scratch);
        (ev[g].flags & kStore ? store_sectors : load_sectors) += s.units - before;
        for (int i = 0; i < n; ++i)
          for (uintptr_t sec = lane[i]->addr >> 5; sec <= (lane[i]->addr + lane[i]->bytes - 1) >> 5; ++sec)
            touched.push_back(sec);
      }
    }
    g = end;
  }
  std::lock_guard lock(g_mutex);
  KernelAcc& k = kernels()[w->spec->kernel];
  if (k.name.empty()) {
    char buffer[512];
    k.name = symbol_name(w->spec->kernel, buffer, sizeof buffer);
  }
  k.launches.insert(w->spec->launch);
  k.load_sectors += load_sectors;
  k.store_sectors += store_sectors;
  for (uint64_t sec : touched) k.sectors.emplace(w->spec->launch, sec);
  for (const auto& [key, acc] : sites) {
    SiteAcc& to = k.sites[key];
    to.requests += acc.requests;
    to.lanes += acc.lanes;
    to.units += acc.units;
    to.ideal += acc.ideal;
  }
}

}  // namespace detail

void start() {
  if (!kBuilt)
    throw Error("access counting needs a build with -DKILN_EMU_ACCESS=ON (GCC "
                "-fsanitize=kernel-address on the GPU sources); this build does "
                "not see the kernels' loads and stores");
  std::lock_guard lock(g_mutex);
  kernels().clear();
  g_on.store(true);
}

bool counting() { return g_on.load(); }

std::vector<Kernel> stop() {
  g_on.store(false);
  std::vector<Kernel> out;
  std::lock_guard lock(g_mutex);
  std::vector<uint64_t> keys;
  for (const auto& [ptr, k] : kernels())
    for (const auto& [key, acc] : k.sites) keys.push_back(key.site);
  const std::map<uint64_t, std::string> where_is = site_locations(keys);
  for (auto& [ptr, k] : kernels()) {
    Kernel r;
    r.name = k.name;
    r.launches = k.launches.size();
    r.load_sectors = k.load_sectors;
    r.store_sectors = k.store_sectors;
    r.unique_bytes = 32 * static_cast<uint64_t>(k.sectors.size());
    // Sites at one source line (unrolled copies, inlined twice) are one row per space, kind, width.
    std::map<std::tuple<std::string, uint8_t, uint16_t>, Site> rows;
    for (const auto& [key, acc] : k.sites) {
      const std::string& where = where_is.at(key.site);
      Site& s = rows[{where, key.flags, key.bytes}];
      s.location = where;
      s.shared = key.flags & kShared;
      s.store = key.flags & kStore;
      s.bytes = key.bytes;
      s.requests += acc.requests;
      s.lanes += acc.lanes;
      s.units += acc.units;
      s.ideal_units += acc.ideal;
    }
    for (auto& [key, s] : rows) r.sites.push_back(std::move(s));
    out.push_back(std::move(r));
  }
  kernels().clear();
  return out;
}

void record(const void* address, unsigned bytes, bool store, const std::source_location& where) {
  on_access(reinterpret_cast<uintptr_t>(address), bytes, store, source_site(where));
}

}  // namespace kiln::emu::access

#if defined(KILN_EMU_ACCESS_COUNT)
// The checks GCC's -fsanitize=kernel-address calls before every load and store of the GPU code
// (--param=asan-instrumentation-with-call-threshold=0: all out of line). The access follows the
// call, so the return address is at its source line. Defined only in the counting build, so no
// other build's sanitizer runtime sees them.
#define KILN_ACCESS_CALLBACK(kind, n, store)                                                 \
  extern "C" void __asan_##kind##n##_noabort(uintptr_t p);                                   \
  extern "C" void __asan_##kind##n##_noabort(uintptr_t p) {                                  \
    kiln::emu::access::on_access(p, n, store,                                                \
                                 reinterpret_cast<uintptr_t>(__builtin_return_address(0)));  \
  }
KILN_ACCESS_CALLBACK(load, 1, false)
KILN_ACCESS_CALLBACK(load, 2, false)
KILN_ACCESS_CALLBACK(load, 4, false)
KILN_ACCESS_CALLBACK(load, 8, false)
KILN_ACCESS_CALLBACK(load, 16, false)
KILN_ACCESS_CALLBACK(store, 1, true)
KILN_ACCESS_CALLBACK(store, 2, true)
KILN_ACCESS_CALLBACK(store, 4, true)
KILN_ACCESS_CALLBACK(store, 8, true)
KILN_ACCESS_CALLBACK(store, 16, true)
// Other sizes (a 12-byte struct copy, say).
extern "C" void __asan_loadN_noabort(uintptr_t p, size_t n);
extern "C" void __asan_loadN_noabort(uintptr_t p, size_t n) {
  kiln::emu::access::on_access(p, static_cast<unsigned>(n), false,
                               reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
}
extern "C" void __asan_storeN_noabort(uintptr_t p, size_t n);
extern "C" void __asan_storeN_noabort(uintptr_t p, size_t n) {
  kiln::emu::access::on_access(p, static_cast<unsigned>(n), true,
                               reinterpret_cast<uintptr_t>(__builtin_return_address(0)));
}
// Called before a noreturn call (a throw): ASan unpoisons the stack there; nothing to do here.
extern "C" void __asan_handle_no_return();
extern "C" void __asan_handle_no_return() {}
// Around a file's dynamic initialisers (ASan's init-order check): nothing to do either.
extern "C" void __asan_before_dynamic_init(const char*);
extern "C" void __asan_before_dynamic_init(const char*) {}
extern "C" void __asan_after_dynamic_init();
extern "C" void __asan_after_dynamic_init() {}
#endif
