// Op-table rows for the optimiser updates (kernels/optim.cu vs cpu_fallback/optim.cpp): plain SGD,
// momentum (first step and later steps, dampening, weight decay), Nesterov, Adam with L2 weight
// decay and AdamW, on odd sizes, in float4 and scalar (unaligned) paths, and with the gradient scale
// read from memory (clipping's scale computed on the device; "_devscale"). The state buffers start
// random (v non-negative) and are compared after the step.
#include <fmt/format.h>

#include <limits>
#include <vector>

#include "kernels/optim.h"
#include "tests/parity/op_table.h"

namespace kiln::optable {
namespace {

// Unaligned cases pass pointers one element into every buffer (the kernels' scalar path); the
// skipped element keeps its random start on both sides.
// The gradient-scale buffer (1 float in [0.25, 0.75]) of a "_devscale" case, last in the list.
void add_scale_buffer(OpCase& c) { c.buffers.push_back({.name = "grad_scale", .numel = 1, .lo = 0.25f, .hi = 0.75f}); }

void add_sgd(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, SgdShape s, const char* variant, bool unaligned, bool bench,
             bool device_scale = false) {
  const int64_t off = unaligned ? 1 : 0, numel = s.count + off;
  const bool has_buf = s.momentum != 0.0f;
  OpCase c;
  c.op = "sgd_update";
  c.shape = fmt::format("{}_n{}_step{}{}{}", variant, s.count, s.step, unaligned ? "_unaligned" : "",
                        device_scale ? "_devscale" : "");
  c.buffers = {{.name = "param", .numel = numel, .role = Role::Accumulate}, {.name = "grad", .numel = numel}};
  if (has_buf) c.buffers.push_back({.name = "momentum_buf", .numel = numel, .role = Role::Accumulate});
  if (device_scale) add_scale_buffer(c);
  const size_t scale_at = c.buffers.size() - 1;
  c.cpu = [s, off, has_buf, device_scale, scale_at](const Args& a, const Stream& st) {
    cpu::sgd_update(s, a.f(0) + off, a.f(1) + off, has_buf ? a.f(2) + off : nullptr,
                    device_scale ? a.f(scale_at) : nullptr, st);
  };
#if KILN_WITH_DEVICE
  c.gpu = grid_stride_versions(sizes, [s, off, has_buf, device_scale, scale_at](const Args& a, const Stream& st) {
    gpu::sgd_update(s, a.f(0) + off, a.f(1) + off, has_buf ? a.f(2) + off : nullptr,
                    device_scale ? a.f(scale_at) : nullptr, st);
  });
#endif
  c.flops = s.flops();
  c.bytes = s.bytes();
  c.bench = bench;
  cases.push_back(c);
}

void add_adam(std::vector<OpCase>& cases, [[maybe_unused]] Sizes sizes, AdamShape s, const char* variant, bool unaligned, bool bench,
              bool device_scale = false) {
  const int64_t off = unaligned ? 1 : 0, numel = s.count + off;
  OpCase c;
  c.op = "adam_update";
  c.shape = fmt::format("{}_n{}_step{}{}{}", variant, s.count, s.step, unaligned ? "_unaligned" : "",
                        device_scale ? "_devscale" : "");
  c.buffers = {{.name = "param", .numel = numel, .role = Role::Accumulate},
               {.name = "grad", .numel = numel},
               {.name = "m", .numel = numel, .role = Role::Accumulate, .lo = -0.1f, .hi = 0.1f},
               {.name = "v", .numel = numel, .role = Role::Accumulate, .lo = 0.0f, .hi = 0.01f}};
  if (device_scale) add_scale_buffer(c);
  c.cpu = [s, off, device_scale](const Args& a, const Stream& st) {
    cpu::adam_update(s, a.f(0) + off, a.f(1) + off, a.f(2) + off, a.f(3) + off, device_scale ? a.f(4) : nullptr, st);
  };
#if KILN_WITH_DEVICE
  c.gpu = grid_stride_versions(sizes, [s, off, device_scale](const Args& a, const Stream& st) {
    gpu::adam_update(s, a.f(0) + off, a.f(1) + off, a.f(2) + off, a.f(3) + off, device_scale ? a.f(4) : nullptr, st);
  });
#endif
  c.flops = s.flops();
  c.bytes = s.bytes();
  c.bench = bench;
  cases.push_back(c);
}

SgdShape sgd(int64_t count, float momentum, float dampening, float wd, bool nesterov, int64_t step) {
  SgdShape s;
  s.count = count;
  s.lr = 0.05f;
  s.momentum = momentum;
  s.dampening = dampening;
  s.weight_decay = wd;
  s.nesterov = nesterov;
  s.step = step;
  return s;
}

AdamShape adam(int64_t count, float wd, bool decoupled, int64_t step) {
  AdamShape s;
  s.count = count;
  s.lr = 1e-3f;
  s.weight_decay = wd;
  s.decoupled = decoupled;
  s.step = step;
  return s;
}

}  // namespace

void add_optim_cases(std::vector<OpCase>& cases, Sizes sizes) {
  if (sizes == Sizes::Test) {
    for (int64_t n : {1, 7, 33, 4099}) {
      add_sgd(cases, sizes, sgd(n, 0.0f, 0.0f, 0.0f, false, 1), "plain", false, false);
      add_sgd(cases, sizes, sgd(n, 0.9f, 0.0f, 0.0f, false, 1), "momentum", false, false);
      add_sgd(cases, sizes, sgd(n, 0.9f, 0.1f, 5e-4f, false, 7), "momentum_damp_wd", false, false);
      add_sgd(cases, sizes, sgd(n, 0.9f, 0.0f, 5e-4f, true, 3), "nesterov_wd", false, false);
      add_adam(cases, sizes, adam(n, 0.0f, false, 1), "adam", false, false);
      add_adam(cases, sizes, adam(n, 1e-2f, false, 10), "adam_l2", false, false);
      add_adam(cases, sizes, adam(n, 1e-2f, true, 10), "adamw", false, false);
    }
    add_sgd(cases, sizes, sgd(1027, 0.9f, 0.0f, 5e-4f, true, 3), "nesterov_wd", true, false);
    add_sgd(cases, sizes, sgd(1027, 0.0f, 0.0f, 5e-4f, false, 2), "plain_wd", true, false);
    add_adam(cases, sizes, adam(1027, 1e-2f, true, 1000), "adamw", true, false);
    for (int64_t n : {7, 1027}) {
      add_sgd(cases, sizes, sgd(n, 0.9f, 0.0f, 5e-4f, false, 2), "momentum_wd", false, false, true);
      add_sgd(cases, sizes, sgd(n, 0.0f, 0.0f, 0.0f, false, 1), "plain", n == 1027, false, true);
      add_adam(cases, sizes, adam(n, 1e-2f, true, 3), "adamw", n == 1027, false, true);
    }
    // A NaN or inf device scale (FP16 loss scaling's overflowed step) skips the update: the GPU
    // must leave param and the state untouched exactly as the CPU twin does.
    const float skips[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()};
    for (float skip : skips) {
      add_sgd(cases, sizes, sgd(33, 0.9f, 0.0f, 5e-4f, false, 2), skip != skip ? "skip_nan" : "skip_inf", false,
              false, true);
      add_adam(cases, sizes, adam(33, 1e-2f, true, 3), skip != skip ? "skip_nan" : "skip_inf", false, false, true);
      for (size_t i : {cases.size() - 2, cases.size() - 1}) {
        OpCase& c = cases[i];
        const size_t at = c.buffers.size() - 1;
        c.prepare = [at, skip](const Args& host) { host.f(at)[0] = skip; };
      }
    }
  } else {
    // AlexNet's largest parameter block, fc6 (4096 x 9216 = 37.7M of its 60M parameters).
    const int64_t n = int64_t{4096} * 9216;
    add_sgd(cases, sizes, sgd(n, 0.9f, 0.0f, 5e-4f, false, 2), "momentum_wd", false, true);
    add_sgd(cases, sizes, sgd(n, 0.9f, 0.0f, 5e-4f, true, 2), "nesterov_wd", false, true);
    add_adam(cases, sizes, adam(n, 1e-2f, true, 2), "adamw", false, true);
  }
}

}  // namespace kiln::optable
