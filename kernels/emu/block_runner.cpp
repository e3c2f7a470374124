// The emulator's execution engine for one block (worker_pool.cpp spreads the blocks of a grid over
// the workers): threads run as a plain loop until one of them reaches a synchronisation point, and
// from there the remaining threads become fibers (Boost.Context fcontext) scheduled round-robin by
// the thread that got there first, which stays on the worker's own stack (the "host").
//
// Why this shape (see also HIP-CPU, which runs every thread of every block as a fiber):
//   - most kernels (elementwise, grid-stride loops) never synchronise: they cost a function call
//     per thread and no fiber is ever created;
//   - a block that does synchronise pays two context switches per thread per barrier (host ->
//     fiber -> host), with stacks reused from a per-worker pool, no allocation per thread;
//   - the choice is made per block, so a kernel whose blocks only sometimes synchronise (early
//     exit on the tail block) pays only where it must.
//
// Synchronisation semantics:
//   - __syncthreads is a counted barrier with generations; exited threads count as arrived (as on
//     NVIDIA hardware since Volta). All waiting threads must wait at the same __syncthreads (same
//     source line and column); otherwise the block is reported as deadlocked.
//   - warp operations are rendezvous of the lanes named in the mask; each lane's result is
//     computed when the last lane of the mask arrives.
//   - when no thread can run, the block is deadlocked: kiln::Error naming the kernel, the block,
//     and every thread range with where it waits. Never a hang.
//   - on any error the suspended fibers are resumed with an abort flag; their synchronisation
//     call throws an internal Unwind exception that is caught at the fiber's entry, so kernel
//     destructors run, no fiber is leaked, and the next launch starts clean. An exception never
//     crosses a context switch.
//
// Racecheck (ThreadSanitizer build, KILN_EMU_TSAN; README.md "Racecheck"): every thread of a block
// is a fiber from the start, on its own stack, and a TSan fiber of its own that no other GPU thread
// of the launch has used, managed by the host (the worker, which runs no kernel code). Switches
// carry no synchronisation; the happens-before edges are the GPU's: launch (launch_sync_),
// __syncthreads and __syncwarp (release on arrival, acquire on leaving, one sync object per
// rendezvous), fences with atomics, and kernel end (g_grid_end). The emulator's own work inside a
// fiber is a TSan ignore region.
#include <fmt/format.h>
#include <assert.h>
#include <pthread.h>

#include <boost/context/detail/fcontext.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/emu/access_count.h"
#include "kernels/emu/emu_api.h"
#include "kernels/emu/internal.h"
#include "kernels/emu/sanitizer.h"
#include "kernels/emu/stack_pool.h"

// glibc's (declared by <assert.h> only without NDEBUG).
extern "C" void __assert_fail(const char* assertion, const char* file, unsigned int line,
                              const char* function) noexcept __attribute__((__noreturn__));

namespace kiln::emu {

namespace detail {
__thread Thread* tl_thread = nullptr;
__thread Block* tl_block = nullptr;
}  // namespace detail

namespace {

namespace bctx = boost::context::detail;
using detail::BarrierOp;
using detail::tl_block;
using detail::tl_thread;
using detail::WarpCat;
using internal::dim_str;
using internal::ensure_signal_stack;
using internal::kernel_str;
using internal::kMaxThreads;

enum ThreadState : uint8_t { kFresh = 0, kRunnable, kRunning, kWaiting, kExited };
enum WaitKind : uint8_t { kNone = 0, kBarrier, kWarp };

// On by default: reading a lane outside the mask is undefined on a GPU. KILN_EMU_STRICT=0 turns it
// off.
std::atomic<bool> g_strict{[] {
  const char* e = std::getenv("KILN_EMU_STRICT");
  return !(e && std::strcmp(e, "0") == 0);
}()};

// KILN_EMU_ORDER (see emu_api.h), read once; set_order changes it.
std::atomic<uint64_t> g_order_seed{0};
std::atomic<uint8_t> g_order_kind{0};
[[maybe_unused]] const bool g_order_read = [] {
  if (const char* e = std::getenv("KILN_EMU_ORDER"); e && *e) {
    try {
      set_order(parse_order(e));
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "kiln emulator: ignoring KILN_EMU_ORDER: %s\n", ex.what());
    }
  }
  return true;
}();

// splitmix64: the random order's generator.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct Unwind {};       // unwinds an aborted fiber; caught at its entry
// A fault raised by the emulator inside kernel code (failed assert, __trap, bad warp mask): its
// text carries the kernel's source location, not the emulator's.
struct KernelFault : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A launch the GPU would refuse, found at the first thread's entry (before it did anything).
struct LaunchRefused : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct BlockFailed {};  // unwinds the host thread after the block's error was recorded

bool same_site(const std::source_location& a, const std::source_location& b) {
  return a.line() == b.line() && a.column() == b.column() &&
         (a.file_name() == b.file_name() || std::strcmp(a.file_name(), b.file_name()) == 0);
}

const char* warp_cat_name(uint8_t cat) {
  switch (static_cast<WarpCat>(cat)) {
    case WarpCat::Sync: return "__syncwarp";
    case WarpCat::Shuffle: return "a warp shuffle";
    case WarpCat::Vote: return "a warp vote";
    case WarpCat::Match: return "__match_any_sync";
    case WarpCat::Reduce: return "__reduce_add_sync";
  }
  return "a warp operation";
}

std::string ranges(uint32_t mask) {  // "0-15,20"
  std::string s;
  for (int i = 0; i < 32;) {
    if (!((mask >> i) & 1)) { ++i; continue; }
    int j = i;
    while (j + 1 < 32 && ((mask >> (j + 1)) & 1)) ++j;
    if (!s.empty()) s += ',';
    s += i == j ? std::to_string(i) : fmt::format("{}-{}", i, j);
    i = j + 1;
  }
  return s;
}

// Racecheck build: the TSan sync objects of one block's rendezvous (a __syncthreads, a
// __syncwarp): addresses in memory allocated per block, one per rendezvous, each held until its
// last thread has left it. So a thread that leaves late never acquires what others released at a
// later rendezvous, and freeing the memory at block end ends the objects (TSan frees the sync
// objects of freed memory): nothing orders one block after another.
class SyncSlots {
 public:
  static constexpr uint32_t kNone = ~0u;
  void begin(uint32_t threads) {
    end();
    // At most one open rendezvous or pending leaver per thread, and one open barrier.
    const uint32_t n = threads + 2;
    mem_ = static_cast<char*>(std::malloc(n));
    if (!mem_) throw std::bad_alloc();
    pending_.assign(n, 0);
    free_.resize(n);
    for (uint32_t i = 0; i < n; ++i) free_[i] = n - 1 - i;
  }
  void end() {
    std::free(mem_);
    mem_ = nullptr;
  }
  ~SyncSlots() { end(); }
  void* obj(uint32_t s) const { return mem_ + s; }
  // A slot for a new rendezvous; held by it (one pending use) until close().
  uint32_t open() {
    if (free_.empty()) throw std::logic_error("kiln emulator: out of racecheck sync slots");
    const uint32_t s = free_.back();
    free_.pop_back();
    pending_[s] = 1;
    return s;
  }
  void join(uint32_t s) { ++pending_[s]; }  // a thread will leave through it
  void leave(uint32_t s) {                   // a thread left (or the rendezvous closed)
    if (--pending_[s] == 0) free_.push_back(s);
  }
  void close(uint32_t s) { leave(s); }

 private:
  char* mem_ = nullptr;
  std::vector<uint32_t> pending_;
  std::vector<uint32_t> free_;
};

// Runs blocks on one OS thread. One per worker (thread_local), reused for every block.
class Runner {
 public:
  Runner() : th_(kMaxThreads) {
    ensure_signal_stack();
    (void)device_config();  // its static initialisation never happens inside a GPU thread
  }
  ~Runner() {
    // TSan: the GPU threads' reads of th_ and block_ are ordered before nothing on this thread.
    const san::Ignore ignore;
    std::free(dyn_);
    free_shared();
    for (void* f : retired_) san::destroy_fiber(f);
    for (void* f : spare_) san::destroy_fiber(f);
    std::vector<Thread>().swap(th_);  // freed here, inside the ignore region
  }

  void run(const LaunchSpec& spec, uint32_t b, uint64_t order_seed);
  void* shared(const void* key, size_t bytes, size_t align);

  int barrier(BarrierOp op, int pred, const std::source_location& where);
  uint64_t warp(WarpCat cat, unsigned mask, uint64_t value, unsigned src,
                const std::source_location& where);
  unsigned active_mask() const;

  // Fiber switch benchmark support.
  StackPool& stacks() { return stacks_; }

 private:
  void begin_block(const LaunchSpec& spec, uint32_t b, uint64_t order_seed);
  void run_threads();
  uint64_t wait(Thread& me);
  void enter_fibers(Thread& me);
  void schedule();
  void switch_to(Thread* from, Thread* to);
  void arrived_from(bctx::transfer_t t);
  Thread* next_after(const Thread& me);
  void learn_host_stack();
  void thread_exit(Thread& me);
  void run_all_fibers();
  void init_fiber(uint32_t p);
  void end_tsan_block();
  Thread* next_from(uint32_t p);
  bool opted_in() const;
  void complete_barrier();
  void complete_warp(uint32_t w, uint32_t mask);
  void abort_fibers();
  void fail(std::string message);
  [[noreturn]] void fail_now(std::string message);
  std::string thread_str(const Thread& t) const;
  std::string describe_threads() const;
  std::string block_str() const;
  // The linear id of the thread at position p, and the position of linear id i.
  uint32_t at(uint32_t p) const { return ascending_ ? p : order_[p]; }
  uint32_t pos_of(uint32_t i) const { return ascending_ ? i : th_[i].pos; }
  static void fiber_entry(bctx::transfer_t t);

  std::vector<Thread> th_;
  // The order threads run in: order_[p] is the linear id of the thread at position p (Thread::pos
  // is the inverse). Plain mode runs positions 0..n-1; fibers are scheduled in position order.
  std::vector<uint32_t> order_;
  bool ascending_ = true;
  Block block_;
  const LaunchSpec* spec_ = nullptr;
  uint32_t n_ = 0;     // threads in the block
  uint32_t live_ = 0;  // threads not exited
  uint32_t cur_ = 0;   // plain mode: the position of the thread being run
  bool fibers_ = false;
  bool aborting_ = false;
  uint32_t host_ = 0;  // linear id of the thread hosting the fibers
  Thread* host_t_ = nullptr;  // th_[host_], or host_stub_ when no emulated thread hosts (TSan)
  Thread host_stub_;
  uint32_t sched_lo_ = 0;  // threads at positions below have exited when the fibers start
  uint32_t fiber_lo_ = 0;  // the position of the first fiber
  bctx::fcontext_t host_ctx_ = nullptr;
  void* host_fiber_ = nullptr;  // TSan: the worker's own TSan context
  bool opted_in_ = false;       // TSan: max_dynamic_shared() != the default, learned by the host
  // TSan: the sync objects of the block's rendezvous; the open __syncthreads one; the open
  // __syncwarp one per (warp, lowest lane of its mask).
  SyncSlots sync_;
  // TSan: the fibers of earlier blocks of this launch, oldest first; those of earlier launches;
  // the launch they belong to; the worker's clock for the GPU threads (the launch edge).
  std::deque<void*> retired_;
  std::vector<void*> spare_;
  uint64_t launch_ = 0;
  char launch_sync_ = 0;
  uint32_t bar_slot_ = SyncSlots::kNone;
  uint32_t warp_slot_[kMaxThreads] = {};
  // __syncthreads
  uint32_t bar_waiting_ = 0;
  std::source_location bar_site_;
  BarrierOp bar_op_ = BarrierOp::Plain;
  bool bar_mismatch_ = false;
  int bar_acc_ = 0;
  // warp rendezvous: lanes arrived per warp
  uint32_t arrived_[kMaxThreads / 32] = {};
  // the block's error
  bool failed_ = false;
  std::string error_;
  StackPool stacks_;
  void* dyn_ = nullptr;
  size_t dyn_size_ = 0;
  // The block's static __shared__ variables: declaration key -> memory.
  std::vector<std::pair<const void*, void*>> shared_;
  size_t static_bytes_ = 0;
  void free_shared();
  // sanitizer bookkeeping: the host (worker) stack
  const void* host_stack_bottom_ = nullptr;
  size_t host_stack_size_ = 0;
};

// The worker's runner: owned by a thread_local (destroyed with the thread), read through a plain
// __thread pointer (no TLS wrapper call on the hot path).
thread_local std::unique_ptr<Runner> t_runner_owner;
__thread Runner* t_runner = nullptr;
Runner& runner() {
  if (!t_runner) [[unlikely]] {
    t_runner_owner = std::make_unique<Runner>();
    t_runner = t_runner_owner.get();
  }
  return *t_runner;
}

std::string Runner::block_str() const {
  return dim_str(block_.idx.x, block_.idx.y, block_.idx.z);
}

std::string Runner::thread_str(const Thread& t) const {
  return dim_str(t.idx.x, t.idx.y, t.idx.z);
}

void Runner::fail(std::string message) {
  if (!failed_) {
    failed_ = true;
    error_ = std::move(message);
  }
}

void Runner::fail_now(std::string message) {
  fail(std::move(message));
  if (fibers_) abort_fibers();
  throw BlockFailed{};
}

std::string refused_str(const LaunchSpec& spec, const LaunchRefused& e) {
  const dim3 g = spec.grid, d = spec.block;
  return fmt::format("cannot launch kernel {} with grid {} block {} and {} bytes of dynamic "
                     "shared memory: {}",
                     kernel_str(spec), dim_str(g.x, g.y, g.z), dim_str(d.x, d.y, d.z),
                     spec.shared_bytes, e.what());
}

void Runner::run(const LaunchSpec& spec, uint32_t b, uint64_t order_seed) {
  const san::Ignore ignore;  // TSan: the host runs no kernel code, only bookkeeping
  begin_block(spec, b, order_seed);
  if constexpr (access::kBuilt) access::detail::block_begin(spec, block_.dynamic_shared, spec.shared_bytes);
  try {
    run_threads();
  } catch (const BlockFailed&) {
  } catch (const LaunchRefused& e) {
    fail(refused_str(spec, e));
  } catch (const std::exception& e) {
    fail(fmt::format("kernel {} block {} thread {}: {}", kernel_str(spec), block_str(),
                     thread_str(*tl_thread), e.what()));
  } catch (...) {
    fail(fmt::format("kernel {} block {} thread {}: unknown exception", kernel_str(spec),
                     block_str(), thread_str(*tl_thread)));
  }
  if (failed_ && fibers_) abort_fibers();
  if constexpr (san::tsan) end_tsan_block();
  if constexpr (access::kBuilt) access::detail::block_end();
  free_shared();
  fibers_ = false;
  tl_thread = nullptr;
  tl_block = nullptr;
  if (failed_) throw Error(error_, spec.site);
}

// Block `b` of the launch becomes this worker's block: its index, fresh dynamic shared memory, no
// thread waiting anywhere.
void Runner::begin_block(const LaunchSpec& spec, uint32_t b, uint64_t order_seed) {
  spec_ = &spec;
  const dim3 g = spec.grid, d = spec.block;
  block_.idx = uint3{b % g.x, (b / g.x) % g.y, b / (g.x * g.y)};
  block_.dim = d;
  block_.grid = g;
  if (spec.shared_bytes) {
    // Exact size (so ASan catches overruns), NaN pattern (so reading before writing shows up).
    // TSan: fresh memory for every block (malloc in the ignore region: no history).
    if (dyn_size_ != spec.shared_bytes || san::tsan) {
      std::free(dyn_);
      dyn_ = std::malloc(spec.shared_bytes);
      if (!dyn_) throw std::bad_alloc();
      dyn_size_ = spec.shared_bytes;
    }
    std::memset(dyn_, 0xff, spec.shared_bytes);
    block_.dynamic_shared = dyn_;
  } else {
    block_.dynamic_shared = nullptr;
  }
  block_.dynamic_shared_bytes = spec.shared_bytes;
  n_ = d.x * d.y * d.z;
  live_ = n_;
  const auto kind = static_cast<Order>(g_order_kind.load(std::memory_order_relaxed));
  ascending_ = kind == Order::Ascending;
  if (!ascending_) {
    order_.resize(n_);
    for (uint32_t p = 0; p < n_; ++p) order_[p] = kind == Order::Descending ? n_ - 1 - p : p;
    if (kind == Order::Random) {  // Fisher-Yates, seeded by the launch and the block
      uint64_t state = mix(order_seed ^ mix(b));
      for (uint32_t p = n_ - 1; p > 0; --p) {
        state = mix(state);
        std::swap(order_[p], order_[static_cast<uint32_t>(state % (p + 1))]);
      }
    }
    for (uint32_t p = 0; p < n_; ++p) th_[order_[p]].pos = p;
  }
  fibers_ = false;
  failed_ = false;
  bar_waiting_ = 0;
  std::memset(arrived_, 0, sizeof(uint32_t) * ((n_ + 31) / 32));
  tl_block = &block_;
  if constexpr (san::tsan) {
    // Learned here, by the host: max_dynamic_shared() takes a mutex, a synchronisation that
    // must not happen inside a GPU thread.
    opted_in_ = max_dynamic_shared(spec.kernel) != device_config().shared_per_block;
    host_fiber_ = san::current_fiber();
    if (spec.launch != launch_) {  // the fibers of earlier launches may be continued
      launch_ = spec.launch;
      spare_.insert(spare_.end(), retired_.begin(), retired_.end());
      retired_.clear();
    }
    // The launch edge: the worker took this launch from the launching thread (worker_pool.cpp), and
    // it never acquires a GPU thread's clock of a running launch: every GPU thread acquires it.
    san::release(&launch_sync_);
    sync_.begin(n_);
    bar_slot_ = SyncSlots::kNone;
    std::fill(warp_slot_, warp_slot_ + (n_ + 31) / 32 * 32, SyncSlots::kNone);
  }
}

// Runs every thread of the block to its end: one after another as plain calls until one of them
// synchronises, then (that one hosting) the rest as fibers. Throws BlockFailed, or what a thread
// threw.
void Runner::run_threads() {
  if constexpr (san::tsan) {
    run_all_fibers();
    return;
  }
  // The plain loop: each thread runs to completion. Kept minimal (no per-thread state but the
  // index): in plain mode threads before cur_ have exited and live_ is n_ - cur_, which the
  // synchronisation calls work out when they need it.
  const dim3 d = block_.dim;
  uint32_t x = 0, y = 0, z = 0;
  void (*const thunk)(void*) = spec_->thunk;
  void* const closure = spec_->closure;
  if (!ascending_) {
    for (uint32_t p = 0; p < n_; ++p) {
      const uint32_t t = order_[p];
      Thread* me = &th_[t];
      me->idx = uint3{t % d.x, (t / d.x) % d.y, t / (d.x * d.y)};
      me->linear = t;
      cur_ = p;
      tl_thread = me;
      thunk(closure);
      if (fibers_) [[unlikely]] break;  // `me` hosts the fibers of positions p+1..n-1
    }
  } else {
    Thread* me = th_.data();
    for (uint32_t t = 0; t < n_; ++t, ++me) {
      me->idx = uint3{x, y, z};
      me->linear = t;
      me->pos = t;
      cur_ = t;
      tl_thread = me;
      thunk(closure);
      if (fibers_) [[unlikely]] break;  // `me` became the host of the fibers of threads t+1..n-1
      if (++x == d.x) {
        x = 0;
        if (++y == d.y) {
          y = 0;
          ++z;
        }
      }
    }
  }
  if (fibers_) {
    thread_exit(th_[host_]);
    schedule();  // runs the fibers to completion
  } else {
    live_ = 0;
  }
}

void* Runner::shared(const void* key, size_t bytes, size_t align) {
  for (const auto& [k, p] : shared_)
    if (k == key) return p;
  // The GPU's limits, now that this block's static shared memory is known (ptxas refuses more
  // than 48 KiB of static shared memory; a launch refuses static + dynamic beyond 48 KiB, or
  // beyond the opt-in maximum when cudaFuncSetAttribute raised the dynamic limit).
  if (shared_.empty()) static_bytes_ = 0;
  static_bytes_ += bytes;
  const DeviceConfig& dev = device_config();
  const size_t dyn = spec_->shared_bytes;
  const bool opted_in = this->opted_in();
  const size_t limit = opted_in ? dev.shared_optin : dev.shared_per_block;
  if (static_bytes_ > dev.shared_per_block || static_bytes_ + dyn > limit) {
    throw LaunchRefused(fmt::format(
        "{} bytes of static shared memory{} exceed {} KiB ({}; cudaErrorInvalidValue)",
        static_bytes_, dyn ? fmt::format(" and {} bytes of dynamic shared memory", dyn) : "",
        (static_bytes_ > dev.shared_per_block ? dev.shared_per_block : limit) / 1024,
        static_bytes_ > dev.shared_per_block
            ? "a kernel's static shared memory is limited to 48 KiB"
            : opted_in ? "sharedMemPerBlockOptin"
                       : "the limit without cudaFuncSetAttribute(kernel, "
                         "cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)"));
  }
  // Exact size (so ASan catches overruns), NaN pattern (so reading before writing shows up).
  void* p = align > alignof(std::max_align_t)
                ? std::aligned_alloc(align, (bytes + align - 1) / align * align)
                : std::malloc(bytes ? bytes : 1);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0xff, bytes);  // TSan: inside the ignore region, no GPU thread's write
  shared_.emplace_back(key, p);
  if constexpr (access::kBuilt) access::detail::shared_allocated(p, bytes);
  return p;
}

bool Runner::opted_in() const {
  if constexpr (san::tsan) return opted_in_;
  return max_dynamic_shared(spec_->kernel) != device_config().shared_per_block;
}

void Runner::free_shared() {
  for (const auto& [k, p] : shared_) std::free(p);
  shared_.clear();
}

void Runner::learn_host_stack() {
  if (!san::enabled || host_stack_bottom_) return;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* addr = nullptr;
    size_t size = 0;
    pthread_attr_getstack(&attr, &addr, &size);
    host_stack_bottom_ = addr;
    host_stack_size_ = size;
    pthread_attr_destroy(&attr);
  }
}

void Runner::enter_fibers(Thread& me) {
  learn_host_stack();
  fibers_ = true;
  host_ = me.linear;
  host_t_ = &me;
  sched_lo_ = me.pos;
  fiber_lo_ = me.pos + 1;
  for (uint32_t p = 0; p < me.pos; ++p) th_[at(p)].state = kExited;
  for (uint32_t p = me.pos + 1; p < n_; ++p) init_fiber(p);
}

// The thread at position p becomes a fiber that has not started.
void Runner::init_fiber(uint32_t p) {
  const dim3 d = block_.dim;
  const uint32_t i = at(p);
  Thread& f = th_[i];
  f.linear = i;
  f.pos = p;
  f.idx = uint3{i % d.x, (i / d.x) % d.y, i / (d.x * d.y)};
  f.state = kFresh;
  f.wait_kind = kNone;
  f.aborted = false;
  f.started = false;
  f.fiber = nullptr;
}

// Racecheck build: every thread is a fiber from the start (each on its own stack, so that no two
// GPU threads share stack slots), scheduled by the host, which is no GPU thread. Each gets a TSan
// fiber no other GPU thread of this launch has used (see end_tsan_block).
void Runner::run_all_fibers() {
  fibers_ = true;
  host_stub_ = Thread{};
  host_stub_.state = kExited;
  host_t_ = &host_stub_;
  sched_lo_ = 0;
  fiber_lo_ = 0;
  const uint3 b = block_.idx;
  for (uint32_t p = 0; p < n_; ++p) {
    init_fiber(p);
    Thread& f = th_[at(p)];
    f.fenced = false;
    f.n_atomics = 0;
    const std::string name = fmt::format("GPU thread ({},{},{}) of block ({},{},{})", f.idx.x,
                                         f.idx.y, f.idx.z, b.x, b.y, b.z);
    if (spare_.empty()) {
      f.tsan_fiber = san::create_fiber(name.c_str());
    } else {
      f.tsan_fiber = spare_.back();
      spare_.pop_back();
      san::name_fiber(f.tsan_fiber, name.c_str());
    }
  }
  schedule();
}

// Racecheck build, on the host after the block: its sync objects go, and its fibers (all exited)
// retire. A GPU thread of this launch must not continue a retired fiber (TSan would take the two
// threads for one, in program order), but one of a later launch may: everything the fiber did is
// ordered before that launch anyway (kernel end, then launch). Fibers are costly to create (TSan
// zeroes most of a MiB for each), and a retired one also keeps the stacks of its accesses
// printable (TSan shows them only while the fiber exists). TSan keeps at most 8128 threads alive,
// fibers included: the workers share that, so beyond kKept the oldest retired fibers go.
void Runner::end_tsan_block() {
  for (uint32_t i = 0; i < n_; ++i) {
    if (th_[i].tsan_fiber) retired_.push_back(th_[i].tsan_fiber);
    th_[i].tsan_fiber = nullptr;
  }
  static const size_t kKept = std::clamp<int>(6144 / worker_count() - 1024, 0, 2048);
  while (retired_.size() + spare_.size() > kKept) {
    if (!retired_.empty()) {
      san::destroy_fiber(retired_.front());
      retired_.pop_front();
    } else {
      san::destroy_fiber(spare_.back());
      spare_.pop_back();
    }
  }
  sync_.end();
}

// Arrival is done; returns the thread's result once it may continue.
uint64_t Runner::wait(Thread& me) {
  if (me.state == kRunnable) {  // completed by its own arrival
    me.state = kRunning;
    return me.result;
  }
  if (!fibers_) enter_fibers(me);
  if (&me == host_t_) {
    schedule();
  } else {
    switch_to(&me, next_after(me));
    if (me.aborted) throw Unwind{};
  }
  me.state = kRunning;
  return me.result;
}

// Scheduling is a round-robin pass in thread order: a fiber that blocks or exits switches directly
// to the next runnable fiber after it (one context switch per thread per barrier); the last one of
// the pass switches back to the host, which starts the next pass or continues its own code.

// On the host's stack: runs passes until the host may continue (or, once it has exited, until
// every thread has). Throws BlockFailed when the block failed or deadlocked.
void Runner::schedule() {
  Thread& host = *host_t_;
  for (;;) {
    if (failed_) fail_now({});
    Thread* first = next_from(fiber_lo_);
    if (first) {
      switch_to(nullptr, first);
      if (failed_) fail_now({});
    }
    if (host.state == kRunnable) return;
    if (host.state == kExited && live_ == 0) return;
    if (!first) {
      fail_now(fmt::format("deadlock in kernel {} block {}: {}", kernel_str(*spec_), block_str(),
                           describe_threads()));
    }
  }
}

// The next fiber of this pass, or nullptr for the host.
Thread* Runner::next_after(const Thread& me) { return next_from(me.pos + 1); }

// The first runnable fiber at position p or later.
Thread* Runner::next_from(uint32_t p) {
  if (aborting_ || failed_) return nullptr;
  for (; p < n_; ++p) {
    Thread& t = th_[at(p)];
    if (t.state == kRunnable || t.state == kFresh) return &t;
  }
  return nullptr;
}

// Leaves the running context (`from`, nullptr for the host) for `to` (nullptr for the host).
// Returns when some context switches back to `from`; never returns if `from` has exited.
void Runner::switch_to(Thread* from, Thread* to) {
  bctx::fcontext_t target;
  const void* bottom;
  size_t size;
  if (to) {
    tl_thread = to;
    to->state = kRunning;
    if (!to->started) {
      to->started = true;
      to->stack = stacks_.get();
      to->fiber = bctx::make_fcontext(static_cast<char*>(to->stack) + stacks_.size(),
                                      stacks_.size(), &Runner::fiber_entry);
    }
    target = to->fiber;
    bottom = to->stack;
    size = stacks_.size();
  } else {
    tl_thread = host_t_;
    target = host_ctx_;
    bottom = host_stack_bottom_;
    size = host_stack_size_;
  }
  void* fake = nullptr;
  const bool dying = from && from->state == kExited;
  san::start_switch(dying ? nullptr : &fake, bottom, size);
  if constexpr (san::tsan) {
    // A TSan fiber must end its ignore region before it is destroyed (by the host, later); after
    // that it touches no memory of the emulator's.
    void* const next = to ? to->tsan_fiber : host_fiber_;
    if (dying) san::ignore_end();
    san::switch_fiber(next);
  }
  const bctx::transfer_t t = bctx::jump_fcontext(target, from);
  san::finish_switch(fake, nullptr, nullptr);
  arrived_from(t);
}

// Just switched in: save the context we came from (or recycle its stack if it exited).
void Runner::arrived_from(bctx::transfer_t t) {
  auto* src = static_cast<Thread*>(t.data);
  if (!src) {
    host_ctx_ = t.fctx;
  } else if (src->state == kExited) {
    stacks_.put(src->stack);
    src->stack = nullptr;
    src->fiber = nullptr;
  } else {
    src->fiber = t.fctx;
  }
}

void Runner::fiber_entry(bctx::transfer_t t) {
  Runner& r = runner();
  san::ignore_begin();  // TSan: a fiber is in the emulator's code except while it runs the kernel
  san::finish_switch(nullptr, nullptr, nullptr);
  r.arrived_from(t);
  san::acquire(&r.launch_sync_);
  Thread& me = *tl_thread;
  try {
    san::ignore_end();
    struct Reenter {  // also when the kernel throws
      ~Reenter() { san::ignore_begin(); }
    } reenter;
    r.spec_->thunk(r.spec_->closure);
  } catch (const Unwind&) {
  } catch (const LaunchRefused& e) {
    r.fail(refused_str(*r.spec_, e));
  } catch (const std::exception& e) {
    r.fail(fmt::format("kernel {} block {} thread {}: {}", kernel_str(*r.spec_), r.block_str(),
                       r.thread_str(me), e.what()));
  } catch (...) {
    r.fail(fmt::format("kernel {} block {} thread {}: unknown exception", kernel_str(*r.spec_),
                       r.block_str(), r.thread_str(me)));
  }
  r.thread_exit(me);
  r.switch_to(&me, r.next_after(me));  // the receiver recycles this stack
  __builtin_unreachable();
}

void Runner::thread_exit(Thread& me) {
  if constexpr (san::tsan) {
    // An exited thread counts as arrived at every later __syncthreads: what it wrote is ordered
    // before what the others do after the next one. And before the host, after the grid.
    if (bar_slot_ == SyncSlots::kNone) bar_slot_ = sync_.open();
    san::release(sync_.obj(bar_slot_));
    san::release(&internal::g_grid_end);
  }
  me.state = kExited;
  --live_;
  if (!aborting_ && bar_waiting_ > 0 && bar_waiting_ == live_) complete_barrier();
}

void Runner::abort_fibers() {
  aborting_ = true;
  for (uint32_t p = fiber_lo_; p < n_; ++p) {
    Thread& f = th_[at(p)];
    if (f.state == kExited) continue;
    if (f.started) {
      f.aborted = true;
      switch_to(nullptr, &f);  // its pending synchronisation throws Unwind
    } else {
      f.state = kExited;
    }
  }
  aborting_ = false;
  fibers_ = false;
  bar_waiting_ = 0;
}

int Runner::barrier(BarrierOp op, int pred, const std::source_location& where) {
  Thread& me = *tl_thread;
  if (!fibers_) live_ = n_ - cur_;
  if (bar_waiting_ == 0) {
    bar_site_ = where;
    bar_op_ = op;
    bar_mismatch_ = false;
    bar_acc_ = op == BarrierOp::And ? 1 : 0;
  } else if (op != bar_op_ || !same_site(where, bar_site_)) {
    bar_mismatch_ = true;
  }
  switch (op) {
    case BarrierOp::Plain: break;
    case BarrierOp::Count: bar_acc_ += pred != 0; break;
    case BarrierOp::And: bar_acc_ &= pred != 0; break;
    case BarrierOp::Or: bar_acc_ |= pred != 0; break;
  }
  me.state = kWaiting;
  me.wait_kind = kBarrier;
  me.where = where;
  uint32_t slot = SyncSlots::kNone;
  if constexpr (san::tsan) {  // arrival releases, leaving acquires
    if (bar_slot_ == SyncSlots::kNone) bar_slot_ = sync_.open();
    slot = bar_slot_;
    sync_.join(slot);
    san::release(sync_.obj(slot));
  }
  ++bar_waiting_;
  if (bar_waiting_ == live_) complete_barrier();
  const int result = static_cast<int>(wait(me));
  if constexpr (san::tsan) {
    san::acquire(sync_.obj(slot));
    sync_.leave(slot);
  }
  return result;
}

void Runner::complete_barrier() {
  if (bar_mismatch_) {
    fail(fmt::format("deadlock in kernel {} block {}: {} (all threads of a block must reach the "
                     "same __syncthreads; exited threads count as arrived)",
                     kernel_str(*spec_), block_str(), describe_threads()));
    return;
  }
  if constexpr (san::tsan) {  // the next __syncthreads is a new rendezvous
    sync_.close(bar_slot_);
    bar_slot_ = SyncSlots::kNone;
  }
  const uint32_t lo = fibers_ ? sched_lo_ : cur_;
  const uint32_t hi = fibers_ ? n_ : cur_ + 1;
  for (uint32_t p = lo; p < hi; ++p) {
    Thread& t = th_[at(p)];
    if (t.state == kWaiting && t.wait_kind == kBarrier) {
      t.state = kRunnable;
      t.wait_kind = kNone;
      t.result = static_cast<uint64_t>(bar_acc_);
    }
  }
  bar_waiting_ = 0;
}

uint64_t Runner::warp(WarpCat cat, unsigned mask, uint64_t value, unsigned src,
                      const std::source_location& where) {
  Thread& me = *tl_thread;
  const uint32_t lane = me.linear & 31u;
  if (!((mask >> lane) & 1u)) {
    throw KernelFault(fmt::format("{} at {} by lane {} with mask {:#010x}, which does not name "
                                  "the calling lane",
                            warp_cat_name(static_cast<uint8_t>(cat)), short_location(where), lane,
                            mask));
  }
  if (!fibers_) live_ = n_ - cur_;
  me.warp_cat = static_cast<uint8_t>(cat);
  me.warp_mask = mask;
  me.warp_value = value;
  me.warp_src = src;
  me.wait_kind = kWarp;
  me.where = where;
  me.state = kWaiting;
  const uint32_t w = me.linear >> 5;
  // TSan: __syncwarp orders memory among the lanes of its mask; shuffles, votes, match and reduce
  // do not (CUDA Programming Guide), so they are no happens-before edge.
  uint32_t slot = SyncSlots::kNone;
  if constexpr (san::tsan) {
    if (cat == WarpCat::Sync) {
      uint32_t& open = warp_slot_[w * 32 + __builtin_ctz(mask)];
      if (open == SyncSlots::kNone) open = sync_.open();
      slot = open;
      sync_.join(slot);
      san::release(sync_.obj(slot));
    }
  }
  arrived_[w] |= 1u << lane;
  if ((arrived_[w] & mask) == mask) complete_warp(w, mask);
  if (failed_ && me.state == kWaiting && !fibers_) throw BlockFailed{};
  const uint64_t result = wait(me);
  if (slot != SyncSlots::kNone) {
    san::acquire(sync_.obj(slot));
    sync_.leave(slot);
  }
  return result;
}

void Runner::complete_warp(uint32_t w, uint32_t mask) {
  Thread* lanes = &th_[w * 32];
  const uint8_t cat = lanes[__builtin_ctz(mask)].warp_cat;
  for (uint32_t m = mask; m; m &= m - 1) {
    const Thread& t = lanes[__builtin_ctz(m)];
    if (t.warp_cat != cat || t.warp_mask != mask) {
      fail(fmt::format("deadlock in kernel {} block {}: lanes of warp {} meet at different warp "
                       "operations or with different masks: {}",
                       kernel_str(*spec_), block_str(), w, describe_threads()));
      return;
    }
  }
  uint64_t ballot = 0, sum = 0;
  if (cat == static_cast<uint8_t>(WarpCat::Vote) || cat == static_cast<uint8_t>(WarpCat::Reduce)) {
    for (uint32_t m = mask; m; m &= m - 1) {
      const uint32_t l = __builtin_ctz(m);
      ballot |= static_cast<uint64_t>(lanes[l].warp_value != 0) << l;
      sum += lanes[l].warp_value;
    }
  }
  for (uint32_t m = mask; m; m &= m - 1) {
    const uint32_t l = __builtin_ctz(m);
    Thread& t = lanes[l];
    switch (static_cast<WarpCat>(cat)) {
      case WarpCat::Sync: t.result = 0; break;
      case WarpCat::Shuffle:
        if ((mask >> t.warp_src) & 1u) {
          t.result = lanes[t.warp_src].warp_value;
        } else {
          if (g_strict.load(std::memory_order_relaxed)) {
            fail(fmt::format("kernel {} block {} thread {}: lane {} shuffles from lane {}, which "
                             "is not in the mask {:#010x} ({}) (the value is undefined on a GPU; "
                             "KILN_EMU_STRICT=0 allows it)",
                             kernel_str(*spec_), block_str(), thread_str(t), l, t.warp_src, mask,
                             short_location(t.where)));
            return;
          }
          t.result = t.warp_value;
        }
        break;
      case WarpCat::Vote: t.result = ballot; break;
      case WarpCat::Match: {
        uint64_t same = 0;
        for (uint32_t k = mask; k; k &= k - 1) {
          const uint32_t o = __builtin_ctz(k);
          same |= static_cast<uint64_t>(lanes[o].warp_value == t.warp_value) << o;
        }
        t.result = same;
        break;
      }
      case WarpCat::Reduce: t.result = static_cast<uint32_t>(sum); break;
    }
  }
  for (uint32_t m = mask; m; m &= m - 1) {
    Thread& t = lanes[__builtin_ctz(m)];
    t.state = kRunnable;
    t.wait_kind = kNone;
  }
  arrived_[w] &= ~mask;
  if constexpr (san::tsan) {
    if (cat == static_cast<uint8_t>(WarpCat::Sync)) {
      uint32_t& open = warp_slot_[w * 32 + __builtin_ctz(mask)];
      sync_.close(open);
      open = SyncSlots::kNone;
    }
  }
}

unsigned Runner::active_mask() const {
  const Thread& me = *tl_thread;
  const uint32_t base = me.linear & ~31u;
  unsigned m = 0;
  for (uint32_t l = 0; l < 32 && base + l < n_; ++l) {
    const uint32_t i = base + l;
    // Threads after `cur_` have not started in plain mode: they are alive.
    const bool alive = fibers_ ? th_[i].state != kExited : pos_of(i) >= cur_;
    if (alive) m |= 1u << l;
  }
  return m;
}

// "threads 0-31 wait at __syncthreads (x.cu:42), threads 32-63 exited, ..."
std::string Runner::describe_threads() const {
  auto desc = [&](uint32_t i) -> std::string {
    const Thread& t = th_[i];
    const bool exited = fibers_ ? t.state == kExited : pos_of(i) < cur_;
    const bool fresh = !fibers_ && pos_of(i) > cur_;
    if (exited) return "exited";
    if (fresh) return "not started";
    if (t.state == kWaiting && t.wait_kind == kBarrier)
      return fmt::format("wait at __syncthreads ({})", short_location(t.where));
    if (t.state == kWaiting && t.wait_kind == kWarp) {
      // Name lanes of the mask that can never arrive.
      const uint32_t base = i & ~31u;
      uint32_t gone = 0;
      for (uint32_t l = 0; l < 32; ++l) {
        if (!((t.warp_mask >> l) & 1u)) continue;
        const uint32_t j = base + l;
        if (j >= n_ || (fibers_ ? th_[j].state == kExited : pos_of(j) < cur_)) gone |= 1u << l;
      }
      std::string s = fmt::format("wait at {} with mask {:#010x} ({})", warp_cat_name(t.warp_cat),
                                  t.warp_mask, short_location(t.where));
      if (gone) s += fmt::format(" naming lanes {} that exited or do not exist", ranges(gone));
      return s;
    }
    return "runnable";
  };
  std::string out;
  uint32_t i = 0;
  while (i < n_) {
    const std::string d = desc(i);
    uint32_t j = i;
    while (j + 1 < n_ && desc(j + 1) == d) ++j;
    if (!out.empty()) out += ", ";
    out += i == j ? fmt::format("thread {} {}", i, d) : fmt::format("threads {}-{} {}", i, j, d);
    i = j + 1;
  }
  if (block_.dim.y > 1 || block_.dim.z > 1)
    out += fmt::format(" (linear thread ids in a block of {})",
                       dim_str(block_.dim.x, block_.dim.y, block_.dim.z));
  return out;
}

}  // namespace

// ---- what kernel code calls ---------------------------------------------------------------------

namespace detail {

// Entered from kernel code: the emulator's accesses inside are no GPU thread's (TSan ignores them).
uint64_t warp_op(WarpCat cat, unsigned mask, uint64_t value, unsigned src,
                 const std::source_location& where) {
  const san::Ignore ignore;
  return runner().warp(cat, mask, value, src, where);
}

int block_barrier(BarrierOp op, int predicate, const std::source_location& where) {
  const san::Ignore ignore;
  return runner().barrier(op, predicate, where);
}

unsigned active_mask() {
  const san::Ignore ignore;
  return runner().active_mask();
}

#ifdef KILN_EMU_TSAN
// Racecheck build (emu.h): a fence followed by an atomic releases at the atomic's address, an
// atomic followed by a fence acquires there (the C++ fence rules; CUDA's atomics are relaxed).
void tsan_atomic(const void* address) {
  Thread* me = tl_thread;
  if (!me) return;  // host code
  const san::Ignore ignore;
  if (me->fenced) san::release(const_cast<void*>(address));
  // The last few atomics since the last fence; an older one is forgotten (at worst a report).
  const uint8_t n = me->n_atomics;
  for (uint8_t i = 0; i < n; ++i)
    if (me->atomics[i] == address) return;
  constexpr uint8_t kMax = sizeof(me->atomics) / sizeof(me->atomics[0]);
  if (n == kMax) {
    std::memmove(me->atomics, me->atomics + 1, (kMax - 1) * sizeof(me->atomics[0]));
    me->atomics[kMax - 1] = address;
  } else {
    me->atomics[me->n_atomics++] = address;
  }
}

void tsan_fence() {
  Thread* me = tl_thread;
  if (!me) return;
  const san::Ignore ignore;
  for (uint8_t i = 0; i < me->n_atomics; ++i) san::acquire(const_cast<void*>(me->atomics[i]));
  me->n_atomics = 0;
  me->fenced = true;
}
#endif  // KILN_EMU_TSAN

void assert_fail(const char* expr, const char* file, unsigned line, const char* func) {
  if (!tl_thread) ::__assert_fail(expr, file, line, func);
  throw KernelFault(fmt::format("assertion `{}` failed at {}:{} in {}", expr,
                                file, line, func));
}

void launch_bounds_exceeded(long long max_threads) {
  const dim3 d = tl_block->dim;
  throw LaunchRefused(fmt::format(
      "{} threads per block exceed the kernel's __launch_bounds__({}) "
      "(cudaErrorLaunchOutOfResources: too many resources requested for launch)",
      uint64_t{d.x} * d.y * d.z, max_threads));
}

void* shared_alloc(const void* key, size_t bytes, size_t align) {
  const san::Ignore ignore;
  return runner().shared(key, bytes, align);
}

void trap(const std::source_location& where) {
  throw KernelFault(fmt::format("__trap() called at {}", short_location(where)));
}

long long clock64() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace detail

void set_strict(bool on) { g_strict.store(on); }

OrderConfig order() {
  return {static_cast<Order>(g_order_kind.load()), g_order_seed.load()};
}
void set_order(OrderConfig o) {
  g_order_seed.store(o.seed);
  g_order_kind.store(static_cast<uint8_t>(o.order));
}
OrderConfig parse_order(const char* text) {
  const std::string s = text ? text : "";
  if (s == "ascending") return {Order::Ascending, 0};
  if (s == "descending") return {Order::Descending, 0};
  if (s == "random") return {Order::Random, 0};
  if (s.rfind("random:", 0) == 0 && s.size() > 7) {
    char* end = nullptr;
    const unsigned long long seed = std::strtoull(s.c_str() + 7, &end, 10);
    if (end && *end == 0) return {Order::Random, seed};
  }
  throw Error(fmt::format("KILN_EMU_ORDER={} is not ascending, descending, random or random:SEED",
                          s));
}
bool strict() { return g_strict.load(); }

namespace internal {

void run_block(const LaunchSpec& spec, uint32_t block, uint64_t order_seed) {
  runner().run(spec, block, order_seed);
}

StackPool& worker_stacks() { return runner().stacks(); }

}  // namespace internal
}  // namespace kiln::emu
