#include "tools/dist/mpi_communicator.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <thread>

#include "core/error.h"
#include "tools/dist/launch.h"

namespace kiln::dist {
namespace {

// MPI counts are int; a larger buffer (a big model's gradients) goes in pieces of this many elements.
constexpr int64_t kMaxCount = INT_MAX;

// From this size a blocking all-reduce or broadcast first waits for every rank in a timed
// MPI_Ibarrier, then runs MPI's blocking call: Open MPI's blocking collectives are about twice as
// fast as its non-blocking ones on large buffers (4.1, 2 ranks, 64 MB all-reduce: 75 ms against
// 150 ms, polled or not). A rank past the barrier is inside the same collective with no code of
// ours between, so it cannot hang there; one that dies there is noticed by mpirun. Below it the
// extra barrier would cost more than it saves.
constexpr int64_t kBlockingFromBytes = int64_t{1} << 20;

int world_rank_or_minus_one() {
  int initialized = 0, finalized = 0, rank = -1;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

// Turns an MPI return code into kiln::Error: "MPI_Allreduce (float, 10 elements) failed on rank 1:
// <MPI's reason>".
void check(int rc, const std::string& call, std::source_location where = std::source_location::current()) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  const std::string reason = MPI_Error_string(rc, text, &length) == MPI_SUCCESS
                                 ? std::string(text, static_cast<size_t>(length))
                                 : fmt::format("MPI error code {}", rc);
  const int rank = world_rank_or_minus_one();
  fail(fmt::format("{} failed on rank {}: {}", call, rank >= 0 ? std::to_string(rank) : "?", reason), where);
}

// Tests again at once for the first milliseconds (most collectives end within them), then sleeps
// between tests, doubling from 50 us up to 1 ms: a rank waiting for a slow one leaves it the core.
class Backoff {
 public:
  void pause() {
    using namespace std::chrono;
    if (steady_clock::now() - start_ < milliseconds(5)) {
      std::this_thread::yield();
      return;
    }
    std::this_thread::sleep_for(microseconds(sleep_us_));
    sleep_us_ = std::min(sleep_us_ * 2, 1000);
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  int sleep_us_ = 50;
};

std::string rank_list(const std::vector<int>& ranks) {
  std::string out = ranks.size() == 1 ? "rank " : "ranks ";
  for (size_t i = 0; i < ranks.size(); ++i) out += (i ? ", " : "") + std::to_string(ranks[i]);
  return out;
}

}  // namespace

MpiCommunicator::MpiCommunicator() {
  const double timeout_s = collective_timeout(std::getenv);  // a bad value fails before MPI starts
  int initialized = 0;
  check(MPI_Initialized(&initialized), "MPI_Initialized");
  if (!initialized) {
    // SERIALIZED: one thread at a time calls MPI, which lets a later communication thread (the
    // bucketed all-reduce overlapped with backward) do so while the OpenMP workers never do.
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    started_mpi_ = true;
    KILN_CHECK(provided >= MPI_THREAD_SERIALIZED,
               "MPI_Init_thread: this MPI library offers thread level {}, kiln needs MPI_THREAD_SERIALIZED ({})",
               provided, MPI_THREAD_SERIALIZED);
  }
  check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  // The ranks that share this machine's memory are the ones that share its GPUs.
  MPI_Comm node = MPI_COMM_NULL;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
        "MPI_Comm_split_type");
  check(MPI_Comm_rank(node, &local_rank_), "MPI_Comm_rank (node)");
  check(MPI_Comm_free(&node), "MPI_Comm_free");
  timeout_s_ = timeout_s;
  check(MPI_Comm_dup(MPI_COMM_WORLD, &arrivals_comm_), "MPI_Comm_dup");
  check(MPI_Comm_set_errhandler(arrivals_comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  if (rank_ == 0) {
    arrived_.assign(size_, 0);
    arrival_buffer_.assign(size_, 0);
    arrival_receives_.assign(size_, MPI_REQUEST_NULL);
    for (int peer = 1; peer < size_; ++peer) {
      check(MPI_Irecv(&arrival_buffer_[peer], 1, MPI_INT64_T, peer, 0, arrivals_comm_, &arrival_receives_[peer]),
            "MPI_Irecv (arrival record)");
    }
  }
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  try {
    drain_arrivals();
  } catch (const std::exception& e) {
    // MPI failed under us while closing: finishing it would wait on the broken job.
    fmt::print(stderr, "kiln: error: rank {}: while closing MPI: {}\n", rank_, e.what());
    std::fflush(stderr);
    abort(1);
  }
  if (started_mpi_) MPI_Finalize();
}

void MpiCommunicator::set_timeout(double seconds) {
  KILN_CHECK(std::isfinite(seconds) && seconds >= 0,
             "collective timeout on rank {}: {} s, expected a number of seconds >= 0 (0: wait forever)", rank_,
             seconds);
  timeout_s_ = seconds;
}

int64_t MpiCommunicator::arrive() {
  const int64_t call = ++calls_;
  if (rank_ == 0) {
    arrived_[0] = call;
  } else {
    Arrival& a = arrival_sends_.emplace_back();
    a.call = call;
    check(MPI_Isend(&a.call, 1, MPI_INT64_T, 0, 0, arrivals_comm_, &a.request), "MPI_Isend (arrival record)");
  }
  collect_arrivals();
  return call;
}

void MpiCommunicator::collect_arrivals() {
  if (rank_ == 0) {
    for (int peer = 1; peer < size_; ++peer) {
      // Several may have come since the last look (a peer runs ahead by the collectives that do
      // not need rank 0 to finish); messages from one peer arrive in order.
      while (arrival_receives_[peer] != MPI_REQUEST_NULL) {
        int done = 0;
        check(MPI_Test(&arrival_receives_[peer], &done, MPI_STATUS_IGNORE), "MPI_Test (arrival record)");
        if (!done) break;
        arrived_[peer] = std::max(arrived_[peer], arrival_buffer_[peer]);
        check(MPI_Irecv(&arrival_buffer_[peer], 1, MPI_INT64_T, peer, 0, arrivals_comm_, &arrival_receives_[peer]),
              "MPI_Irecv (arrival record)");
      }
    }
    return;
  }
  while (!arrival_sends_.empty()) {
    int done = 0;
    check(MPI_Test(&arrival_sends_.front().request, &done, MPI_STATUS_IGNORE), "MPI_Test (arrival record)");
    if (!done) break;
    arrival_sends_.pop_front();
  }
}

void MpiCommunicator::await(std::vector<MPI_Request>& requests, int64_t call, const std::string& what) {
  const auto start = std::chrono::steady_clock::now();
  const std::chrono::duration<double> limit(waited_limit());
  Backoff backoff;
  for (;;) {
    int done = 0;
    check(MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE),
          fmt::format("{} (call #{})", what, call));
    if (done) return;
    collect_arrivals();
    if (timeout_s_ > 0 && std::chrono::steady_clock::now() - start > limit) {
      timed_out(call, what);
    }
    backoff.pause();
  }
}

double MpiCommunicator::waited_limit() const {
  // Rank 0 is the one that can name the missing ranks: the others wait a little longer, so that
  // normally its line is the one printed and its abort ends them.
  return rank_ == 0 ? timeout_s_ : timeout_s_ * 1.1 + 1;
}

void MpiCommunicator::timed_out(int64_t call, const std::string& what) {
  std::string missing;
  if (rank_ == 0) {
    std::vector<int> late;
    for (int peer = 1; peer < size_; ++peer) {
      if (arrived_[peer] < call) late.push_back(peer);
    }
    missing = late.empty() ? "every rank arrived, yet it did not finish (did a rank call a different collective?)"
                           : fmt::format("{} did not arrive (died or hang{})", rank_list(late), late.size() == 1 ? "s" : "");
  } else {
    missing = size_ == 2 ? "rank 0 did not arrive (died or hangs)"
                         : "rank 0 or another rank did not arrive (died or hangs)";
  }
  fmt::print(stderr, "kiln: error: rank {}: {} (call #{}) waited {:g} s for the other ranks; {}: stopping all {} ranks\n",
             rank_, what, call, waited_limit(), missing, size_);
  std::fflush(stderr);
  abort(1);
}

void MpiCommunicator::drain_arrivals() {
  if (arrivals_comm_ == MPI_COMM_NULL) return;
  // Started reductions must end before MPI does. Not wait_all(): whether any are left differs
  // between ranks (progress() may have seen them finish), and the call numbers must not.
  await(pending_, calls_, "the started all-reduces (before MPI_Finalize)");
  pending_.clear();
  set_next_label("the closing barrier (before MPI_Finalize)");
  barrier();  // every rank has sent its last arrival: the barrier's number, calls_
  const auto start = std::chrono::steady_clock::now();
  const auto limit = std::chrono::duration<double>(timeout_s_ > 0 ? std::min(timeout_s_, 10.0) : 10.0);
  Backoff backoff;
  auto drained = [&] {
    if (rank_ != 0) return arrival_sends_.empty();
    for (int peer = 1; peer < size_; ++peer) {
      if (arrived_[peer] < calls_) return false;
    }
    return true;
  };
  for (collect_arrivals(); !drained() && std::chrono::steady_clock::now() - start < limit; collect_arrivals()) {
    backoff.pause();
  }
  // Rank 0's receives posted for arrivals that will not come (and, after the limit, anything left).
  for (MPI_Request& r : arrival_receives_) {
    if (r == MPI_REQUEST_NULL) continue;
    MPI_Cancel(&r);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  }
  for (Arrival& a : arrival_sends_) {
    MPI_Cancel(&a.request);
    MPI_Wait(&a.request, MPI_STATUS_IGNORE);
  }
  arrival_sends_.clear();
  check(MPI_Comm_free(&arrivals_comm_), "MPI_Comm_free (arrival record)");
}

std::string MpiCommunicator::describe() const {
  return fmt::format("MPI, rank {} of {} (local rank {})", rank_, size_, local_rank_);
}

void MpiCommunicator::await_everyone(int64_t call, const std::string& what) {
  std::vector<MPI_Request> requests(1, MPI_REQUEST_NULL);
  check(MPI_Ibarrier(MPI_COMM_WORLD, &requests[0]), fmt::format("MPI_Ibarrier ({})", what));
  await(requests, call, what);
}

template <class T>
void MpiCommunicator::allreduce(T* data, int64_t n, MPI_Datatype type, const char* type_name) {
  KILN_CHECK(n >= 0, "MPI_Allreduce on rank {}: count {} is negative", rank_, n);
  const std::string what = take_label(fmt::format("an all-reduce of {} {}", n, type_name));
  const int64_t call = arrive();
  if (n * static_cast<int64_t>(sizeof(T)) >= kBlockingFromBytes) {
    await_everyone(call, what);
    for (int64_t done = 0; done < n; done += kMaxCount) {
      const int count = static_cast<int>(std::min(kMaxCount, n - done));
      check(MPI_Allreduce(MPI_IN_PLACE, data + done, count, type, MPI_SUM, MPI_COMM_WORLD),
            fmt::format("MPI_Allreduce ({}, {} elements)", type_name, n));
    }
    return;
  }
  std::vector<MPI_Request> requests(1, MPI_REQUEST_NULL);  // below kBlockingFromBytes: one piece
  check(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), type, MPI_SUM, MPI_COMM_WORLD, &requests[0]),
        fmt::format("MPI_Iallreduce ({}, {} elements)", type_name, n));
  await(requests, call, what);
}

void MpiCommunicator::allreduce_sum(float* data, int64_t n) { allreduce(data, n, MPI_FLOAT, "float"); }
void MpiCommunicator::allreduce_sum(double* data, int64_t n) { allreduce(data, n, MPI_DOUBLE, "double"); }
void MpiCommunicator::allreduce_sum(int64_t* data, int64_t n) { allreduce(data, n, MPI_INT64_T, "int64"); }

void MpiCommunicator::broadcast(void* data, int64_t bytes) {
  KILN_CHECK(bytes >= 0, "MPI_Bcast on rank {}: size {} is negative", rank_, bytes);
  const std::string what = take_label(fmt::format("a broadcast of {} bytes from rank 0", bytes));
  const int64_t call = arrive();
  auto* p = static_cast<char*>(data);
  if (bytes >= kBlockingFromBytes) {
    await_everyone(call, what);
    for (int64_t done = 0; done < bytes; done += kMaxCount) {
      const int count = static_cast<int>(std::min(kMaxCount, bytes - done));
      check(MPI_Bcast(p + done, count, MPI_BYTE, 0, MPI_COMM_WORLD), fmt::format("MPI_Bcast ({} bytes from rank 0)", bytes));
    }
    return;
  }
  std::vector<MPI_Request> requests(1, MPI_REQUEST_NULL);
  check(MPI_Ibcast(p, static_cast<int>(bytes), MPI_BYTE, 0, MPI_COMM_WORLD, &requests[0]),
        fmt::format("MPI_Ibcast ({} bytes from rank 0)", bytes));
  await(requests, call, what);
}

void MpiCommunicator::barrier() {
  const std::string what = take_label("a barrier");
  const int64_t call = arrive();
  std::vector<MPI_Request> requests(1, MPI_REQUEST_NULL);
  check(MPI_Ibarrier(MPI_COMM_WORLD, &requests[0]), "MPI_Ibarrier");
  await(requests, call, what);
}

void MpiCommunicator::start_allreduce_sum(float* data, int64_t n) {
  KILN_CHECK(n >= 0, "MPI_Iallreduce on rank {}: count {} is negative", rank_, n);
  for (int64_t done = 0; done < n; done += kMaxCount) {
    const int count = static_cast<int>(std::min(kMaxCount, n - done));
    MPI_Request request = MPI_REQUEST_NULL;
    check(MPI_Iallreduce(MPI_IN_PLACE, data + done, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &request),
          fmt::format("MPI_Iallreduce (float, {} elements)", n));
    pending_.push_back(request);
  }
}

void MpiCommunicator::progress() {
  if (pending_.empty()) return;
  int done = 0;
  check(MPI_Testall(static_cast<int>(pending_.size()), pending_.data(), &done, MPI_STATUSES_IGNORE), "MPI_Testall");
  if (done) pending_.clear();
}

void MpiCommunicator::wait_all() {
  // Counted even when progress() already saw everything finish (that differs between ranks): every
  // rank calls wait_all the same number of times, so the call numbers stay the same.
  const std::string what = take_label("the gradient all-reduce");
  const int64_t call = arrive();
  await(pending_, call, what);
  pending_.clear();
}

void MpiCommunicator::abort(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort does not return; this satisfies [[noreturn]]
}

}  // namespace kiln::dist
