#include "tools/dist/single_process_communicator.h"

#include "core/error.h"

namespace kiln::dist {

void SingleProcessCommunicator::check_count(int64_t n) {
  KILN_CHECK(n >= 0, "collective on rank 0 of 1: count {} is negative", n);
}

}  // namespace kiln::dist
