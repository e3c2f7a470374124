#include "tools/dist/single_process_communicator.h"

#include <cstdlib>

#include "core/error.h"

namespace kiln::dist {

void SingleProcessCommunicator::check_count(int64_t n) {
  KILN_CHECK(n >= 0, "collective on rank 0 of 1: count {} is negative", n);
}

void SingleProcessCommunicator::abort(int exit_code) { std::_Exit(exit_code); }

}  // namespace kiln::dist
