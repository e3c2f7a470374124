// MathPrecision: the precision of a product's operands, with one meaning everywhere (DESIGN.md,
// principle 9): each operand is rounded to the format as the tensor cores see it, the products and
// the sums are FP32. So F32 is plain FP32; TF32 rounds to 10 mantissa bits, nearest with ties away
// from zero (cvt.rna.tf32.f32, what kernels/mma.cuh's to_tf32 does); BF16 and F16 round to nearest,
// ties to even (__float2bfloat16_rn / __float2half_rn). A product of two rounded operands is exact
// in FP32 for all three, so a CPU twin that rounds copies of the operands and calls SGEMM computes
// what the tensor cores compute, up to the order of the FP32 sums.
// Where: the rounding functions are core/half.h's (the kernels call the same ones); GEMM
// (kernels/gemm.h: gemm_rounded, gemm_v3_tc, gemm_cublas_rounded).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/half.h"
#include "core/hd.h"

namespace kiln {

enum class MathPrecision : uint8_t { F32, TF32, BF16, F16 };

inline const char* precision_name(MathPrecision p) {
  switch (p) {
    case MathPrecision::F32: return "f32";
    case MathPrecision::TF32: return "tf32";
    case MathPrecision::BF16: return "bf16";
    case MathPrecision::F16: return "f16";
  }
  return "?";
}

// The names a config or the command line uses: "fp32", "tf32", "bf16", "fp16" (and the short
// "f32", "f16" of precision_name); nullopt for anything else.
inline std::optional<MathPrecision> precision_from_name(std::string_view name) {
  if (name == "fp32" || name == "f32") return MathPrecision::F32;
  if (name == "tf32") return MathPrecision::TF32;
  if (name == "bf16") return MathPrecision::BF16;
  if (name == "fp16" || name == "f16") return MathPrecision::F16;
  return std::nullopt;
}

// x as an operand of precision p sees it, widened back to float (exact).
KILN_HD float round_to_precision(MathPrecision p, float x) {
  switch (p) {
    case MathPrecision::TF32: return float_to_tf32_rna(x);
    case MathPrecision::BF16: return bf16_to_float(float_to_bf16_rne(x));
    case MathPrecision::F16: return f16_to_float(float_to_f16_rne(x));
    case MathPrecision::F32: break;
  }
  return x;
}

}  // namespace kiln
