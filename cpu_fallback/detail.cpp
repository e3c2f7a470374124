#include "cpu_fallback/detail.h"

#include <cblas.h>

namespace kiln::cpu::detail {

BlasSingleThread::BlasSingleThread() : previous_(openblas_get_num_threads()) {
  if (previous_ != 1) openblas_set_num_threads(1);
}

BlasSingleThread::~BlasSingleThread() {
  if (previous_ != 1) openblas_set_num_threads(previous_);
}

}  // namespace kiln::cpu::detail
