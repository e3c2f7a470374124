// `kiln bench train CONFIG --ranks 1,2`: data-parallel scaling, measured (issue 14).
//
// For each rank count R of the list, runs `mpirun -np R <this kiln> bench train CONFIG <the same
// options> --json`, reads rank 0's JSON and prints one table row: ranks, global batch, images/s,
// speedup over the first row, the gradient all-reduce time per step that backward did not hide,
// and the time of one blocking all-reduce of every gradient (what the overlap could hide at most),
// under a header naming the CPU and its cores (the figures depend on them).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::cli {

// "1,2,4" -> {1, 2, 4}. Anything else (empty, a non-number, a count < 1, a repeat) is a kiln::Error
// saying what --ranks takes.
std::vector<int> parse_rank_list(const std::string& text);

// What the driver passes through to each child run besides -np.
struct RanksRequest {
  std::string config;              // the config path as given
  std::vector<int> ranks;          // parse_rank_list
  int64_t global_batch = 0;        // resolved (--batch or the config's [train] batch), for the checks and the table
  std::vector<std::string> args;   // the child's arguments after `bench train CONFIG` (without --json, --ranks)
  bool json = false;               // print {"machine": ..., "rows": [each run's JSON]} instead of the table
};

// Runs every row and prints the table; returns the exit code (a failed run is a kiln::Error).
int run_bench_ranks(const RanksRequest& request);

}  // namespace kiln::cli
