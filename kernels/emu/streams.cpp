// Streams and events of the emulated device (the cudaStream*/cudaEvent* part of the runtime API).
//
// Synchronous mode (the default): every launch, copy and memset runs when it is submitted, so
// streams are only tags and every event is complete once recorded.
//
// Deferred mode (KILN_EMU_STREAMS=deferred, or set_stream_mode): each stream is a queue of
// operations that run, in order, only when something needs them: a host wait (stream, event or
// device synchronisation, an event or stream query, a blocking copy, cudaFree) runs the queue up
// to what it waits for. An operation may first need other streams' work: cudaStreamWaitEvent
// queues a wait for the event's stream up to the event, and the legacy default stream's implicit
// synchronisation makes its work wait for every blocking stream's earlier work and a blocking
// stream's work wait for the legacy stream's (cudaStreamNonBlocking streams do neither). Nothing
// else orders two streams, so a missing wait runs the reader before the writer. All of it runs on
// the calling host thread under one lock. A failing operation (a kernel's exception, assert,
// deadlock) discards all queued work, as a fault ends a CUDA context, and its kiln::Error is
// thrown by the synchronising call that ran it, or by the next one if that call cannot report it
// (cudaFree, cudaStreamDestroy).
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kernels/emu/emu_api.h"
#include "kernels/emu/internal.h"

namespace kiln::emu {
namespace {

using Clock = std::chrono::steady_clock;

struct StreamState;
using StreamRef = std::shared_ptr<StreamState>;

// "Run `stream` up to its operation number `upto` first."
struct Dep {
  StreamRef stream;
  uint64_t upto;
};

struct Op {
  uint64_t seq = 0;
  std::vector<Dep> deps;
  std::function<void()> work;  // empty for waits and event marks without timing
};

struct StreamState : std::enable_shared_from_this<StreamState> {
  unsigned flags = 0;
  int priority = 0;
  bool legacy = false;
  uint64_t submitted = 0, completed = 0;  // operations numbered from 1
  std::deque<Op> queue;
  bool idle() const { return completed == submitted; }
  bool blocking() const { return !legacy && !(flags & cudaStreamNonBlocking); }
};

struct EventState {
  StreamRef stream;  // where last recorded, while deferred (null: complete once recorded)
  uint64_t seq = 0;
  std::shared_ptr<Clock::time_point> when;  // set when the marked work has run
  bool done() const { return !stream || stream->completed >= seq; }
};

std::recursive_mutex g_mutex;
std::exception_ptr g_failure;  // of deferred work, for the next synchronising call

// Created streams (not the legacy one), and the legacy default stream; never destroyed, so that
// static destructors may still synchronise.
std::vector<StreamRef>& streams() {
  static auto* v = new std::vector<StreamRef>();
  return *v;
}
const StreamRef& legacy() {
  static auto* s = new StreamRef([] {
    auto state = std::make_shared<StreamState>();
    state->legacy = true;
    return state;
  }());
  return *s;
}

StreamState& state_of(void* handle) {
  // cudaStreamLegacy is 0x1; cudaStreamPerThread (0x2) is treated as the legacy stream too.
  const auto bits = reinterpret_cast<uintptr_t>(handle);
  if (bits <= 2) return *legacy();
  return *static_cast<StreamState*>(handle);
}

EventState* event_of(cudaEvent_t event) { return reinterpret_cast<EventState*>(event); }

// The legacy default stream's implicit synchronisation with the blocking streams.
void add_implicit_deps(const StreamState& s, std::vector<Dep>& deps) {
  if (s.legacy) {
    for (const StreamRef& b : streams())
      if (b->blocking() && !b->idle()) deps.push_back({b, b->submitted});
  } else if (s.blocking() && !legacy()->idle()) {
    deps.push_back({legacy(), legacy()->submitted});
  }
}

// Queues `work` after `deps` on `s`; returns its operation number. Caller holds g_mutex.
uint64_t enqueue(StreamState& s, std::function<void()> work, std::vector<Dep> deps = {}) {
  add_implicit_deps(s, deps);
  Op op{++s.submitted, std::move(deps), std::move(work)};
  s.queue.push_back(std::move(op));
  return s.submitted;
}

// Runs `s` up to operation `upto`, and first whatever each operation waits for. Waits only name
// work queued before them, so this never comes back to an operation already being run.
void run_until(StreamState& s, uint64_t upto) {
  while (s.completed < upto) {
    Op op = std::move(s.queue.front());
    s.queue.pop_front();
    for (const Dep& d : op.deps) run_until(*d.stream, d.upto);
    if (op.work) op.work();
    s.completed = op.seq;
  }
}

void finish(StreamState& s) {
  run_until(s, s.submitted);
  if (!s.legacy) return;
  for (const StreamRef& b : streams())
    if (b->blocking()) run_until(*b, b->submitted);
}

void finish_all() {
  run_until(*legacy(), legacy()->submitted);
  for (const StreamRef& s : streams()) run_until(*s, s->submitted);
}

// After a failure nothing queued runs (a GPU context is lost after a fault).
void discard_all() {
  auto drop = [](StreamState& s) {
    s.queue.clear();
    s.completed = s.submitted;
  };
  drop(*legacy());
  for (const StreamRef& s : streams()) drop(*s);
}

// Runs `run` (which runs queued work) under the lock; a failure is rethrown when `report`, else
// kept for the next call that reports.
template <class F>
void host_wait(F&& run, bool report) {
  std::lock_guard lock(g_mutex);
  try {
    run();
  } catch (...) {
    discard_all();
    g_failure = std::current_exception();
  }
  if (report && g_failure) std::rethrow_exception(std::exchange(g_failure, nullptr));
}

bool deferred_from_env() {
  const char* e = std::getenv("KILN_EMU_STREAMS");
  if (!e || !*e || std::string_view(e) == "sync") return false;
  if (std::string_view(e) == "deferred") return true;
  std::fprintf(stderr, "kiln emulator: ignoring KILN_EMU_STREAMS=%s (want sync or deferred)\n", e);
  return false;
}

}  // namespace

namespace internal {

std::atomic<bool> g_deferred{deferred_from_env()};

void submit(void* stream, std::function<void()> work) {
  std::lock_guard lock(g_mutex);
  if (!deferring()) {
    work();
    return;
  }
  enqueue(state_of(stream), std::move(work));
}

void wait_for_legacy_stream() {
  if (deferring()) host_wait([] { finish(*legacy()); }, true);
}

void wait_for_stream(void* stream) {
  if (deferring()) host_wait([&] { finish(state_of(stream)); }, true);
}

void quiesce() {
  if (deferring()) host_wait(finish_all, false);
}

}  // namespace internal

StreamMode stream_mode() { return internal::deferring() ? StreamMode::Deferred : StreamMode::Synchronous; }

void set_stream_mode(StreamMode mode) {
  std::lock_guard lock(g_mutex);
  host_wait(finish_all, true);
  internal::g_deferred.store(mode == StreamMode::Deferred);
}

}  // namespace kiln::emu

using kiln::emu::EventState;
using kiln::emu::StreamState;
using kiln::emu::internal::deferring;

namespace {
cudaError_t fail(cudaError_t e) { return static_cast<cudaError_t>(kiln::emu::internal::set_last_error(e)); }
}  // namespace

extern "C" {

cudaError_t cudaStreamCreateWithPriority(cudaStream_t* pStream, unsigned int flags, int priority) {
  if (!pStream) return fail(cudaErrorInvalidValue);
  auto state = std::make_shared<StreamState>();
  state->flags = flags;
  state->priority = priority;
  std::lock_guard lock(kiln::emu::g_mutex);
  kiln::emu::streams().push_back(state);
  *pStream = reinterpret_cast<cudaStream_t>(state.get());
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* pStream, unsigned int flags) {
  return cudaStreamCreateWithPriority(pStream, flags, 0);
}
cudaError_t cudaStreamCreate(cudaStream_t* pStream) { return cudaStreamCreateWithPriority(pStream, 0, 0); }

// Queued work still runs (here, before the stream goes), as on a GPU.
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (reinterpret_cast<uintptr_t>(stream) <= 2) return fail(cudaErrorInvalidResourceHandle);
  std::lock_guard lock(kiln::emu::g_mutex);
  StreamState& s = kiln::emu::state_of(stream);
  kiln::emu::host_wait([&] { kiln::emu::finish(s); }, false);
  std::erase_if(kiln::emu::streams(), [&](const auto& p) { return p.get() == &s; });
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  kiln::emu::internal::wait_for_stream(stream);
  return cudaSuccess;
}
// The emulator has no background progress: a query runs the stream's work, then reports it done.
cudaError_t cudaStreamQuery(cudaStream_t stream) { return cudaStreamSynchronize(stream); }

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  if (!deferring()) return cudaSuccess;
  std::lock_guard lock(kiln::emu::g_mutex);
  const EventState* e = kiln::emu::event_of(event);
  if (!e->done()) kiln::emu::enqueue(kiln::emu::state_of(stream), {}, {{e->stream, e->seq}});
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  if (!event) return fail(cudaErrorInvalidValue);
  *event = reinterpret_cast<cudaEvent_t>(new EventState{});
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int) { return cudaEventCreate(event); }

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  EventState* e = kiln::emu::event_of(event);
  auto when = std::make_shared<kiln::emu::Clock::time_point>();
  e->when = when;
  if (!deferring()) {
    *when = kiln::emu::Clock::now();
    e->stream = nullptr;
    return cudaSuccess;
  }
  std::lock_guard lock(kiln::emu::g_mutex);
  StreamState& s = kiln::emu::state_of(stream);
  e->seq = kiln::emu::enqueue(s, [when] { *when = kiln::emu::Clock::now(); });
  e->stream = s.shared_from_this();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  if (!deferring()) return cudaSuccess;
  const EventState* e = kiln::emu::event_of(event);
  kiln::emu::host_wait([&] { if (e->stream) kiln::emu::run_until(*e->stream, e->seq); }, true);
  return cudaSuccess;
}
// As cudaStreamQuery: the query runs the marked work, then reports it done.
cudaError_t cudaEventQuery(cudaEvent_t event) { return cudaEventSynchronize(event); }

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return fail(cudaErrorInvalidValue);
  if (!start || !end) return fail(cudaErrorInvalidResourceHandle);
  std::lock_guard lock(kiln::emu::g_mutex);
  const EventState* a = kiln::emu::event_of(start);
  const EventState* b = kiln::emu::event_of(end);
  if (!a->when || !b->when) return fail(cudaErrorInvalidResourceHandle);
  if (!a->done() || !b->done()) return fail(cudaErrorNotReady);
  *ms = std::chrono::duration<float, std::milli>(*b->when - *a->when).count();
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  std::lock_guard lock(kiln::emu::g_mutex);
  delete kiln::emu::event_of(event);
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
  if (deferring()) kiln::emu::host_wait(kiln::emu::finish_all, true);
  return cudaSuccess;
}

}  // extern "C"
