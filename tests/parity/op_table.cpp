#include "tests/parity/op_table.h"

namespace kiln::optable {

std::vector<OpCase> all_cases(Sizes sizes) {
  std::vector<OpCase> cases;
  add_random_cases(cases, sizes);
  add_gemm_cases(cases, sizes);
  add_conv2d_cases(cases, sizes);
  add_pool2d_cases(cases, sizes);
  add_softmax_xent_cases(cases, sizes);
  add_elementwise_cases(cases, sizes);
  add_lrn_cases(cases, sizes);
  add_optim_cases(cases, sizes);
  add_reduce_cases(cases, sizes);
  add_lstm_cases(cases, sizes);
  return cases;
}

}  // namespace kiln::optable
