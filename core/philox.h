// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), usable from
// host code and from kernels, so the CPU path and the GPU draw bit-identical numbers.
//
// A stream of random numbers is keyed by (seed, offset): element i of a draw uses counter
// (offset + i/4, ...) so any element can be computed independently, in any order, on any device.
// The float helpers avoid the device's fast math and FMA contraction (explicit round-to-nearest
// operations and our own log/sin/cos polynomials), so normals are identical too.
#pragma once

#include <cstdint>

#include "core/hd.h"

namespace kiln {

struct Philox4x32 {
  uint32_t v[4];
};

namespace philox_detail {
constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;

KILN_HD void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// Float arithmetic that neither compiler may contract or approximate.
#if defined(__CUDA_ARCH__)
KILN_HD float add(float a, float b) { return __fadd_rn(a, b); }
KILN_HD float mul(float a, float b) { return __fmul_rn(a, b); }
KILN_HD float div(float a, float b) { return __fdiv_rn(a, b); }
KILN_HD float fma(float a, float b, float c) { return __fmaf_rn(a, b, c); }
KILN_HD uint32_t bits_of(float x) { return __float_as_uint(x); }
KILN_HD float float_of(uint32_t x) { return __uint_as_float(x); }
#else
KILN_HD float add(float a, float b) { volatile float r = a + b; return r; }
KILN_HD float mul(float a, float b) { volatile float r = a * b; return r; }
KILN_HD float div(float a, float b) { volatile float r = a / b; return r; }
KILN_HD float fma(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
KILN_HD uint32_t bits_of(float x) { uint32_t u; __builtin_memcpy(&u, &x, 4); return u; }
KILN_HD float float_of(uint32_t u) { float x; __builtin_memcpy(&x, &u, 4); return x; }
#endif
}  // namespace philox_detail

// One Philox4x32-10 block: 4 random words from a 128-bit counter and a 64-bit key.
KILN_HD Philox4x32 philox4x32_10(Philox4x32 ctr, uint32_t key0, uint32_t key1) {
  using namespace philox_detail;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kMul0, ctr.v[0], hi0, lo0);
    mulhilo(kMul1, ctr.v[2], hi1, lo1);
    ctr = Philox4x32{{hi1 ^ ctr.v[1] ^ key0, lo1, hi0 ^ ctr.v[3] ^ key1, lo0}};
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  return ctr;
}

// The 4 words at position `block` of the stream keyed by (seed, offset).
// Counter = (block + offset) as 64 bits in words 0-1, words 2-3 zero; key = seed.
KILN_HD Philox4x32 philox_block(uint64_t seed, uint64_t offset, uint64_t block) {
  const uint64_t c = offset + block;
  return philox4x32_10(Philox4x32{{static_cast<uint32_t>(c), static_cast<uint32_t>(c >> 32), 0u, 0u}},
                       static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Element i of the stream (4 elements per block).
KILN_HD uint32_t philox_u32(uint64_t seed, uint64_t offset, uint64_t i) {
  return philox_block(seed, offset, i >> 2).v[i & 3];
}

// Uniform in [0, 1) with 24 random bits: exact in float, identical on every device.
KILN_HD float uniform_from_u32(uint32_t x) { return static_cast<float>(x >> 8) * 0x1.0p-24f; }
// Uniform in (0, 1]: safe to take the log of.
KILN_HD float uniform_open0_from_u32(uint32_t x) {
  return static_cast<float>((x >> 8) + 1u) * 0x1.0p-24f;
}

namespace philox_detail {
// log(x) for x > 0 normal, |error| < 2e-7 relative: x = m·2^e, m in [sqrt(1/2), sqrt(2)),
// log m = 2·atanh(s), s = (m-1)/(m+1), by an odd series in s.
KILN_HD float log_det(float x) {
  // frexp by bits: exact and identical everywhere.
  const uint32_t bits = bits_of(x);
  int e = static_cast<int>((bits >> 23) & 0xFF) - 126;
  float m = float_of((bits & 0x807FFFFFu) | 0x3F000000u);  // m in [0.5, 1)
  if (m < 0.70710678f) {
    m = mul(m, 2.0f);
    e -= 1;
  }
  const float s = div(add(m, -1.0f), add(m, 1.0f));
  const float s2 = mul(s, s);
  float p = fma(s2, 0.11111111f, 0.14285715f);
  p = fma(s2, p, 0.2f);
  p = fma(s2, p, 0.33333334f);
  p = fma(s2, p, 1.0f);
  const float log_m = mul(mul(2.0f, s), p);
  return fma(static_cast<float>(e), 0.69314718f, log_m);
}

// sin and cos of (pi/2)·t for t in [0, 1], Taylor polynomials, |error| < 1e-7.
KILN_HD float sin_quarter(float t) {
  const float x = mul(t, 1.5707964f);
  const float x2 = mul(x, x);
  float p = fma(x2, -2.5052108e-8f, 2.7557319e-6f);
  p = fma(x2, p, -1.9841270e-4f);
  p = fma(x2, p, 8.3333333e-3f);
  p = fma(x2, p, -1.6666667e-1f);
  p = fma(x2, p, 1.0f);
  return mul(x, p);
}
KILN_HD float cos_quarter(float t) {
  const float x = mul(t, 1.5707964f);
  const float x2 = mul(x, x);
  float p = fma(x2, 2.0876757e-9f, -2.7557319e-7f);
  p = fma(x2, p, 2.4801587e-5f);
  p = fma(x2, p, -1.3888889e-3f);
  p = fma(x2, p, 4.1666667e-2f);
  p = fma(x2, p, -0.5f);
  return fma(x2, p, 1.0f);
}

// sin and cos of 2·pi·u for u in [0, 1): fold into a quarter turn.
KILN_HD void sincos_turn(float u, float& s, float& c) {
  const float q4 = mul(u, 4.0f);  // exact: a power of two
  const int quadrant = static_cast<int>(q4);
  const float t = add(q4, -static_cast<float>(quadrant));  // exact
  const float st = sin_quarter(t), ct = cos_quarter(t);
  switch (quadrant & 3) {
    case 0: s = st; c = ct; break;
    case 1: s = ct; c = -st; break;
    case 2: s = -st; c = -ct; break;
    default: s = -ct; c = st; break;
  }
}
}  // namespace philox_detail

// Two standard normals from two random words (Box-Muller), bit-identical on host and device.
KILN_HD void normal2_from_u32(uint32_t a, uint32_t b, float& z0, float& z1) {
  using namespace philox_detail;
  const float u1 = uniform_open0_from_u32(a);
  const float u2 = uniform_from_u32(b);
  float r = mul(-2.0f, log_det(u1));
#if defined(__CUDA_ARCH__)
  r = __fsqrt_rn(r);
#else
  r = __builtin_sqrtf(r);  // IEEE sqrt is correctly rounded on both
#endif
  float s, c;
  sincos_turn(u2, s, c);
  z0 = mul(r, c);
  z1 = mul(r, s);
}

// A random word mapped to [lo, hi).
KILN_HD float uniform_in(uint32_t x, float lo, float hi) {
  using namespace philox_detail;
  return fma(uniform_from_u32(x), add(hi, -lo), lo);
}

// Element i of a uniform [lo, hi) stream keyed by (seed, offset).
KILN_HD float philox_uniform(uint64_t seed, uint64_t offset, uint64_t i, float lo, float hi) {
  return uniform_in(philox_u32(seed, offset, i), lo, hi);
}

// The 4 normal(mean, stddev) values of one Philox block: two Box-Muller pairs.
KILN_HD void normal4_from_block(const Philox4x32& r, float mean, float stddev, float out[4]) {
  using namespace philox_detail;
  normal2_from_u32(r.v[0], r.v[1], out[0], out[1]);
  normal2_from_u32(r.v[2], r.v[3], out[2], out[3]);
  for (int j = 0; j < 4; ++j) out[j] = fma(out[j], stddev, mean);
}

// Element i of a normal(mean, stddev) stream keyed by (seed, offset): elements 2k and 2k+1 are
// the Box-Muller pair drawn from words (2k, 2k+1) of the stream.
KILN_HD float philox_normal(uint64_t seed, uint64_t offset, uint64_t i, float mean, float stddev) {
  float block[4];
  normal4_from_block(philox_block(seed, offset, i >> 2), mean, stddev, block);
  return block[i & 3];
}

}  // namespace kiln
