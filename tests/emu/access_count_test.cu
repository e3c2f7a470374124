// Access counting (kernels/emu/access_count.h): small kernels whose sectors per request and
// shared-memory wavefronts are known, counted by the KILN_EMU_ACCESS=ON build. In every other
// emulate build the counter must refuse to start (it cannot see the loads).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "kernels/emu/access_count.h"
#include "kernels/launch.cuh"
#include "kernels/mma.cuh"

namespace {

namespace access = kiln::emu::access;

constexpr int kThreads = 128;

__global__ void copy_coalesced(const float* in, float* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  out[i] = in[i];
}

__global__ void copy_strided(const float* in, float* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  out[i] = in[i * 32];
}

__global__ void sum_float4(const float4* in, float* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const float4 v = in[i];
  out[i] = v.x + v.y + v.z + v.w;
}

// Every thread reads shared word (lane * Stride) % 1024: Stride 1 no conflict, 2 two-way, 32
// thirty-two-way, 0 the same word for all (broadcast).
template <int Stride>
__global__ void read_shared(float* out) {
  __shared__ float s[1024];
  for (int k = static_cast<int>(threadIdx.x); k < 1024; k += blockDim.x) s[k] = static_cast<float>(k);
  __syncthreads();
  const int lane = static_cast<int>(threadIdx.x) & 31;
  out[blockIdx.x * blockDim.x + threadIdx.x] = s[(lane * Stride) % 1024];
}

// 8-byte reads of consecutive float2: served per half-warp, two wavefronts and no conflict.
__global__ void read_shared_float2(float* out) {
  __shared__ __align__(16) float s[256];
  for (int k = static_cast<int>(threadIdx.x); k < 256; k += blockDim.x) s[k] = static_cast<float>(k);
  __syncthreads();
  const float2 v = reinterpret_cast<const float2*>(s)[threadIdx.x & 31];
  out[blockIdx.x * blockDim.x + threadIdx.x] = v.x + v.y;
}

// ldmatrix.x4: lane l gives the address of 16-byte row l, rows `Pitch` bytes apart. Counted per
// quarter-warp phase of 8 rows: a 144-byte pitch spreads them over all banks (4 wavefronts), a
// 128-byte pitch puts all 8 on banks 0-3 (8 wavefronts per phase).
template <int Pitch>
__global__ void ldmatrix_rows(float* out) {
  __shared__ __align__(16) unsigned char s[32 * Pitch];
  for (int k = static_cast<int>(threadIdx.x); k < 32 * Pitch; k += blockDim.x) s[k] = 1;
  __syncthreads();
  uint32_t r[4];
  kiln::mma::ldmatrix_x4(r, s + threadIdx.x * Pitch);
  out[threadIdx.x] = static_cast<float>(r[0] + r[1] + r[2] + r[3]);
}

// The one site of `kernels` in that space and of that kind; fails the test if there is not
// exactly one.
access::Site only_site(const std::vector<access::Kernel>& kernels, bool shared, bool store) {
  std::vector<access::Site> found;
  for (const auto& k : kernels)
    for (const auto& s : k.sites)
      if (s.shared == shared && s.store == store) found.push_back(s);
  EXPECT_EQ(found.size(), 1u) << access::format_table(kernels);
  return found.empty() ? access::Site{} : found[0];
}

class AccessCount : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!access::kBuilt) GTEST_SKIP() << "counting needs -DKILN_EMU_ACCESS=ON";
  }
  const kiln::Device dev_ = kiln::Device::cuda(0);
  const kiln::Stream stream_ = kiln::Stream::default_for(dev_);
};

TEST(AccessCountBuild, RefusesToStartWithoutInstrumentation) {
  if (access::kBuilt) GTEST_SKIP() << "this is the counting build";
  EXPECT_THROW(access::start(), kiln::Error);
  EXPECT_FALSE(access::counting());
}

TEST_F(AccessCount, CoalescedFloatLoadIsFourSectors) {
  constexpr int n = 4 * kThreads;
  kiln::Tensor in = kiln::Tensor::zeros({n}, dev_), out = kiln::Tensor::zeros({n}, dev_);
  access::start();
  kiln::launch(copy_coalesced, n / kThreads, kThreads, 0, stream_, in.data<float>(), out.data<float>());
  const auto k = access::stop();
  ASSERT_EQ(k.size(), 1u);
  const access::Site load = only_site(k, false, false), store = only_site(k, false, true);
  EXPECT_EQ(load.requests, uint64_t{n / 32});
  EXPECT_DOUBLE_EQ(load.per_request(), 4.0);
  EXPECT_DOUBLE_EQ(store.per_request(), 4.0);
  EXPECT_EQ(load.bytes, 4u);
  EXPECT_EQ(load.lanes, uint64_t{n});
  EXPECT_NE(load.location.find("tests/emu/access_count_test.cu:"), std::string::npos) << load.location;
  EXPECT_EQ(k[0].launches, 1u);
  EXPECT_EQ(k[0].load_sectors, uint64_t{n * 4 / 32});
  EXPECT_EQ(k[0].unique_bytes, uint64_t{2 * n * 4});  // in and out, each read or written once
}

TEST_F(AccessCount, StrideOf32FloatsIs32Sectors) {
  constexpr int n = 2 * kThreads;
  kiln::Tensor in = kiln::Tensor::zeros({n * 32}, dev_), out = kiln::Tensor::zeros({n}, dev_);
  access::start();
  kiln::launch(copy_strided, n / kThreads, kThreads, 0, stream_, in.data<float>(), out.data<float>());
  const auto k = access::stop();
  const access::Site load = only_site(k, false, false);
  EXPECT_DOUBLE_EQ(load.per_request(), 32.0);
  EXPECT_DOUBLE_EQ(load.ideal_per_request(), 4.0);
  EXPECT_DOUBLE_EQ(only_site(k, false, true).per_request(), 4.0);
}

TEST_F(AccessCount, Float4LoadIsOneRequestOf16Sectors) {
  constexpr int n = kThreads;
  kiln::Tensor in = kiln::Tensor::zeros({4 * n}, dev_), out = kiln::Tensor::zeros({n}, dev_);
  access::start();
  kiln::launch(sum_float4, 1, kThreads, 0, stream_, reinterpret_cast<const float4*>(in.data<float>()),
               out.data<float>());
  const auto k = access::stop();
  const access::Site load = only_site(k, false, false);
  EXPECT_EQ(load.bytes, 16u);  // one 16-byte access per lane, not four 4-byte ones
  EXPECT_EQ(load.requests, uint64_t{n / 32});
  EXPECT_DOUBLE_EQ(load.per_request(), 16.0);
}

template <int Stride>
access::Site shared_read(const kiln::Device& dev, const kiln::Stream& s) {
  kiln::Tensor out = kiln::Tensor::zeros({2 * kThreads}, dev);
  access::start();
  kiln::launch(read_shared<Stride>, 2, kThreads, 0, s, out.data<float>());
  return only_site(access::stop(), true, false);
}

TEST_F(AccessCount, SharedReadsWithoutConflictAreOneWavefront) {
  const access::Site s = shared_read<1>(dev_, stream_);
  EXPECT_EQ(s.requests, uint64_t{2 * kThreads / 32});
  EXPECT_DOUBLE_EQ(s.per_request(), 1.0);
  EXPECT_DOUBLE_EQ(s.ideal_per_request(), 1.0);
}

TEST_F(AccessCount, TwoWayConflictIsTwoWavefronts) {
  EXPECT_DOUBLE_EQ(shared_read<2>(dev_, stream_).per_request(), 2.0);
}

TEST_F(AccessCount, ThirtyTwoWayConflictIs32Wavefronts) {
  EXPECT_DOUBLE_EQ(shared_read<32>(dev_, stream_).per_request(), 32.0);
}

TEST_F(AccessCount, BroadcastIsOneWavefront) {
  EXPECT_DOUBLE_EQ(shared_read<0>(dev_, stream_).per_request(), 1.0);
}

TEST_F(AccessCount, EightByteReadsAreServedPerHalfWarp) {
  kiln::Tensor out = kiln::Tensor::zeros({kThreads}, dev_);
  access::start();
  kiln::launch(read_shared_float2, 1, kThreads, 0, stream_, out.data<float>());
  const access::Site load = only_site(access::stop(), true, false);
  EXPECT_EQ(load.bytes, 8u);
  EXPECT_DOUBLE_EQ(load.per_request(), 2.0);
}

template <int Pitch>
access::Site ldmatrix_site(const kiln::Device& dev, const kiln::Stream& stream) {
  kiln::Tensor out = kiln::Tensor::zeros({32}, dev);
  access::start();
  kiln::launch(ldmatrix_rows<Pitch>, 1, 32, 0, stream, out.data<float>());
  return only_site(access::stop(), true, false);
}

TEST_F(AccessCount, LdmatrixRowsAreSixteenByteAccessesAtTheCallSite) {
  const access::Site spread = ldmatrix_site<144>(dev_, stream_);
  EXPECT_EQ(spread.bytes, 16u);
  EXPECT_EQ(spread.requests, 1u);
  EXPECT_DOUBLE_EQ(spread.per_request(), 4.0);
  EXPECT_NE(spread.location.find("access_count_test.cu:"), std::string::npos) << spread.location;
  EXPECT_DOUBLE_EQ(ldmatrix_site<128>(dev_, stream_).per_request(), 32.0);
}

TEST_F(AccessCount, OnlyLaunchesBetweenStartAndStopCount) {
  kiln::Tensor in = kiln::Tensor::zeros({kThreads}, dev_), out = kiln::Tensor::zeros({kThreads}, dev_);
  kiln::launch(copy_coalesced, 1, kThreads, 0, stream_, in.data<float>(), out.data<float>());
  access::start();
  EXPECT_TRUE(access::counting());
  const auto k = access::stop();
  EXPECT_FALSE(access::counting());
  EXPECT_TRUE(k.empty()) << access::format_table(k);
}

}  // namespace
