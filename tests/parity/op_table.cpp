#include "tests/parity/op_table.h"

#if KILN_WITH_DEVICE
#include "kernels/grid.cuh"
#endif

namespace kiln::optable {

#if KILN_WITH_DEVICE
std::vector<Version> grid_stride_versions(Sizes sizes, Launcher run) {
  std::vector<Version> versions = {{"v1", run}};
  if (sizes == Sizes::Test) {
    versions.push_back({"v1_grid2", [run](const Args& a, const Stream& s) {
                          gpu::ScopedGridLimit limit(2);
                          run(a, s);
                        }});
  }
  return versions;
}
#endif

std::vector<OpCase> all_cases(Sizes sizes) {
  std::vector<OpCase> cases;
  add_random_cases(cases, sizes);
  add_gemm_cases(cases, sizes);
  add_conv2d_cases(cases, sizes);
  add_conv2d_rounded_cases(cases, sizes);
  add_pool2d_cases(cases, sizes);
  add_softmax_xent_cases(cases, sizes);
  add_activation_cases(cases, sizes);
  add_bias_cases(cases, sizes);
  add_dropout_cases(cases, sizes);
  add_lrn_cases(cases, sizes);
  add_batchnorm_cases(cases, sizes);
  add_optim_cases(cases, sizes);
  add_reduce_cases(cases, sizes);
  add_lstm_cases(cases, sizes);
  add_gru_cases(cases, sizes);
  add_swap_axes_cases(cases, sizes);
  add_embedding_cases(cases, sizes);
  add_rnn_cases(cases, sizes);
  add_train_stats_cases(cases, sizes);
  add_convert_cases(cases, sizes);
  add_loss_scale_cases(cases, sizes);
  add_bce_cases(cases, sizes);
  return cases;
}

}  // namespace kiln::optable
