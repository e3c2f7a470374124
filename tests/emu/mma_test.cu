// Tests of kernels/mma.cuh: mma.sync (m16n8k16 BF16/F16, m16n8k8 TF32), ldmatrix and cp.async,
// written as ordinary CUDA. Under the emulator they check its tensor-core model; compiled by nvcc
// they run the real instructions on a GPU (sm_80+) against the same expectations, or skip
// themselves where there is none. The fragment loaders here are written from the PTX ISA's
// tables independently of the emulator's, lane by lane, and compared with scalar models computed
// from whole matrices.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "kernels/launch.cuh"
#include "kernels/mma.cuh"
#include "tests/common/device.h"
#include "tests/emu/error_text.h"

namespace {

template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(const std::vector<T>& host) : n_(host.size()) {
    if (cudaMalloc(reinterpret_cast<void**>(&p_), n_ * sizeof(T)) != cudaSuccess)
      throw std::runtime_error("cudaMalloc failed");
    EXPECT_EQ(cudaSuccess, cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(p_); }
  T* get() const { return p_; }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    EXPECT_EQ(cudaSuccess, cudaMemcpy(host.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

std::vector<float> random_floats(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Skips on a GPU older than sm_80 (the instructions need it); the emulator is sm_80+.
#define REQUIRE_SM80()                                                           \
  do {                                                                           \
    KILN_REQUIRE_DEVICE();                                                       \
    int major_ = 0;                                                              \
    cudaDeviceGetAttribute(&major_, cudaDevAttrComputeCapabilityMajor, 0);      \
    if (major_ < 8) GTEST_SKIP() << "tensor-core mma/cp.async need sm_80 or later"; \
  } while (0)

// ---- mma kernels: fragments loaded lane by lane by the PTX ISA's formulas ----------------------

// m16n8k16, A 16x16 row-major and B [k][n] 16x8 as 16-bit patterns, C and D 16x8 f32.
// wrong = 1 loads A by a plausible misreading (register 1 = the next 8 columns, register 2 = the
// next 8 rows): the test must notice.
__global__ void __launch_bounds__(32)
mma16816_kernel(const uint16_t* a, const uint16_t* b, const float* c, float* d, int bf16_type,
                int wrong) {
  const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
  uint32_t af[4] = {0, 0, 0, 0}, bf[2] = {0, 0};
  float cf[4], df[4];
  for (int i = 0; i < 8; ++i) {  // a_i: row groupID (+8 for a2,a3,a6,a7), col 2t+(i&1) (+8 for i>=4)
    int row = g + ((i == 2 || i == 3 || i == 6 || i == 7) ? 8 : 0);
    int col = 2 * t + (i & 1) + (i >= 4 ? 8 : 0);
    if (wrong) {
      row = g + (i >= 4 ? 8 : 0);
      col = 2 * t + (i & 1) + ((i & 2) ? 8 : 0);
    }
    const uint32_t v = a[row * 16 + col];
    af[i / 2] = (i & 1) ? (af[i / 2] | v << 16) : v;
  }
  for (int i = 0; i < 4; ++i) {  // b_i: row k = 2t+(i&1) (+8 for i>=2), col n = groupID
    const uint32_t v = b[(2 * t + (i & 1) + (i >= 2 ? 8 : 0)) * 8 + g];
    bf[i / 2] = (i & 1) ? (bf[i / 2] | v << 16) : v;
  }
  for (int i = 0; i < 4; ++i) cf[i] = c[(g + (i >= 2 ? 8 : 0)) * 8 + 2 * t + (i & 1)];
  if (bf16_type)
    kiln::mma::mma_m16n8k16_bf16(df, af, bf, cf);
  else
    kiln::mma::mma_m16n8k16_f16(df, af, bf, cf);
  for (int i = 0; i < 4; ++i) d[(g + (i >= 2 ? 8 : 0)) * 8 + 2 * t + (i & 1)] = df[i];
}

// m16n8k8 TF32: A 16x8 and B [k][n] 8x8 f32, rounded in the kernel by cvt.rna (round = 1) or given
// to the tensor core as raw FP32 bits (round = 0).
__global__ void __launch_bounds__(32)
mma1688_tf32_kernel(const float* a, const float* b, const float* c, float* d, int round) {
  const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
  uint32_t af[4], bf[2];
  float cf[4], df[4];
  const auto operand = [round](float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    return round ? kiln::mma::to_tf32(x) : bits;
  };
  for (int i = 0; i < 4; ++i)  // a_i: row groupID (+8 for a1,a3), col t (+4 for a2,a3)
    af[i] = operand(a[(g + ((i & 1) ? 8 : 0)) * 8 + t + (i >= 2 ? 4 : 0)]);
  for (int i = 0; i < 2; ++i)  // b_i: row k = t (+4 for b1), col n = groupID
    bf[i] = operand(b[(t + (i ? 4 : 0)) * 8 + g]);
  for (int i = 0; i < 4; ++i) cf[i] = c[(g + (i >= 2 ? 8 : 0)) * 8 + 2 * t + (i & 1)];
  kiln::mma::mma_m16n8k8_tf32(df, af, bf, cf);
  for (int i = 0; i < 4; ++i) d[(g + (i >= 2 ? 8 : 0)) * 8 + 2 * t + (i & 1)] = df[i];
}

// D = A (16xK) B (Kx8) + C from the operand values, accumulated in double; and the bound of an
// FP32 accumulation's error (each of the K additions rounds once).
struct Reference {
  std::vector<double> d;
  std::vector<double> tol;
};
Reference reference(const std::vector<float>& a, const std::vector<float>& b,
                    const std::vector<float>& c, int k) {
  Reference r{std::vector<double>(128), std::vector<double>(128)};
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 8; ++j) {
      double s = c[i * 8 + j], mag = std::fabs(s);
      for (int kk = 0; kk < k; ++kk) {
        s += static_cast<double>(a[i * k + kk]) * b[kk * 8 + j];
        mag += std::fabs(static_cast<double>(a[i * k + kk]) * b[kk * 8 + j]);
      }
      r.d[i * 8 + j] = s;
      r.tol[i * 8 + j] = (k + 1) * std::ldexp(mag, -23) + 1e-30;
    }
  return r;
}

double max_excess(const std::vector<float>& got, const Reference& want) {
  double worst = -1.0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::fabs(got[i] - want.d[i]) - want.tol[i]);
  return worst;  // <= 0: within tolerance everywhere
}

// Runs the 16-bit mma; returns the largest |error| beyond the tolerance.
double run_mma16816(bool bf16_type, bool wrong, unsigned seed) {
  const std::vector<float> af = random_floats(256, seed), bf = random_floats(128, seed + 1),
                           c = random_floats(128, seed + 2);
  std::vector<uint16_t> a16(256), b16(128);
  std::vector<float> aq(256), bq(128);  // the operands as the tensor core sees them
  for (int i = 0; i < 256; ++i) {
    a16[i] = bf16_type ? kiln::float_to_bf16_rne(af[i]).bits : kiln::float_to_f16_rne(af[i]).bits;
    aq[i] = bf16_type ? kiln::bf16_to_float({a16[i]}) : kiln::f16_to_float({a16[i]});
  }
  for (int i = 0; i < 128; ++i) {
    b16[i] = bf16_type ? kiln::float_to_bf16_rne(bf[i]).bits : kiln::float_to_f16_rne(bf[i]).bits;
    bq[i] = bf16_type ? kiln::bf16_to_float({b16[i]}) : kiln::f16_to_float({b16[i]});
  }
  DeviceBuffer<uint16_t> da(a16), db(b16);
  DeviceBuffer<float> dc(c), dd(std::vector<float>(128, 0.0f));
  kiln::launch(mma16816_kernel, 1, 32, 0, nullptr, da.get(), db.get(), dc.get(), dd.get(),
               bf16_type ? 1 : 0, wrong ? 1 : 0);
  return max_excess(dd.download(), reference(aq, bq, c, 16));
}

TEST(Mma, M16n8k16Bf16MatchesTheScalarModel) {
  REQUIRE_SM80();
  for (unsigned seed : {1u, 2u, 3u}) EXPECT_LE(run_mma16816(true, false, seed), 0.0) << seed;
}

TEST(Mma, M16n8k16F16MatchesTheScalarModel) {
  REQUIRE_SM80();
  for (unsigned seed : {4u, 5u, 6u}) EXPECT_LE(run_mma16816(false, false, seed), 0.0) << seed;
}

TEST(Mma, AWrongFragmentLayoutGivesAWrongResult) {
  REQUIRE_SM80();
  EXPECT_GT(run_mma16816(true, true, 7), 0.05);
  EXPECT_GT(run_mma16816(false, true, 8), 0.05);
}

std::vector<float> run_tf32(const std::vector<float>& a, const std::vector<float>& b,
                            const std::vector<float>& c, bool round) {
  DeviceBuffer<float> da(a), db(b), dc(c), dd(std::vector<float>(128, 0.0f));
  kiln::launch(mma1688_tf32_kernel, 1, 32, 0, nullptr, da.get(), db.get(), dc.get(), dd.get(),
               round ? 1 : 0);
  return dd.download();
}

TEST(Mma, M16n8k8Tf32MatchesTheScalarModel) {
  REQUIRE_SM80();
  const std::vector<float> a = random_floats(128, 11), b = random_floats(64, 12),
                           c = random_floats(128, 13);
  std::vector<float> aq(a), bq(b);
  for (auto& x : aq) x = kiln::float_to_tf32_rna(x);
  for (auto& x : bq) x = kiln::float_to_tf32_rna(x);
  EXPECT_LE(max_excess(run_tf32(a, b, c, true), reference(aq, bq, c, 8)), 0.0);
  // Against unrounded operands the error is TF32's, far beyond FP32 accumulation's.
  EXPECT_GT(max_excess(run_tf32(a, b, c, true), reference(a, b, c, 8)), 0.0);
}

TEST(Mma, Tf32OperandsNotRoundedAreTruncated) {
  REQUIRE_SM80();
  // x = 1 + 0.75 ulp(TF32): cvt.rna rounds it up to 1 + 2^-10, the tensor core given the raw
  // bits uses 1. A = x at (0, 0), B = 1 at (0, 0): D(0, 0) is the operand as used.
  const float x = 1.0f + 3.0f * std::ldexp(1.0f, -12);
  std::vector<float> a(128, 0.0f), b(64, 0.0f), c(128, 0.0f);
  a[0] = x;
  b[0] = 1.0f;
  EXPECT_EQ(run_tf32(a, b, c, true)[0], 1.0f + std::ldexp(1.0f, -10));
  EXPECT_EQ(run_tf32(a, b, c, false)[0], 1.0f);
}

// ---- TF32 rounding ------------------------------------------------------------------------------

float from_bits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

TEST(Tf32, RoundsToNearestTiesAwayFromZero) {
  const float ulp = std::ldexp(1.0f, -10);  // of TF32 at 1
  EXPECT_EQ(kiln::float_to_tf32_rna(1.0f), 1.0f);
  EXPECT_EQ(kiln::float_to_tf32_rna(1.0f + ulp / 2), 1.0f + ulp);  // tie: away (RNE would keep 1)
  EXPECT_EQ(kiln::float_to_tf32_rna(-(1.0f + ulp / 2)), -(1.0f + ulp));
  EXPECT_EQ(kiln::float_to_tf32_rna(1.0f + ulp + ulp / 2), 1.0f + 2 * ulp);  // odd-even: away too
  EXPECT_EQ(kiln::float_to_tf32_rna(std::nextafter(1.0f + ulp / 2, 0.0f)), 1.0f);
  EXPECT_EQ(kiln::float_to_tf32_rna(std::numeric_limits<float>::max()),
            std::numeric_limits<float>::infinity());
  EXPECT_EQ(kiln::float_to_tf32_rna(-std::numeric_limits<float>::infinity()),
            -std::numeric_limits<float>::infinity());
  EXPECT_EQ(kiln::float_to_tf32_rna(from_bits(0x00000001u)), 0.0f);       // smallest subnormal
  EXPECT_EQ(kiln::float_to_tf32_rna(from_bits(0x00001000u)), from_bits(0x00002000u));  // tie
  EXPECT_TRUE(std::signbit(kiln::float_to_tf32_rna(-0.0f)));
  EXPECT_TRUE(std::isnan(kiln::float_to_tf32_rna(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(std::isnan(kiln::float_to_tf32_rna(from_bits(0x7f800001u))));  // payload low only
}

__global__ void __launch_bounds__(32) to_tf32_kernel(const float* x, uint32_t* y, int n) {
  const int i = threadIdx.x;
  if (i < n) y[i] = kiln::mma::to_tf32(x[i]);
}

TEST(Tf32, DeviceConversionMatchesTheHostModel) {
  REQUIRE_SM80();
  const float ulp = std::ldexp(1.0f, -10);
  const std::vector<float> x = {0.0f, -0.0f, 1.0f + ulp / 2, -(1.0f + ulp / 2), 3.14159f,
                                std::numeric_limits<float>::max(), from_bits(0x00001000u),
                                from_bits(0x00000fffu), std::numeric_limits<float>::infinity(),
                                std::numeric_limits<float>::denorm_min(), 65504.5f};
  DeviceBuffer<float> dx(x);
  DeviceBuffer<uint32_t> dy(std::vector<uint32_t>(x.size(), 0));
  kiln::launch(to_tf32_kernel, 1, 32, 0, nullptr, dx.get(), dy.get(), static_cast<int>(x.size()));
  const std::vector<uint32_t> y = dy.download();
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_EQ(y[i], kiln::float_bits(kiln::float_to_tf32_rna(x[i]))) << "x = " << x[i];
}

// ---- ldmatrix -----------------------------------------------------------------------------------

constexpr int kStride = 24;  // elements per shared-memory row: 48 bytes, rows not contiguous

// Element (row, col) of matrix m holds m * 64 + row * 8 + col; lane l gives the address of row
// l % 8 of matrix (l / 8) % N. out[lane * 4 + j] = register j.
template <int N, bool Trans>
__global__ void __launch_bounds__(32) ldmatrix_kernel(uint32_t* out) {
  KILN_DYNAMIC_SHARED(uint16_t, s);
  const int lane = threadIdx.x;
  for (int e = lane; e < 4 * 8 * kStride; e += 32) {
    const int m = e / (8 * kStride), row = (e / kStride) % 8, col = e % kStride;
    s[e] = static_cast<uint16_t>(col < 8 ? m * 64 + row * 8 + col : 0xdead);
  }
  __syncthreads();
  uint32_t r[N];
  const uint16_t* row = s + (((lane / 8) % N) * 8 + lane % 8) * kStride;
  if constexpr (N == 1) Trans ? kiln::mma::ldmatrix_x1_trans(r, row) : kiln::mma::ldmatrix_x1(r, row);
  if constexpr (N == 2) Trans ? kiln::mma::ldmatrix_x2_trans(r, row) : kiln::mma::ldmatrix_x2(r, row);
  if constexpr (N == 4) Trans ? kiln::mma::ldmatrix_x4_trans(r, row) : kiln::mma::ldmatrix_x4(r, row);
  for (int j = 0; j < 4; ++j) out[lane * 4 + j] = j < N ? r[j] : 0;
}

template <int N, bool Trans>
void check_ldmatrix() {
  DeviceBuffer<uint32_t> out(std::vector<uint32_t>(128, 0));
  kiln::launch(ldmatrix_kernel<N, Trans>, 1, 32, 4 * 8 * kStride * sizeof(uint16_t), nullptr,
               out.get());
  const std::vector<uint32_t> got = out.download();
  for (int lane = 0; lane < 32; ++lane) {
    const int q = lane / 4, t = lane % 4;
    for (int j = 0; j < N; ++j) {
      // PTX ISA: M_j[q][2t], M_j[q][2t+1]; with .trans M_j[2t][q], M_j[2t+1][q].
      const uint32_t lo = Trans ? j * 64 + (2 * t) * 8 + q : j * 64 + q * 8 + 2 * t;
      const uint32_t hi = Trans ? j * 64 + (2 * t + 1) * 8 + q : j * 64 + q * 8 + 2 * t + 1;
      EXPECT_EQ(got[lane * 4 + j], lo | hi << 16) << "x" << N << (Trans ? ".trans" : "")
                                                  << " lane " << lane << " register " << j;
    }
  }
}

TEST(Ldmatrix, X1) { REQUIRE_SM80(); check_ldmatrix<1, false>(); }
TEST(Ldmatrix, X2) { REQUIRE_SM80(); check_ldmatrix<2, false>(); }
TEST(Ldmatrix, X4) { REQUIRE_SM80(); check_ldmatrix<4, false>(); }
TEST(Ldmatrix, X1Trans) { REQUIRE_SM80(); check_ldmatrix<1, true>(); }
TEST(Ldmatrix, X2Trans) { REQUIRE_SM80(); check_ldmatrix<2, true>(); }
TEST(Ldmatrix, X4Trans) { REQUIRE_SM80(); check_ldmatrix<4, true>(); }

// The usual pairing: A (16x16 row-major) by ldmatrix.x4, B ([k][n], 16x8 row-major) by
// ldmatrix.x2.trans, straight into mma.m16n8k16; D row-major.
__global__ void __launch_bounds__(32)
ldmatrix_mma_kernel(const uint16_t* a, const uint16_t* b, float* d) {
  KILN_DYNAMIC_SHARED(uint16_t, s);  // A: 256 elements, then B: 128
  const int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
  for (int e = lane; e < 256; e += 32) s[e] = a[e];
  for (int e = lane; e < 128; e += 32) s[256 + e] = b[e];
  __syncthreads();
  uint32_t af[4], bf[2];
  const int j = lane / 8, r = lane % 8;  // matrix j: rows (j & 1) * 8 + r, columns (j >> 1) * 8
  kiln::mma::ldmatrix_x4(af, s + ((j & 1) * 8 + r) * 16 + (j >> 1) * 8);
  kiln::mma::ldmatrix_x2_trans(bf, s + 256 + ((j & 1) * 8 + r) * 8);
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  kiln::mma::mma_m16n8k16_bf16(acc, af, bf, acc);
  for (int i = 0; i < 4; ++i) d[(g + (i >= 2 ? 8 : 0)) * 8 + 2 * t + (i & 1)] = acc[i];
}

TEST(Ldmatrix, FeedsMmaWithTheIsaLayouts) {
  REQUIRE_SM80();
  const std::vector<float> af = random_floats(256, 21), bf = random_floats(128, 22);
  std::vector<uint16_t> a16(256), b16(128);
  std::vector<float> aq(256), bq(128), zero(128, 0.0f);
  for (int i = 0; i < 256; ++i) aq[i] = kiln::bf16_to_float({a16[i] = kiln::float_to_bf16_rne(af[i]).bits});
  for (int i = 0; i < 128; ++i) bq[i] = kiln::bf16_to_float({b16[i] = kiln::float_to_bf16_rne(bf[i]).bits});
  DeviceBuffer<uint16_t> da(a16), db(b16);
  DeviceBuffer<float> dd(zero);
  kiln::launch(ldmatrix_mma_kernel, 1, 32, 384 * sizeof(uint16_t), nullptr, da.get(), db.get(),
               dd.get());
  EXPECT_LE(max_excess(dd.download(), reference(aq, bq, zero, 16)), 0.0);
}

// ---- cp.async -----------------------------------------------------------------------------------

// Three commit groups per thread: 0 = one 16-byte .cg copy; 1 = an 8-byte copy and an 8-byte copy
// of which only 4 bytes are read (zero-filled tail); 2 = four 4-byte copies, the first with
// src_bytes 0 (all zero). out[0..383] = the three 128-float stages after the waits;
// out[384 + t] = stage 1 read between wait_group 2 and wait_group 0 (emulator: NaN).
__global__ void __launch_bounds__(32) cp_async_kernel(const float* src, float* out) {
  KILN_DYNAMIC_SHARED(float, sf);  // (extern __shared__ names differ by type)
  const int t = threadIdx.x;
  kiln::mma::cp_async_cg16(sf + 4 * t, src + 4 * t);
  kiln::mma::cp_async_commit();
  kiln::mma::cp_async_ca<8>(sf + 128 + 4 * t, src + 128 + 4 * t);
  kiln::mma::cp_async_ca<8>(sf + 128 + 4 * t + 2, src + 128 + 4 * t + 2, 4);
  kiln::mma::cp_async_commit();
  for (int e = 0; e < 4; ++e)
    kiln::mma::cp_async_ca<4>(sf + 256 + 4 * t + e, src + 256 + 4 * t + e, e == 0 ? 0 : 4);
  kiln::mma::cp_async_commit();
  kiln::mma::cp_async_wait<2>();  // group 0 complete; 1 and 2 may be in flight
  for (int e = 0; e < 4; ++e) out[4 * t + e] = sf[4 * t + e];  // own copies: no barrier needed
  out[384 + t] = sf[128 + 4 * t];
  kiln::mma::cp_async_wait<0>();
  __syncthreads();
  for (int e = t; e < 256; e += 32) out[128 + e] = sf[128 + e];
}

TEST(CpAsync, CommitGroupsWaitGroupsAndZeroFill) {
  REQUIRE_SM80();
  std::vector<float> src(384);
  for (int i = 0; i < 384; ++i) src[i] = static_cast<float>(i + 1);
  DeviceBuffer<float> dsrc(src), dout(std::vector<float>(416, 0.0f));
  kiln::launch(cp_async_kernel, 1, 32, 384 * sizeof(float), nullptr, dsrc.get(), dout.get());
  const std::vector<float> out = dout.download();
  for (int t = 0; t < 32; ++t) {
    for (int e = 0; e < 4; ++e) EXPECT_EQ(out[4 * t + e], src[4 * t + e]) << t;
    EXPECT_EQ(out[128 + 4 * t], src[128 + 4 * t]);
    EXPECT_EQ(out[128 + 4 * t + 1], src[128 + 4 * t + 1]);
    EXPECT_EQ(out[128 + 4 * t + 2], src[128 + 4 * t + 2]);  // the 4 bytes read
    EXPECT_EQ(out[128 + 4 * t + 3], 0.0f);                  // the zero-filled tail
    EXPECT_EQ(out[256 + 4 * t], 0.0f);                      // src_bytes 0: all zero
    for (int e = 1; e < 4; ++e) EXPECT_EQ(out[256 + 4 * t + e], src[256 + 4 * t + e]);
#if defined(KILN_EMULATE)
    // A read of a group not yet waited for sees the emulator's NaN, never early data.
    EXPECT_TRUE(std::isnan(out[384 + t])) << "lane " << t << " read " << out[384 + t];
#endif
  }
}

#if defined(KILN_EMULATE)
// ---- what only the emulator can report ---------------------------------------------------------

using kiln::testing::launch_error;

__global__ void __launch_bounds__(32) half_warp_mma(float* d) {
  if (threadIdx.x >= 16) return;  // lanes 16-31 exit: the .aligned mma cannot complete
  uint32_t a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
  float c[4] = {0, 0, 0, 0};
  kiln::mma::mma_m16n8k16_f16(c, a, b, c);
  d[threadIdx.x] = c[0];
}

TEST(MmaEmulator, AnMmaWithoutTheWholeWarpIsAnError) {
  DeviceBuffer<float> d(std::vector<float>(32, 0.0f));
  const std::string e = launch_error([&] { kiln::launch(half_warp_mma, 1, 32, 0, nullptr, d.get()); });
  EXPECT_HAS(e, "half_warp_mma");
  EXPECT_HAS(e, "mma_test.cu");  // the warp error names the kernel's line, not mma.cuh
}

__global__ void __launch_bounds__(32) misaligned_cp_async(const float* src) {
  KILN_DYNAMIC_SHARED(float, sf);
  kiln::mma::cp_async_cg16(sf + 1, src);  // 4-byte aligned, needs 16
  kiln::mma::cp_async_wait_all();
}

__global__ void __launch_bounds__(32) cp_async_to_global(float* dst, const float* src) {
  kiln::mma::cp_async_ca<4>(dst + threadIdx.x, src + threadIdx.x);
  kiln::mma::cp_async_wait_all();
}

__global__ void __launch_bounds__(32) ldmatrix_misaligned(uint32_t* out) {
  KILN_DYNAMIC_SHARED(uint16_t, s);
  uint32_t r[1];
  kiln::mma::ldmatrix_x1(r, s + threadIdx.x * 8 + 1);
  out[threadIdx.x] = r[0];
}

TEST(MmaEmulator, BadAddressesAreErrors) {
  DeviceBuffer<float> src(std::vector<float>(64, 1.0f)), dst(std::vector<float>(64, 0.0f));
  DeviceBuffer<uint32_t> out(std::vector<uint32_t>(32, 0));
  EXPECT_HAS(launch_error([&] { kiln::launch(misaligned_cp_async, 1, 32, 256, nullptr, src.get()); }),
             "16-byte aligned");
  EXPECT_HAS(launch_error([&] {
               kiln::launch(cp_async_to_global, 1, 32, 0, nullptr, dst.get(), src.get());
             }),
             "writes shared memory");
  EXPECT_HAS(launch_error([&] { kiln::launch(ldmatrix_misaligned, 1, 32, 1024, nullptr, out.get()); }),
             "not 16-byte aligned");
}
#endif

}  // namespace
