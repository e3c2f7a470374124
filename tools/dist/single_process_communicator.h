// The communicator of a run that mpirun did not launch: one rank, nothing to exchange.
#pragma once

#include "tools/dist/communicator.h"

namespace kiln::dist {

class SingleProcessCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string describe() const override { return "single process"; }

  // The sum over one rank is that rank's data; a broadcast from rank 0 to itself copies nothing.
  void allreduce_sum(float*, int64_t n) override { check_count(n); }
  void allreduce_sum(double*, int64_t n) override { check_count(n); }
  void allreduce_sum(int64_t*, int64_t n) override { check_count(n); }
  void broadcast(void*, int64_t bytes) override { check_count(bytes); }
  void barrier() override {}
  void start_allreduce_sum(float*, int64_t n) override { check_count(n); }
  void wait_all() override {}
  [[noreturn]] void abort(int exit_code) override;

 private:
  // A negative count is a caller's bug whatever the rank count; say so here too, as MPI would.
  static void check_count(int64_t n);
};

}  // namespace kiln::dist
