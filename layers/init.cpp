#include "layers/init.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"
#include "kernels/dispatch.h"
#include "kernels/random.h"

namespace kiln {

namespace {
struct KindName {
  InitKind kind;
  const char* name;
};
constexpr KindName kKinds[] = {
    {InitKind::PytorchDefault, "pytorch_default"}, {InitKind::KaimingNormal, "kaiming_normal"},
    {InitKind::KaimingUniform, "kaiming_uniform"}, {InitKind::XavierNormal, "xavier_normal"},
    {InitKind::XavierUniform, "xavier_uniform"},   {InitKind::Normal, "normal"},
    {InitKind::Uniform, "uniform"},                 {InitKind::Constant, "constant"},
};
}  // namespace

InitKind parse_init_kind(std::string_view name) {
  std::string known;
  for (const KindName& k : kKinds) {
    if (name == k.name) return k.kind;
    known += known.empty() ? "" : ", ";
    known += k.name;
  }
  fail(fmt::format("unknown initialisation '{}' (known: {})", name, known));
}

const char* init_kind_name(InitKind kind) {
  for (const KindName& k : kKinds)
    if (k.kind == kind) return k.name;
  return "?";
}

uint64_t init_offset(std::string_view full_name) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (char c : full_name) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return (h >> 32) << 32;
}

void init_parameter(Parameter& p, uint64_t seed, uint64_t offset, const Stream& stream) {
  const double fan_in = static_cast<double>(p.fan_in), fan_out = static_cast<double>(p.fan_out);
  auto or_default = [&](double d) { return p.init.value.value_or(d); };
  bool normal = false;
  double a = 0.0, b = 0.0;  // normal: mean, std; uniform: lo, hi
  switch (p.init.kind) {
    case InitKind::PytorchDefault: b = 1.0 / std::sqrt(fan_in); a = -b; break;
    case InitKind::KaimingNormal: normal = true; b = or_default(std::sqrt(2.0)) / std::sqrt(fan_in); break;
    case InitKind::KaimingUniform: b = or_default(std::sqrt(2.0)) * std::sqrt(3.0 / fan_in); a = -b; break;
    case InitKind::XavierNormal: normal = true; b = or_default(1.0) * std::sqrt(2.0 / (fan_in + fan_out)); break;
    case InitKind::XavierUniform: b = or_default(1.0) * std::sqrt(6.0 / (fan_in + fan_out)); a = -b; break;
    case InitKind::Normal: normal = true; b = or_default(0.01); break;
    case InitKind::Uniform: b = or_default(0.05); a = -b; break;
    case InitKind::Constant:
      // A uniform draw over the empty interval [c, c) is exactly c: same call, no special kernel.
      a = b = or_default(0.0);
      break;
  }
  float* out = p.value.data<float>();
  const int64_t n = p.value.numel();
  const float fa = static_cast<float>(a), fb = static_cast<float>(b);
  const RandomShape uniform{.n = n, .seed = seed, .offset = offset, .lo = fa, .hi = fb};
  const RandomShape gaussian{.n = n, .seed = seed, .offset = offset, .mean = fa, .stddev = fb};
  if (normal) KILN_DISPATCH(p.value.device(), fill_normal, gaussian, out, stream);
  else KILN_DISPATCH(p.value.device(), fill_uniform, uniform, out, stream);
}

}  // namespace kiln
