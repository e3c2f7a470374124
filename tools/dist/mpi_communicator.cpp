#include "tools/dist/mpi_communicator.h"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <fmt/format.h>

#include "core/error.h"

namespace kiln::dist {
namespace {

// MPI counts are int; a larger buffer (a big model's gradients) goes in pieces of this many elements.
constexpr int64_t kMaxCount = INT_MAX;

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

template <class T>
void allreduce_in_pieces(T* data, int64_t n, MPI_Datatype type, const char* type_name, int rank) {
  KILN_CHECK(n >= 0, "MPI_Allreduce on rank {}: count {} is negative", rank, n);
  for (int64_t done = 0; done < n; done += kMaxCount) {
    const int count = static_cast<int>(std::min(kMaxCount, n - done));
    check(MPI_Allreduce(MPI_IN_PLACE, data + done, count, type, MPI_SUM, MPI_COMM_WORLD),
          fmt::format("MPI_Allreduce ({}, {} elements)", type_name, n));
  }
}

}  // namespace

MpiCommunicator::MpiCommunicator() {
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
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (started_mpi_ && !finalized) MPI_Finalize();
}

std::string MpiCommunicator::describe() const {
  return fmt::format("MPI, rank {} of {} (local rank {})", rank_, size_, local_rank_);
}

void MpiCommunicator::allreduce_sum(float* data, int64_t n) { allreduce_in_pieces(data, n, MPI_FLOAT, "float", rank_); }
void MpiCommunicator::allreduce_sum(double* data, int64_t n) { allreduce_in_pieces(data, n, MPI_DOUBLE, "double", rank_); }
void MpiCommunicator::allreduce_sum(int64_t* data, int64_t n) { allreduce_in_pieces(data, n, MPI_INT64_T, "int64", rank_); }

void MpiCommunicator::broadcast(void* data, int64_t bytes) {
  KILN_CHECK(bytes >= 0, "MPI_Bcast on rank {}: size {} is negative", rank_, bytes);
  auto* p = static_cast<char*>(data);
  for (int64_t done = 0; done < bytes; done += kMaxCount) {
    const int count = static_cast<int>(std::min(kMaxCount, bytes - done));
    check(MPI_Bcast(p + done, count, MPI_BYTE, 0, MPI_COMM_WORLD), fmt::format("MPI_Bcast ({} bytes from rank 0)", bytes));
  }
}

void MpiCommunicator::barrier() { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

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
  check(MPI_Waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  pending_.clear();
}

void MpiCommunicator::abort(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort does not return; this satisfies [[noreturn]]
}

}  // namespace kiln::dist
