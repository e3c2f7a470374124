// gemm_rounded on a device without TF32/BF16 tensor cores (compute capability 7.x, forced with
// gpu::ScopedComputeMajor: the emulator models sm_80 and later only): kiln's tensor-core kernel
// refuses, gemm_rounded still gives the rounded product. And, in the emulate build, the emulated
// cublasGemmEx (kernels/cublas_emu.h): its argument checks and the rounding of each compute type.
// The op table's gemm_tf32/_bf16/_f16 rows cover the same paths on many shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/stream.h"
#include "core/tensor.h"
#include "kernels/compute_capability.h"
#include "kernels/gemm.h"
#include "tests/common/device.h"
#include "tests/common/error_of.h"

#if KILN_WITH_EMULATOR
#include <cuda_runtime.h>

#include "kernels/cublas_emu.h"
#endif

namespace kiln {
namespace {

// Values with all 23 mantissa bits in play, so every precision rounds them.
std::vector<float> ragged_values(int64_t n, float seed) {
  std::vector<float> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(seed + 1.7f * static_cast<float>(i)) * 0.9f;
  return v;
}

float max_abs_difference(const std::vector<float>& x, const std::vector<float>& y) {
  float d = 0;
  for (size_t i = 0; i < x.size(); ++i) d = std::max(d, std::fabs(x[i] - y[i]));
  return d;
}

TEST(GemmRoundedWithoutTensorCores, TensorCoreKernelRefusesAndGemmRoundedRounds) {
  KILN_REQUIRE_DEVICE();
  const GemmShape s{.m = 19, .n = 13, .k = 37, .trans_a = true};
  const std::vector<float> a = ragged_values(s.a_size(), 0.3f), b = ragged_values(s.b_size(), 1.1f);
  const Device dev = Device::cuda(0);
  const Stream stream = Stream::default_for(dev);
  const Tensor da = Tensor::from_host(a, Shape{s.a_size()}, dev), db = Tensor::from_host(b, Shape{s.b_size()}, dev);
  Tensor dc = Tensor::zeros(Shape{s.c_size()}, dev);
  const Stream cpu = Stream::default_for(Device::cpu());
  std::vector<float> fp32(static_cast<size_t>(s.c_size()));
  cpu::gemm(s, a.data(), b.data(), fp32.data(), cpu);

  const gpu::ScopedComputeMajor turing(7);
  EXPECT_EQ(gpu::compute_major(dev), 7);
  for (MathPrecision p : {MathPrecision::TF32, MathPrecision::BF16, MathPrecision::F16}) {
    SCOPED_TRACE(precision_name(p));
    const std::string why = testing::error_of(
        [&] { gpu::gemm_v3_tc(s, p, da.data<float>(), db.data<float>(), dc.data<float>(), stream); });
    EXPECT_NE(why.find("compute capability 8.0"), std::string::npos) << why;

    gpu::gemm_rounded(s, p, da.data<float>(), db.data<float>(), dc.data<float>(), stream);
    const std::vector<float> got = dc.to_host();
    std::vector<float> twin(static_cast<size_t>(s.c_size()));
    cpu::gemm_rounded(s, p, a.data(), b.data(), twin.data(), cpu);
    // The CPU twin's result up to FP32 summation order, and clearly not the FP32 product.
    EXPECT_LT(max_abs_difference(got, twin), 1e-5f);
    EXPECT_GT(max_abs_difference(got, fp32), 1e-4f);
  }
}

TEST(GemmRoundedWithoutTensorCores, OverrideEndsWithItsScope) {
  KILN_REQUIRE_DEVICE();
  const int real = gpu::compute_major(Device::cuda(0));
  {
    const gpu::ScopedComputeMajor volta(7);
    EXPECT_EQ(gpu::compute_major(Device::cuda(0)), 7);
  }
  EXPECT_EQ(gpu::compute_major(Device::cuda(0)), real);
}

#if KILN_WITH_EMULATOR
// A column-major (m x n) = (m x 1)(1 x n) product on the emulated cublasGemmEx: K = 1, so each
// element is one product of two rounded operands, exact in FP32, and must match bit for bit.
class EmulatedGemmEx : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda_available(&why)) GTEST_SKIP() << "needs the emulated device: " << why;
    ASSERT_EQ(cublasCreate(&handle_), CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cublasSetStream(handle_, static_cast<cudaStream_t>(stream_.native())), CUBLAS_STATUS_SUCCESS);
  }
  void TearDown() override {
    if (handle_) {
      EXPECT_EQ(cublasDestroy(handle_), CUBLAS_STATUS_SUCCESS);
    }
  }
  cublasStatus_t gemm_ex(cudaDataType a_type, cublasComputeType_t compute, int lda = kM) {
    return cublasGemmEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, kM, kN, 1, &one_, a_.data<float>(), a_type, lda,
                        b_.data<float>(), CUDA_R_32F, 1, &zero_, c_.data<float>(), CUDA_R_32F, kM, compute,
                        CUBLAS_GEMM_DEFAULT);
  }

  static constexpr int kM = 5, kN = 7;
  const std::vector<float> a_host_ = ragged_values(kM, 0.2f), b_host_ = ragged_values(kN, 2.9f);
  const Stream stream_ = Stream::default_for(Device::cuda(0));
  const Tensor a_ = Tensor::from_host(a_host_, Shape{kM}, Device::cuda(0));
  const Tensor b_ = Tensor::from_host(b_host_, Shape{kN}, Device::cuda(0));
  Tensor c_ = Tensor::zeros(Shape{kM * kN}, Device::cuda(0));
  const float one_ = 1.0f, zero_ = 0.0f;
  cublasHandle_t handle_ = nullptr;
};

TEST_F(EmulatedGemmEx, RoundsTheOperandsAsTheComputeTypeSays) {
  const struct {
    cublasComputeType_t type;
    MathPrecision p;
  } types[] = {{CUBLAS_COMPUTE_32F, MathPrecision::F32},
               {CUBLAS_COMPUTE_32F_PEDANTIC, MathPrecision::F32},
               {CUBLAS_COMPUTE_32F_FAST_TF32, MathPrecision::TF32},
               {CUBLAS_COMPUTE_32F_FAST_16BF, MathPrecision::BF16},
               {CUBLAS_COMPUTE_32F_FAST_16F, MathPrecision::F16}};
  for (const auto& t : types) {
    SCOPED_TRACE(precision_name(t.p));
    ASSERT_EQ(gemm_ex(CUDA_R_32F, t.type), CUBLAS_STATUS_SUCCESS);
    stream_.synchronize();
    const std::vector<float> c = c_.to_host();
    for (int j = 0; j < kN; ++j) {
      for (int i = 0; i < kM; ++i) {
        const float want = round_to_precision(t.p, a_host_[i]) * round_to_precision(t.p, b_host_[j]);
        EXPECT_EQ(c[static_cast<size_t>(i + j * kM)], want) << "C(" << i << ", " << j << ")";
      }
    }
  }
}

TEST_F(EmulatedGemmEx, ChecksItsArgumentsAsCublasDoes) {
  EXPECT_EQ(gemm_ex(CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32, kM - 1), CUBLAS_STATUS_INVALID_VALUE);  // lda < m
  // Not modelled: F16 storage, a compute type kiln does not use, an explicit algorithm.
  EXPECT_EQ(gemm_ex(CUDA_R_16F, CUBLAS_COMPUTE_32F), CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(gemm_ex(CUDA_R_32F, static_cast<cublasComputeType_t>(64)), CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(cublasGemmEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, kM, kN, 1, &one_, a_.data<float>(), CUDA_R_32F, kM,
                         b_.data<float>(), CUDA_R_32F, 1, &zero_, c_.data<float>(), CUDA_R_32F, kM,
                         CUBLAS_COMPUTE_32F, static_cast<cublasGemmAlgo_t>(0)),
            CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(cublasGemmEx(nullptr, CUBLAS_OP_N, CUBLAS_OP_N, kM, kN, 1, &one_, a_.data<float>(), CUDA_R_32F, kM,
                         b_.data<float>(), CUDA_R_32F, 1, &zero_, c_.data<float>(), CUDA_R_32F, kM,
                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_NOT_INITIALIZED);
}
#endif

}  // namespace
}  // namespace kiln
