#include "tests/parity/harness.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>

#include "core/half.h"
#include "core/philox.h"
#include "core/stream.h"
#include "core/tensor.h"

namespace kiln::optable {
namespace {

constexpr int64_t kGuardWords = 64;
constexpr uint32_t kGuard = 0xDEADBEEFu;
constexpr uint32_t kUnwritten = 0x7FC0FFEEu;  // a quiet NaN: an unwritten output fails comparison

bool compared(const Buffer& b) { return b.role != Role::Input; }

bool is16(const Buffer& b) { return b.dtype == DType::BF16 || b.dtype == DType::F16; }

// 32-bit words that hold the buffer (16-bit elements two to a word, the lower one in the low half).
size_t words_for(const Buffer& b) {
  return static_cast<size_t>(is16(b) ? (b.numel + 1) / 2 : b.numel);
}

uint16_t half_of(const std::vector<uint32_t>& w, int64_t j) {
  return static_cast<uint16_t>(w[static_cast<size_t>(j / 2)] >> (16 * (j & 1)));
}

// The elements of a buffer as 32-bit words: F32/I32 as they are, BF16/F16 widened to float bits.
std::vector<uint32_t> element_words(const Buffer& b, const std::vector<uint32_t>& w) {
  if (!is16(b)) return w;
  std::vector<uint32_t> out(static_cast<size_t>(b.numel));
  for (int64_t j = 0; j < b.numel; ++j) {
    const uint16_t h = half_of(w, j);
    out[j] = float_bits(b.dtype == DType::BF16 ? bf16_to_float(bf16{h}) : f16_to_float(f16{h}));
  }
  return out;
}

float as_float(uint32_t w) {
  float f;
  std::memcpy(&f, &w, 4);
  return f;
}

}  // namespace

Args HostBuffers::args() {
  Args a;
  for (auto& w : words) a.ptr.push_back(w.data());
  return a;
}

HostBuffers make_initial(const OpCase& c, uint64_t seed) {
  HostBuffers h;
  for (size_t i = 0; i < c.buffers.size(); ++i) {
    const Buffer& b = c.buffers[i];
    std::vector<uint32_t> w(words_for(b));
    const uint64_t key = seed * 1000003 + i;
    if (b.role == Role::Output) {
      std::fill(w.begin(), w.end(), kUnwritten);  // both halves are NaN as BF16 and as F16
    } else if (is16(b)) {
      for (int64_t j = 0; j < b.numel; ++j) {
        const float f = philox_uniform(key, 0, j, b.lo, b.hi);
        const uint32_t h = b.dtype == DType::BF16 ? float_to_bf16_rne(f).bits : float_to_f16_rne(f).bits;
        w[j / 2] |= h << (16 * (j & 1));
      }
    } else if (b.dtype == DType::I32) {
      for (int64_t j = 0; j < b.numel; ++j) {
        w[j] = b.int_range > 0 ? philox_u32(key, 0, j) % static_cast<uint32_t>(b.int_range) : 0;
      }
    } else {
      for (int64_t j = 0; j < b.numel; ++j) {
        const float f = philox_uniform(key, 0, j, b.lo, b.hi);
        std::memcpy(&w[j], &f, 4);
      }
    }
    h.words.push_back(std::move(w));
  }
  if (c.prepare) c.prepare(h.args());
  return h;
}

HostBuffers run_cpu(const OpCase& c, const HostBuffers& initial) {
  HostBuffers h = initial;
  const Stream cpu = Stream::default_for(Device::cpu());
  c.cpu(h.args(), cpu);
  return h;
}

DeviceBuffers::DeviceBuffers(const OpCase&, const HostBuffers& initial) {
  const Device dev = Device::cuda(0);
  for (const auto& w : initial.words) {
    std::vector<uint32_t> padded(w);
    padded.resize(w.size() + kGuardWords, kGuard);
    Tensor t = Tensor::empty({static_cast<int64_t>(padded.size())}, dev, DType::I32);
    copy_bytes(t.raw_data(), dev, padded.data(), Device::cpu(), padded.size() * 4);
    args.ptr.push_back(t.raw_data());
    tensors.push_back(std::move(t));
  }
}

GpuRun run_gpu(const OpCase& c, const Version& v, const HostBuffers& initial) {
  const Device dev = Device::cuda(0);
  const Stream stream = Stream::default_for(dev);
  DeviceBuffers buffers(c, initial);
  v.run(buffers.args, stream);
  stream.synchronize();
  const std::vector<Tensor>& device_buffers = buffers.tensors;

  GpuRun run;
  for (size_t i = 0; i < device_buffers.size(); ++i) {
    const Buffer& b = c.buffers[i];
    std::vector<uint32_t> padded(initial.words[i].size() + kGuardWords);
    copy_bytes(padded.data(), Device::cpu(), device_buffers[i].raw_data(), dev, padded.size() * 4);
    const size_t words = words_for(b);
    if (is16(b) && (b.numel & 1) && (padded[words - 1] >> 16) != (initial.words[i][words - 1] >> 16)) {
      run.problems.push_back(fmt::format("buffer '{}' ({} 16-bit elements): the half word past its end was "
                                         "overwritten (out-of-bounds write)", b.name, b.numel));
    }
    for (int64_t g = 0; g < kGuardWords; ++g) {
      if (padded[words + static_cast<size_t>(g)] != kGuard) {
        run.problems.push_back(fmt::format("buffer '{}' ({} elements): the guard word {} past its end was "
                                           "overwritten (out-of-bounds write)", b.name, b.numel, g));
        break;
      }
    }
    padded.resize(words);
    if (b.role == Role::Input && padded != initial.words[i]) {
      run.problems.push_back(fmt::format("input buffer '{}' was modified by the kernel", b.name));
    }
    run.result.words.push_back(std::move(padded));
  }
  return run;
}

Comparison compare(const OpCase& c, const HostBuffers& ref, const HostBuffers& got, double tolerance_scale) {
  Comparison cmp;
  for (size_t i = 0; i < c.buffers.size(); ++i) {
    const Buffer& b = c.buffers[i];
    if (!compared(b)) continue;
    BufferReport r;
    r.name = b.name;
    const std::vector<uint32_t> rw = element_words(b, ref.words[i]);
    const std::vector<uint32_t> gw = element_words(b, got.words[i]);
    double sum_sq_ref = 0, sum_sq_err = 0;
    if (b.dtype != DType::I32) {
      for (uint32_t w : rw) sum_sq_ref += double(as_float(w)) * as_float(w);
    }
    const double rms = b.numel ? std::sqrt(sum_sq_ref / b.numel) : 0;
    const double tol = tolerance(b) * tolerance_scale;
    for (int64_t j = 0; j < b.numel; ++j) {
      bool bad;
      double err = 0;
      std::string text;
      if (b.dtype == DType::I32 || c.exact) {
        bad = rw[j] != gw[j];
        if (b.dtype == DType::I32) {
          err = std::fabs(double(int32_t(gw[j])) - double(int32_t(rw[j])));
          text = fmt::format("index {}: got {} expected {}", j, int32_t(gw[j]), int32_t(rw[j]));
        } else {
          err = std::fabs(double(as_float(gw[j])) - as_float(rw[j]));
          text = fmt::format("index {}: got {:.9g} expected {:.9g} (bit-exact op)", j, as_float(gw[j]),
                             as_float(rw[j]));
        }
      } else {
        const double e = as_float(rw[j]), g = as_float(gw[j]);
        err = std::fabs(g - e);
        const double allowed = tol * (std::fabs(e) + rms);
        bad = !std::isfinite(g) ? std::isfinite(e) || std::isnan(e) != std::isnan(g) : !(err <= allowed);
        if (!std::isfinite(e) && !std::isfinite(g) && std::isnan(e) == std::isnan(g)) bad = false;
        text = fmt::format("index {}: got {:.9g} expected {:.9g} (allowed error {:.3g})", j, g, e, allowed);
      }
      if (std::isfinite(err)) sum_sq_err += err * err;
      if (!(err <= r.max_abs_error) && std::isfinite(err)) {
        r.max_abs_error = err;
        r.max_error_index = j;
      }
      if (bad) {
        if (r.first_mismatch < 0) {
          r.first_mismatch = j;
          r.first_mismatch_text = text;
        }
        ++r.mismatches;
      }
    }
    r.normalised_mse = sum_sq_ref > 0 ? sum_sq_err / sum_sq_ref : sum_sq_err;
    if (r.mismatches) cmp.ok = false;
    cmp.buffers.push_back(std::move(r));
  }
  return cmp;
}

std::string Comparison::summary() const {
  std::string s;
  for (const BufferReport& r : buffers) {
    s += fmt::format("  {}: max error {:.3g} (at {}), normalised MSE {:.3g}, {} mismatches{}{}\n", r.name,
                     r.max_abs_error, r.max_error_index, r.normalised_mse, r.mismatches,
                     r.mismatches ? "; first at " : "", r.first_mismatch_text);
  }
  return s;
}

std::string case_name(const OpCase& c, const std::string& version) {
  std::string name = c.op + "__" + c.shape + "__" + version;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

}  // namespace kiln::optable
