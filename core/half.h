// kiln's 16-bit floating-point storage types and their conversions (and TF32 rounding), free of CUDA headers so that
// core/ stays CUDA-free in every flavour:
//   bf16: bfloat16, the top 16 bits of an IEEE binary32 (8-bit exponent, 7-bit mantissa);
//   f16:  IEEE binary16 (5-bit exponent, 10-bit mantissa, subnormals down to 2^-24).
// The bit layouts are those of __nv_bfloat16 and __half (and of safetensors' BF16/F16), so device
// buffers of these types can be handed to cuBLAS or reinterpreted by kernels as the CUDA types.
//
// float -> 16 bit rounds to nearest, ties to even (as __float2bfloat16_rn / __float2half_rn and
// PyTorch do); overflow gives ±inf; NaN stays NaN (quiet, sign kept); subnormal results are kept,
// not flushed. 16 bit -> float is exact. The functions are KILN_HD: the conversion kernels and the
// CPU twin call the same code, so they agree bit for bit.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/hd.h"

namespace kiln {

struct bf16 {
  uint16_t bits;
};
struct f16 {
  uint16_t bits;
};
static_assert(sizeof(bf16) == 2 && sizeof(f16) == 2);

KILN_HD uint32_t float_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
KILN_HD float bits_float(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

KILN_HD float bf16_to_float(bf16 h) { return bits_float(static_cast<uint32_t>(h.bits) << 16); }

KILN_HD bf16 float_to_bf16_rne(float x) {
  const uint32_t u = float_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u)  // NaN: keep the sign and top payload bits, force quiet
    return bf16{static_cast<uint16_t>((u >> 16) | 0x0040u)};
  // Adding 0x7fff plus the lowest kept bit rounds to nearest, ties to even; a carry out of the
  // mantissa bumps the exponent, and the largest finite values round up to inf, as they should.
  const uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);
  return bf16{static_cast<uint16_t>(rounded >> 16)};
}

KILN_HD float f16_to_float(f16 h) {
  const uint32_t sign = static_cast<uint32_t>(h.bits & 0x8000u) << 16;
  const uint32_t exp = (h.bits >> 10) & 0x1fu;
  uint32_t mant = h.bits & 0x3ffu;
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (mant << 13));  // inf, NaN
  if (exp != 0) return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return bits_float(sign);  // ±0
  // Subnormal: mant * 2^-24, normalised into binary32 (always a normal number there).
  int e = 113;  // biased binary32 exponent of 2^-14
  while ((mant & 0x400u) == 0) {
    mant <<= 1;
    --e;
  }
  return bits_float(sign | (static_cast<uint32_t>(e) << 23) | ((mant & 0x3ffu) << 13));
}

KILN_HD f16 float_to_f16_rne(float x) {
  const uint32_t u = float_bits(x);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u)  // NaN: quiet, sign and top payload bits kept
    return f16{static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu))};
  if (a >= 0x477ff000u) return f16{static_cast<uint16_t>(sign | 0x7c00u)};  // rounds to >= 2^16: inf
  if (a >= 0x38800000u) {  // normal in binary16 (>= 2^-14): drop 13 mantissa bits, RNE
    const uint32_t rounded = a + 0x0fffu + ((a >> 13) & 1u);
    return f16{static_cast<uint16_t>(sign | ((rounded >> 13) - (112u << 10)))};
  }
  if (a < 0x33000000u) return f16{sign};  // below half the smallest subnormal (2^-25): ±0
  // Subnormal result: the value in units of 2^-24, rounded to nearest even. The implicit bit is
  // put back and the mantissa shifted by 126 - exp (14..24 places).
  const uint32_t exp = a >> 23;
  const uint32_t mant = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - exp;
  const uint32_t q = mant >> shift;
  const uint32_t rest = mant & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1u);
  const uint32_t r = q + ((rest > half || (rest == half && (q & 1u))) ? 1u : 0u);
  return f16{static_cast<uint16_t>(sign | r)};  // r == 0x400 is the smallest normal: still right
}

// TF32 (8-bit exponent, 10-bit mantissa, kept in the top 19 bits of a binary32) as the GPU's
// cvt.rna.tf32.f32 makes it: round to nearest, ties AWAY from zero (add half an ulp of the kept
// part to the magnitude bits, then clear the low 13 bits; finite values next to FLT_MAX round up
// to inf); inf stays inf. A GPU clears the low 13 bits of a NaN as well, which can turn a NaN
// whose payload lies only there into inf; here every NaN stays a (quiet) NaN.
KILN_HD float float_to_tf32_rna(float x) {
  const uint32_t u = float_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bits_float((u & 0xffffe000u) | 0x00400000u);
  if ((u & 0x7fffffffu) == 0x7f800000u) return x;
  return bits_float((u + 0x1000u) & 0xffffe000u);
}

// What a tensor core does with an FP32 operand given to a .tf32 mma that was not rounded to TF32
// first: it uses the top 19 bits only (truncation toward zero).
KILN_HD float tf32_truncate(float x) { return bits_float(float_bits(x) & 0xffffe000u); }

}  // namespace kiln
