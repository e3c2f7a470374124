// The communicator of a run launched by mpirun: MPI_COMM_WORLD, one process per rank.
//
// Only compiled where CMake found MPI (KILN_WITH_MPI). MPI starts once per process and cannot
// start again after it has finished, so there is one MpiCommunicator per process: tools/dist/
// launch.h's world() owns it. MPI errors return codes (MPI_ERRORS_RETURN) that become kiln::Error
// naming the rank and the call, instead of MPI's default of aborting the whole job.
//
// Timeouts. A blocking MPI collective never returns when a rank hangs (or died without mpirun
// noticing), so every collective here is the non-blocking call (MPI_Iallreduce, MPI_Ibcast,
// MPI_Ibarrier) tested until done or until the timeout (set_timeout), after which the rank prints
// one line and aborts the job. (A large all-reduce or broadcast waits in a timed MPI_Ibarrier, then
// runs the faster blocking call: kBlockingFromBytes in the .cpp.) Testing spins for a few milliseconds (a quick collective costs no
// sleep) and then sleeps up to 1 ms between tests, so waiting ranks leave the cores to the
// slow one. Open MPI advances a large transfer only inside its calls, so a long all-reduce can
// lose up to that millisecond per test; a fraction of a transfer that takes that long anyway.
//
// Naming the rank that did not arrive: the arrival record. Every blocking collective gets a
// number, the same on every rank (they call them in the same order). On entering collective k
// every other rank sends k to rank 0 on a private duplicate of MPI_COMM_WORLD (an MPI_Isend of 8
// bytes; nothing waits on it), and rank 0 keeps one MPI_Irecv posted per peer, which it tests while
// it waits. At a timeout rank 0 names the peers whose last arrival is below k; the other ranks only
// know that someone did not arrive (with 2 ranks: rank 0), so they wait 10% + 1 s longer and
// normally rank 0's line is the one printed. No extra round trip: a collective costs
// one tiny message per rank. Before MPI_Finalize the destructor runs a closing barrier, after which
// rank 0 receives the arrivals still in flight (it knows their last number) and cancels its
// receives, so no message is left unmatched.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "tools/dist/communicator.h"

namespace kiln::dist {

class MpiCommunicator final : public Communicator {
 public:
  // Starts MPI (unless the host program already did) and reads this process's place in the job.
  MpiCommunicator();
  // Finishes MPI if this object started it.
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string describe() const override;

  void allreduce_sum(float* data, int64_t n) override;
  void allreduce_sum(double* data, int64_t n) override;
  void allreduce_sum(int64_t* data, int64_t n) override;
  void broadcast(void* data, int64_t bytes) override;
  void barrier() override;
  void start_allreduce_sum(float* data, int64_t n) override;
  void progress() override;
  void wait_all() override;
  [[noreturn]] void abort(int exit_code) override;
  void set_timeout(double seconds) override;

 private:
  struct Arrival {
    MPI_Request request = MPI_REQUEST_NULL;
    int64_t call = 0;  // the buffer the send reads from: kept until the send completes
  };

  template <class T>
  void allreduce(T* data, int64_t n, MPI_Datatype type, const char* type_name);
  // Numbers the next collective and records this rank's arrival at it. Returns the number.
  int64_t arrive();
  // Rank 0: takes in the arrivals that came; the others: forgets the sends that completed.
  void collect_arrivals();
  // A timed MPI_Ibarrier: returns once every rank has reached collective `call` (large collectives).
  void await_everyone(int64_t call, const std::string& what);
  // Tests `requests` until all are done, or prints the timeout line and aborts the job.
  void await(std::vector<MPI_Request>& requests, int64_t call, const std::string& what);
  // The time this rank waits in a collective: the timeout, a little more on ranks other than 0.
  double waited_limit() const;
  [[noreturn]] void timed_out(int64_t call, const std::string& what);
  // Before MPI_Finalize: a closing barrier, then every arrival message matched or cancelled.
  void drain_arrivals();

  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  bool started_mpi_ = false;
  double timeout_s_ = 0;
  std::vector<MPI_Request> pending_;  // started reductions (start_allreduce_sum)

  MPI_Comm arrivals_comm_ = MPI_COMM_NULL;  // a duplicate of MPI_COMM_WORLD for the arrival record
  int64_t calls_ = 0;                       // blocking collectives entered so far
  // Rank 0: per rank, the last collective it arrived at, and the posted receive of its next one.
  std::vector<int64_t> arrived_;
  std::vector<int64_t> arrival_buffer_;
  std::vector<MPI_Request> arrival_receives_;
  // The other ranks: arrival sends not yet known complete (a deque: the buffers must not move).
  std::deque<Arrival> arrival_sends_;
};

}  // namespace kiln::dist
