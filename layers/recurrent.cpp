// LSTM, Embedding and TimeFlatten (declared and documented in layers/recurrent.h).
#include "layers/recurrent.h"

#include <fmt/format.h>

#include <climits>

#include "cpu_fallback/bias.h"
#include "cpu_fallback/embedding.h"
#include "cpu_fallback/gemm.h"
#include "cpu_fallback/lstm.h"
#include "layers/layer.h"
#if KILN_WITH_DEVICE
#include "kernels/bias.cuh"
#include "kernels/embedding.cuh"
#include "kernels/gemm.cuh"
#include "kernels/lstm.cuh"
#endif

namespace kiln::layers {

namespace {

int checked_int(const Layer& l, int64_t v, const char* what) {
  if (v < 1 || v > INT_MAX) layer_error(l, fmt::format("{}={} is outside [1, 2^31)", what, v));
  return static_cast<int>(v);
}

enum { kWih = 0, kWhh = 1, kBih = 2, kBhh = 3 };

}  // namespace

// ---- LSTM ----

Lstm::Lstm(std::string name, LstmOptions options) : Layer(std::move(name)), opt_(options) {}

Shape Lstm::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  if (inputs.size() != 1 && inputs.size() != 3)
    layer_error(*this, fmt::format("expects 1 input (x) or 3 (x, h0, c0), got {}", inputs.size()));
  check_dtypes(*this, dtypes);
  const Shape& x = inputs[0];
  const char* layout = opt_.batch_first ? "(N, T, F)" : "(T, N, F)";
  if (x.rank() != 3) layer_error(*this, fmt::format("expects input {}, got {}", layout, x.str()));
  if (opt_.input_size > 0 && x[2] != opt_.input_size)
    layer_error(*this, fmt::format("expects input {} with F={}, got {}", layout, opt_.input_size, x.str()));
  const int64_t n = opt_.batch_first ? x[0] : x[1], t = opt_.batch_first ? x[1] : x[0];
  checked_int(*this, n, "N");
  checked_int(*this, t, "T");
  checked_int(*this, x[2], "F");
  checked_int(*this, n * t * 4 * opt_.hidden_size, "N*T*4H");
  const Shape state{opt_.num_layers, n, opt_.hidden_size};
  for (size_t i = 1; i < inputs.size(); ++i)
    if (!(inputs[i] == state))
      layer_error(*this, fmt::format("expects {} (num_layers, N, H) = {}, got {}", i == 1 ? "h0" : "c0", state.str(),
                                     inputs[i].str()));
  return opt_.batch_first ? Shape{n, t, opt_.hidden_size} : Shape{t, n, opt_.hidden_size};
}

void Lstm::setup(const std::vector<Shape>& inputs, Device device) {
  if (!params_.empty()) return;
  opt_.input_size = static_cast<int>(inputs[0][2]);
  const int H = opt_.hidden_size, G = 4 * H;
  const Init init{InitKind::pytorch_default, std::nullopt};  // uniform(+-1/sqrt(H)) with fan_in = H
  auto add = [&](const std::string& name, const Shape& shape) {
    params_.push_back(Parameter{.name = name,
                                .value = Tensor::empty(shape, device),
                                .grad = Tensor::zeros(shape, device),
                                .init = init,
                                .fan_in = H,
                                .fan_out = G});
  };
  for (int l = 0; l < opt_.num_layers; ++l) {
    add(fmt::format("weight_ih_l{}", l), Shape{G, l == 0 ? opt_.input_size : H});
    add(fmt::format("weight_hh_l{}", l), Shape{G, H});
    if (opt_.bias) {
      add(fmt::format("bias_ih_l{}", l), Shape{G});
      add(fmt::format("bias_hh_l{}", l), Shape{G});
    }
  }
}

Tensor Lstm::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor& x = *inputs[0];
  const Device dev = x.device();
  const int N = static_cast<int>(opt_.batch_first ? x.dim(0) : x.dim(1));
  const int T = static_cast<int>(opt_.batch_first ? x.dim(1) : x.dim(0));
  const int F = static_cast<int>(x.dim(2));
  const int H = opt_.hidden_size, L = opt_.num_layers, G = 4 * H;
  const int64_t nh = static_cast<int64_t>(N) * H, ng = static_cast<int64_t>(N) * G;
  const float* h0 = inputs.size() == 3 ? inputs[1]->data<float>() : nullptr;
  const float* c0 = inputs.size() == 3 ? inputs[2]->data<float>() : nullptr;

  std::vector<Saved> saved(static_cast<size_t>(L));
  if (opt_.batch_first) {
    saved[0].x = Tensor::empty(Shape{T, N, F}, dev);
    KILN_DISPATCH(dev, swap_axes, SwapAxesShape{.a = N, .b = T, .inner = F}, x.data<float>(),
                  saved[0].x.data<float>(), stream);
  } else {
    saved[0].x = x.view();
  }
  hn_ = Tensor::empty(Shape{L, N, H}, dev);
  cn_ = Tensor::empty(Shape{L, N, H}, dev);
  Tensor hg = Tensor::empty(Shape{N, G}, dev);  // h_{t-1} W_hh^T of one step
  const LstmCellShape cs{.n = N, .h = H, .x_stride = 0, .forget_bias = opt_.forget_bias};

  for (int l = 0; l < L; ++l) {
    Saved& s = saved[static_cast<size_t>(l)];
    if (l > 0) s.x = saved[static_cast<size_t>(l - 1)].y.view();
    const int fl = static_cast<int>(s.x.dim(2));
    s.gates = Tensor::empty(Shape{T, N, G}, dev);
    s.y = Tensor::empty(Shape{T, N, H}, dev);
    s.c = Tensor::empty(Shape{T, N, H}, dev);
    float* gates = s.gates.data<float>();
    float* y = s.y.data<float>();
    float* c = s.c.data<float>();
    const float* b_ih = opt_.bias ? weight(l, kBih).data<float>() : nullptr;
    const float* b_hh = opt_.bias ? weight(l, kBhh).data<float>() : nullptr;
    // The input projection of every step at once: gates (T*N, 4H) = x (T*N, F_l) W_ih^T.
    const GemmShape gx{.m = T * N, .n = G, .k = fl, .trans_b = true};
    KILN_DISPATCH(dev, gemm, gx, s.x.data<float>(), weight(l, kWih).data<float>(), gates, stream);
    const GemmShape gh{.m = N, .n = G, .k = H, .trans_b = true};
    for (int t = 0; t < T; ++t) {
      const float* hprev = t > 0 ? y + (t - 1) * nh : (h0 ? h0 + l * nh : nullptr);
      const float* cprev = t > 0 ? c + (t - 1) * nh : (c0 ? c0 + l * nh : nullptr);
      if (hprev) KILN_DISPATCH(dev, gemm, gh, hprev, weight(l, kWhh).data<float>(), hg.data<float>(), stream);
      float* gt = gates + t * ng;  // the projection is replaced by the activated gates in place
      KILN_DISPATCH(dev, lstm_cell_forward, cs, gt, hprev ? hg.data<float>() : nullptr, b_ih, b_hh, cprev, gt,
                    c + t * nh, y + t * nh, stream);
    }
    const size_t state_bytes = static_cast<size_t>(nh) * sizeof(float);
    copy_bytes(hn_.data<float>() + l * nh, dev, y + (T - 1) * nh, dev, state_bytes, &stream);
    copy_bytes(cn_.data<float>() + l * nh, dev, c + (T - 1) * nh, dev, state_bytes, &stream);
  }

  const Tensor& top = saved[static_cast<size_t>(L - 1)].y;
  Tensor out;
  if (opt_.batch_first) {
    out = Tensor::empty(Shape{N, T, H}, dev);
    KILN_DISPATCH(dev, swap_axes, SwapAxesShape{.a = T, .b = N, .inner = H}, top.data<float>(), out.data<float>(),
                  stream);
  } else {
    out = top.clone();
  }
  if (training_)
    saved_ = std::move(saved);
  else
    saved_.clear();
  return out;
}

void Lstm::backward(const BackwardArgs& a) {
  if (saved_.empty()) layer_error(*this, "backward without a training forward (set_training(true) first)");
  const Stream& stream = *a.stream;
  const Tensor& dy = *a.grad_output;
  const Device dev = dy.device();
  const Saved& s0 = saved_[0];
  const int T = static_cast<int>(s0.x.dim(0)), N = static_cast<int>(s0.x.dim(1)), F = static_cast<int>(s0.x.dim(2));
  const int H = opt_.hidden_size, L = opt_.num_layers, G = 4 * H;
  const int64_t nh = static_cast<int64_t>(N) * H, ng = static_cast<int64_t>(N) * G;
  const bool states = a.inputs.size() == 3;
  const float* h0 = states ? a.inputs[1]->data<float>() : nullptr;
  const float* c0 = states ? a.inputs[2]->data<float>() : nullptr;
  float* dh0 = states && a.grad_inputs[1] ? a.grad_inputs[1]->data<float>() : nullptr;
  float* dc0 = states && a.grad_inputs[2] ? a.grad_inputs[2]->data<float>() : nullptr;

  // dh (T, N, H): dL/dh_t of the layer being processed; the recurrent part is added into it.
  Tensor dh = Tensor::empty(Shape{T, N, H}, dev);
  if (opt_.batch_first)
    KILN_DISPATCH(dev, swap_axes, SwapAxesShape{.a = N, .b = T, .inner = H}, dy.data<float>(), dh.data<float>(),
                  stream);
  else
    dh.copy_from(dy, &stream);
  Tensor dc = Tensor::empty(Shape{N, H}, dev);  // dL/dc_t, updated in place step by step
  const LstmCellShape cs{.n = N, .h = H, .x_stride = 0, .forget_bias = opt_.forget_bias};

  for (int l = L - 1; l >= 0; --l) {
    const Saved& s = saved_[static_cast<size_t>(l)];
    const int fl = static_cast<int>(s.x.dim(2));
    const float* gates = s.gates.data<float>();
    const float* c = s.c.data<float>();
    const float* w_hh = weight(l, kWhh).data<float>();
    Tensor da_t = Tensor::empty(Shape{T, N, G}, dev);
    float* da = da_t.data<float>();
    float* dhp = dh.data<float>();
    const GemmShape rec{.m = N, .n = H, .k = G, .beta = 1.0f};  // dh_t += dA_{t+1} W_hh
    for (int t = T - 1; t >= 0; --t) {
      if (t < T - 1) KILN_DISPATCH(dev, gemm, rec, da + (t + 1) * ng, w_hh, dhp + t * nh, stream);
      const float* cprev = t > 0 ? c + (t - 1) * nh : (c0 ? c0 + l * nh : nullptr);
      float* dcprev = t > 0 ? dc.data<float>() : (dc0 ? dc0 + l * nh : nullptr);
      KILN_DISPATCH(dev, lstm_cell_backward, cs, gates + t * ng, cprev, c + t * nh, dhp + t * nh,
                    t < T - 1 ? dc.data<float>() : nullptr, da + t * ng, dcprev, stream);
    }
    if (dh0) {
      const GemmShape g{.m = N, .n = H, .k = G};
      KILN_DISPATCH(dev, gemm, g, da, w_hh, dh0 + l * nh, stream);
    }
    // Weight gradients, one GEMM each over all steps.
    const GemmShape gwi{.m = G, .n = fl, .k = T * N, .trans_a = true, .beta = 1.0f};
    KILN_DISPATCH(dev, gemm, gwi, da, s.x.data<float>(), grad(l, kWih).data<float>(), stream);
    if (T > 1) {
      const GemmShape gwh{.m = G, .n = H, .k = (T - 1) * N, .trans_a = true, .beta = 1.0f};
      KILN_DISPATCH(dev, gemm, gwh, da + ng, s.y.data<float>(), grad(l, kWhh).data<float>(), stream);
    }
    if (h0) {
      const GemmShape gw0{.m = G, .n = H, .k = N, .trans_a = true, .beta = 1.0f};
      KILN_DISPATCH(dev, gemm, gw0, da, h0 + l * nh, grad(l, kWhh).data<float>(), stream);
    }
    if (opt_.bias) {
      const BiasShape b{.n = T * N, .c = G, .inner = 1};
      KILN_DISPATCH(dev, bias_backward, b, da, grad(l, kBih).data<float>(), stream);
      KILN_DISPATCH(dev, bias_backward, b, da, grad(l, kBhh).data<float>(), stream);
    }
    // dx = dA W_ih: the layer below's dh, or the input gradient.
    if (l > 0 || a.grad_inputs[0]) {
      Tensor dx = Tensor::empty(Shape{T, N, fl}, dev);
      const GemmShape gdx{.m = T * N, .n = fl, .k = G};
      KILN_DISPATCH(dev, gemm, gdx, da, weight(l, kWih).data<float>(), dx.data<float>(), stream);
      if (l > 0) {
        dh = std::move(dx);
      } else if (opt_.batch_first) {
        KILN_DISPATCH(dev, swap_axes, SwapAxesShape{.a = T, .b = N, .inner = F}, dx.data<float>(),
                      a.grad_inputs[0]->data<float>(), stream);
      } else {
        a.grad_inputs[0]->copy_from(dx, &stream);
      }
    }
  }
}

size_t Lstm::saved_bytes() const {
  size_t bytes = 0;
  for (size_t l = 0; l < saved_.size(); ++l) {
    const Saved& s = saved_[l];
    if (l == 0 && opt_.batch_first) bytes += s.x.nbytes();  // the others are views of y
    bytes += s.y.nbytes() + s.c.nbytes() + s.gates.nbytes();
  }
  return bytes;
}

void Lstm::release_saved() { saved_.clear(); }

std::string Lstm::describe() const {
  return fmt::format("{} -> {}, {} layer{}, {}{}{}", opt_.input_size, opt_.hidden_size, opt_.num_layers,
                     opt_.num_layers == 1 ? "" : "s", opt_.batch_first ? "batch first" : "time first",
                     opt_.bias ? "" : ", no bias",
                     opt_.forget_bias != 0.0f ? fmt::format(", forget bias {:g}", opt_.forget_bias) : "");
}

// ---- Embedding ----

Embedding::Embedding(std::string name, int num_embeddings, int embedding_dim, Init weight_init)
    : Layer(std::move(name)), v_(num_embeddings), d_(embedding_dim), init_(weight_init) {}

Shape Embedding::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  if (inputs.size() != 1) layer_error(*this, fmt::format("expects 1 input (token ids), got {}", inputs.size()));
  check_dtypes(*this, dtypes, {0});
  Shape out = inputs[0];
  out.push_back(d_);
  return out;
}

void Embedding::setup(const std::vector<Shape>&, Device device) {
  if (!params_.empty()) return;
  params_.push_back(Parameter{.name = "weight",
                              .value = Tensor::empty(Shape{v_, d_}, device),
                              .grad = Tensor::zeros(Shape{v_, d_}, device),
                              .init = init_,
                              .fan_in = v_,
                              .fan_out = d_});
}

Tensor Embedding::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor& ids = *inputs[0];
  Shape shape = ids.shape();
  shape.push_back(d_);
  Tensor y = Tensor::empty(shape, ids.device());
  const EmbeddingShape s{.n = ids.numel(), .v = v_, .d = d_};
  try {
    KILN_DISPATCH(ids.device(), embedding_forward, s, ids.data<int32_t>(), params_[0].value.data<float>(),
                  y.data<float>(), stream);
  } catch (const Error& e) {
    layer_error(*this, e.message());
  }
  return y;
}

void Embedding::backward(const BackwardArgs& a) {
  const Tensor& ids = *a.inputs[0];
  const EmbeddingShape s{.n = ids.numel(), .v = v_, .d = d_};
  KILN_DISPATCH(ids.device(), embedding_backward, s, ids.data<int32_t>(), a.grad_output->data<float>(),
                params_[0].grad.data<float>(), *a.stream);
}

std::string Embedding::describe() const { return fmt::format("{} tokens -> {}", v_, d_); }

// ---- TimeFlatten ----

Shape TimeFlatten::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  if (inputs.size() != 1) layer_error(*this, fmt::format("expects 1 input, got {}", inputs.size()));
  check_dtypes(*this, dtypes);
  const Shape& x = inputs[0];
  if (x.rank() < 2) layer_error(*this, fmt::format("expects an input of rank >= 2 (N, T, ...), got {}", x.str()));
  Shape out{x[0] * x[1]};
  for (int i = 2; i < x.rank(); ++i) out.push_back(x[i]);
  return out;
}

Tensor TimeFlatten::forward(const std::vector<const Tensor*>& inputs, const Stream&) {
  const Tensor& x = *inputs[0];
  return x.reshape(output_shape({x.shape()}, {x.dtype()}));
}

void TimeFlatten::backward(const BackwardArgs& a) {
  if (!a.grad_inputs[0]) return;
  a.grad_inputs[0]->copy_from(*a.grad_output, a.stream);
}

}  // namespace kiln::layers
