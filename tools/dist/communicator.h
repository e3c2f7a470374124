// Communicator: the collectives a data-parallel run needs between its ranks (issue 14).
//
// One process per rank; every rank calls the same collectives in the same order (MPI's rule).
// Reductions are in place and every rank ends with the same result. A failure throws kiln::Error
// naming the rank and the call. Implementations: SingleProcessCommunicator (no MPI: size 1, the
// collectives leave the data as it is) and MpiCommunicator (tools/dist/mpi_communicator.h).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace kiln::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // The rank among those on the same machine: the one that picks cuda:(local_rank).
  virtual int local_rank() const = 0;
  // "single process" or "MPI, 4 ranks": for logs.
  virtual std::string describe() const = 0;

  // data[0..n) = the element-wise sum of every rank's data[0..n).
  virtual void allreduce_sum(float* data, int64_t n) = 0;
  virtual void allreduce_sum(double* data, int64_t n) = 0;
  virtual void allreduce_sum(int64_t* data, int64_t n) = 0;
  // data[0..bytes) = rank 0's data[0..bytes) on every rank.
  virtual void broadcast(void* data, int64_t bytes) = 0;
  // Returns on each rank once every rank has called it.
  virtual void barrier() = 0;

  // The non-blocking all-reduce of gradient buckets (tools/dist/gradient_buckets.h): starts
  // data[0..n) = the sum over the ranks and returns at once. The buffer must stay untouched until
  // wait_all() returns; every rank starts the same buckets in the same order.
  virtual void start_allreduce_sum(float* data, int64_t n) = 0;
  // Lets the transport advance started reductions (MPI moves data only inside its calls): called
  // between layers of the backward pass. Never waits.
  virtual void progress() {}
  // Returns once every started reduction has finished.
  virtual void wait_all() = 0;

  // Ends every rank of the job at once after an error this rank cannot recover from (a collective
  // that timed out, an exception that left the training loop): the others may be blocked in a
  // collective this rank will never join, so returning or finishing MPI would hang them.
  [[noreturn]] virtual void abort(int exit_code) = 0;

  // How long a blocking collective (and wait_all) waits for the other ranks before this rank
  // gives up: it prints one line naming the rank(s) that did not arrive and aborts the job. A rank
  // that died or hangs would otherwise hold every other rank in the collective forever. 0 waits
  // forever. MpiCommunicator starts at kDefaultCollectiveTimeout or KILN_COLLECTIVE_TIMEOUT
  // (tools/dist/launch.h); one process has no one to wait for and ignores it.
  virtual void set_timeout(double seconds) { (void)seconds; }

  // Names the next blocking collective in that timeout's message ("the loss all-reduce"), so the
  // line says what the job was doing, not only which MPI call. Used once, then forgotten.
  void set_next_label(std::string what) { next_label_ = std::move(what); }

 protected:
  // The label set for this collective, or `fallback` when none was.
  std::string take_label(std::string fallback) {
    std::string out = next_label_.empty() ? std::move(fallback) : std::move(next_label_);
    next_label_.clear();
    return out;
  }

 private:
  std::string next_label_;
};

}  // namespace kiln::dist
