// The LSTM and RNN layers, one class (declared and documented in layers/recurrent.h).
#include "layers/recurrent.h"

#include <fmt/format.h>

#include <climits>

#include "kernels/bias.h"
#include "kernels/gemm.h"
#include "kernels/lstm.h"
#include "kernels/rnn.h"
#include "kernels/swap_axes.h"
#include "layers/layer.h"
#include "layers/tensor_ops.h"

namespace kiln::layers {

namespace {

int checked_int(const Layer& l, int64_t v, const char* what) {
  if (v < 1 || v > INT_MAX) layer_error(l, fmt::format("{}={} is outside [1, 2^31)", what, v));
  return static_cast<int>(v);
}

enum { kWih = 0, kWhh = 1, kBih = 2, kBhh = 3 };

// The pointwise cell of one step over N rows (packed projections).
LstmCellShape lstm_cell_shape(const RecurrentOptions& o, int n) {
  return {.n = n, .h = o.hidden_size, .x_stride = 0, .forget_bias = o.forget_bias};
}
RnnCellShape rnn_cell_shape(const RecurrentOptions& o, int n) {
  return {.n = n,
          .h = o.hidden_size,
          .x_stride = 0,
          .activation = o.mode == RecurrentMode::RnnRelu ? RnnActivation::Relu : RnnActivation::Tanh};
}

// The step a direction processes i-th: forward 0, 1, ..., T-1; reverse T-1, ..., 0.
int step_at(int i, int dir, int T) { return dir == 0 ? i : T - 1 - i; }

// Interleaves (rows, H) blocks into (rows, D*H) (each direction one strided copy), or splits back.
void interleave(const std::vector<const float*>& parts, float* out, int64_t rows, int h, Device dev,
                const Stream& stream) {
  const size_t row = static_cast<size_t>(h) * sizeof(float), pitch = row * parts.size();
  for (size_t d = 0; d < parts.size(); ++d)
    copy_2d(out + d * static_cast<size_t>(h), pitch, parts[d], row, row, static_cast<size_t>(rows), dev, stream);
}
void split(const float* in, const std::vector<float*>& parts, int64_t rows, int h, Device dev, const Stream& stream) {
  const size_t row = static_cast<size_t>(h) * sizeof(float), pitch = row * parts.size();
  for (size_t d = 0; d < parts.size(); ++d)
    copy_2d(parts[d], row, in + d * static_cast<size_t>(h), pitch, row, static_cast<size_t>(rows), dev, stream);
}

}  // namespace

Recurrent::Recurrent(std::string name, RecurrentOptions options) : Layer(std::move(name)), opt_(options) {}

Shape Recurrent::output_shape(const std::vector<Shape>& inputs, const std::vector<DType>& dtypes) const {
  const size_t with_states = lstm() ? 3 : 2;
  if (opt_.stateful && inputs.size() != 1)
    layer_error(*this, fmt::format("is stateful (it carries its own states): expects 1 input (x), got {}",
                                   inputs.size()));
  if (inputs.size() != 1 && inputs.size() != with_states)
    layer_error(*this, fmt::format("expects 1 input (x) or {} ({}), got {}", with_states,
                                   lstm() ? "x, h0, c0" : "x, h0", inputs.size()));
  check_dtypes(*this, dtypes);
  const Shape& x = inputs[0];
  const char* layout = opt_.batch_first ? "(N, T, F)" : "(T, N, F)";
  if (x.rank() != 3) layer_error(*this, fmt::format("expects input {}, got {}", layout, x.str()));
  if (opt_.input_size > 0 && x[2] != opt_.input_size)
    layer_error(*this, fmt::format("expects input {} with F={}, got {}", layout, opt_.input_size, x.str()));
  const int64_t n = opt_.batch_first ? x[0] : x[1], t = opt_.batch_first ? x[1] : x[0];
  const int64_t out = static_cast<int64_t>(directions()) * opt_.hidden_size;
  checked_int(*this, n, "N");
  checked_int(*this, t, "T");
  checked_int(*this, x[2], "F");
  checked_int(*this, n * t * std::max<int64_t>(gate_blocks() * opt_.hidden_size, out), "N*T*G*H");
  const Shape state{static_cast<int64_t>(opt_.num_layers) * directions(), n, opt_.hidden_size};
  for (size_t i = 1; i < inputs.size(); ++i)
    if (!(inputs[i] == state))
      layer_error(*this, fmt::format("expects {} (num_layers * directions, N, H) = {}, got {}", i == 1 ? "h0" : "c0",
                                     state.str(), inputs[i].str()));
  return opt_.batch_first ? Shape{n, t, out} : Shape{t, n, out};
}

void Recurrent::setup(const std::vector<Shape>& inputs, Device device) {
  if (!params_.empty()) return;
  opt_.input_size = static_cast<int>(inputs[0][2]);
  const int H = opt_.hidden_size, G = gate_blocks() * H;
  const Init init{InitKind::PytorchDefault, std::nullopt};  // uniform(+-1/sqrt(H)) with fan_in = H
  auto add = [&](const std::string& name, const Shape& shape) {
    params_.push_back(Parameter{.name = name,
                                .value = Tensor::empty(shape, device),
                                .grad = Tensor::zeros(shape, device),
                                .init = init,
                                .fan_in = H,
                                .fan_out = G});
  };
  for (int l = 0; l < opt_.num_layers; ++l) {
    for (int d = 0; d < directions(); ++d) {
      const std::string suffix = fmt::format("l{}{}", l, d == 1 ? "_reverse" : "");
      add("weight_ih_" + suffix, Shape{G, l == 0 ? opt_.input_size : directions() * H});
      add("weight_hh_" + suffix, Shape{G, H});
      if (opt_.bias) {
        add("bias_ih_" + suffix, Shape{G});
        add("bias_hh_" + suffix, Shape{G});
      }
    }
  }
}

Recurrent::States Recurrent::initial_states(const std::vector<const Tensor*>& inputs) const {
  if (inputs.size() >= 2) return {inputs[1]->data<float>(), inputs.size() == 3 ? inputs[2]->data<float>() : nullptr};
  if (start_h_.defined()) return {start_h_.data<float>(), start_c_.defined() ? start_c_.data<float>() : nullptr};
  return {};
}

void Recurrent::forward_direction(int l, int d, const Tensor& x, const States& init, DirectionSaved& s,
                                  const Stream& stream) {
  const Device dev = x.device();
  const int T = static_cast<int>(x.dim(0)), N = static_cast<int>(x.dim(1)), fl = static_cast<int>(x.dim(2));
  const int H = opt_.hidden_size, G = gate_blocks() * H;
  const int64_t nh = static_cast<int64_t>(N) * H, ng = static_cast<int64_t>(N) * G;
  const int64_t slot = static_cast<int64_t>(l * directions() + d) * nh;  // this one's (N, H) in h0, hn
  const float* h0 = init.h0 ? init.h0 + slot : nullptr;
  const float* c0 = init.c0 ? init.c0 + slot : nullptr;
  const float* b_ih = opt_.bias ? param(l, d, kBih).value.data<float>() : nullptr;
  const float* b_hh = opt_.bias ? param(l, d, kBhh).value.data<float>() : nullptr;
  const float* w_hh = param(l, d, kWhh).value.data<float>();

  // The input projection of every step at once: (T*N, G) = x (T*N, F_l) W_ih^T.
  Tensor projection = Tensor::empty(Shape{T, N, G}, dev);
  float* gates = projection.data<float>();
  const GemmShape gx{.m = T * N, .n = G, .k = fl, .trans_b = true};
  KILN_DISPATCH(dev, gemm_rounded, gx, precision_, x.data<float>(), param(l, d, kWih).value.data<float>(), gates, stream);
  if (lstm()) {
    s.gates = std::move(projection);  // replaced by the activated gates in place, step by step
    s.y = Tensor::empty(Shape{T, N, H}, dev);
    s.c = Tensor::empty(Shape{T, N, H}, dev);
  } else {
    s.y = std::move(projection);  // h_t overwrites its own projection
  }
  float* y = s.y.data<float>();
  float* c = lstm() ? s.c.data<float>() : nullptr;
  Tensor hg_t = Tensor::empty(Shape{N, G}, dev);  // h_prev W_hh^T of one step
  float* hg = hg_t.data<float>();
  const GemmShape gh{.m = N, .n = G, .k = H, .trans_b = true};
  const LstmCellShape ls = lstm_cell_shape(opt_, N);
  const RnnCellShape rs = rnn_cell_shape(opt_, N);
  for (int i = 0; i < T; ++i) {
    const int t = step_at(i, d, T), prev = i > 0 ? step_at(i - 1, d, T) : -1;
    const float* hprev = prev >= 0 ? y + prev * nh : h0;
    if (hprev) KILN_DISPATCH(dev, gemm_rounded, gh, precision_, hprev, w_hh, hg, stream);
    if (lstm()) {
      float* gt = gates + t * ng;
      KILN_DISPATCH(dev, lstm_cell_forward, ls, gt, hprev ? hg : nullptr, b_ih, b_hh, prev >= 0 ? c + prev * nh : c0,
                    gt, c + t * nh, y + t * nh, stream);
    } else {
      KILN_DISPATCH(dev, rnn_cell_forward, rs, y + t * nh, hprev ? hg : nullptr, b_ih, b_hh, y + t * nh, stream);
    }
  }
  const int last = step_at(T - 1, d, T);
  const size_t state_bytes = static_cast<size_t>(nh) * sizeof(float);
  copy_bytes(hn_.data<float>() + slot, dev, y + last * nh, dev, state_bytes, stream);
  if (lstm()) copy_bytes(cn_.data<float>() + slot, dev, c + last * nh, dev, state_bytes, stream);
}

Tensor Recurrent::forward(const std::vector<const Tensor*>& inputs, const Stream& stream) {
  const Tensor& x = *inputs[0];
  const Device dev = x.device();
  const int N = static_cast<int>(opt_.batch_first ? x.dim(0) : x.dim(1));
  const int T = static_cast<int>(opt_.batch_first ? x.dim(1) : x.dim(0));
  const int F = static_cast<int>(x.dim(2));
  const int H = opt_.hidden_size, L = opt_.num_layers, D = directions();

  // A stateful layer starts from the states the last forward ended with (if of this batch size).
  start_h_ = Tensor();
  start_c_ = Tensor();
  if (opt_.stateful && hn_.defined() && hn_.dim(1) == N) {
    start_h_ = std::move(hn_);
    start_c_ = std::move(cn_);
  }
  const States init = initial_states(inputs);
  hn_ = Tensor::empty(Shape{L * D, N, H}, dev);
  cn_ = lstm() ? Tensor::empty(Shape{L * D, N, H}, dev) : Tensor();

  std::vector<LayerSaved> saved(static_cast<size_t>(L));
  if (opt_.batch_first) {
    saved[0].x = Tensor::empty(Shape{T, N, F}, dev);
    KILN_DISPATCH(dev, swap_axes, SwapAxesShape{.a = N, .b = T, .inner = F}, x.data<float>(),
                  saved[0].x.data<float>(), stream);
  } else {
    saved[0].x = x.view();
  }
  for (int l = 0; l < L; ++l) {
    LayerSaved& s = saved[static_cast<size_t>(l)];
    if (l > 0) s.x = saved[static_cast<size_t>(l - 1)].out.view();
    s.dirs.resize(static_cast<size_t>(D));
    for (int d = 0; d < D; ++d) forward_direction(l, d, s.x, init, s.dirs[static_cast<size_t>(d)], stream);
    if (D == 1) {
      s.out = s.dirs[0].y.view();
    } else {
      s.out = Tensor::empty(Shape{T, N, D * H}, dev);
      interleave({s.dirs[0].y.data<float>(), s.dirs[1].y.data<float>()}, s.out.data<float>(),
                 static_cast<int64_t>(T) * N, H, dev, stream);
    }
  }

  const Tensor& top = saved[static_cast<size_t>(L - 1)].out;
  Tensor out;
  if (opt_.batch_first) {
    out = Tensor::empty(Shape{N, T, D * H}, dev);
    KILN_DISPATCH(dev, swap_axes, SwapAxesShape{.a = T, .b = N, .inner = D * H}, top.data<float>(),
                  out.data<float>(), stream);
  } else {
    out = top.clone();
  }
  if (training_) {
    saved_ = std::move(saved);
  } else {
    saved_.clear();
    start_h_ = Tensor();
    start_c_ = Tensor();
  }
  return out;
}

void Recurrent::backward_direction(int l, int d, const LayerSaved& saved, Tensor& dh_t, const States& init,
                                   const StateGrads& dinit, const FinalGrads& dfinal, Tensor& da_t,
                                   const Stream& stream) {
  const DirectionSaved& s = saved.dirs[static_cast<size_t>(d)];
  const Device dev = dh_t.device();
  const int T = static_cast<int>(saved.x.dim(0)), N = static_cast<int>(saved.x.dim(1));
  const int fl = static_cast<int>(saved.x.dim(2));
  const int H = opt_.hidden_size, G = gate_blocks() * H;
  const int64_t nh = static_cast<int64_t>(N) * H, ng = static_cast<int64_t>(N) * G;
  const int64_t slot = static_cast<int64_t>(l * directions() + d) * nh;
  const float* h0 = init.h0 ? init.h0 + slot : nullptr;
  const float* c0 = init.c0 ? init.c0 + slot : nullptr;
  const float* w_hh = param(l, d, kWhh).value.data<float>();
  const float* y = s.y.data<float>();
  float* dh = dh_t.data<float>();
  float* da = da_t.data<float>();
  Tensor dc_t = lstm() ? Tensor::empty(Shape{N, H}, dev) : Tensor();  // dL/dc_t, updated in place
  float* dc = lstm() ? dc_t.data<float>() : nullptr;
  const LstmCellShape ls = lstm_cell_shape(opt_, N);
  const RnnCellShape rs = rnn_cell_shape(opt_, N);
  const GemmShape rec{.m = N, .n = H, .k = G, .beta = 1.0f};  // dh_t += dA_next W_hh
  const int64_t row = l * directions() + d;  // this one's (N, H) block in h_n, c_n
  const int last = step_at(T - 1, d, T);
  if (dfinal.dh_n) {  // the gradient that reached h_n joins dL/dh of the last step
    Tensor dh_last = dh_t.slice(last, last + 1);
    graph::add_into(dh_last, dfinal.dh_n->slice(row, row + 1), stream);
  }
  const float* dc_n = dfinal.dc_n ? dfinal.dc_n->data<float>() + slot : nullptr;  // dL/dc of the last step

  for (int i = T - 1; i >= 0; --i) {
    const int t = step_at(i, d, T);
    if (i < T - 1) KILN_DISPATCH(dev, gemm_rounded, rec, precision_, da + step_at(i + 1, d, T) * ng, w_hh, dh + t * nh, stream);
    if (lstm()) {
      const float* c = s.c.data<float>();
      const float* cprev = i > 0 ? c + step_at(i - 1, d, T) * nh : c0;
      float* dcprev = i > 0 ? dc : (dinit.dc0 ? dinit.dc0 + slot : nullptr);
      KILN_DISPATCH(dev, lstm_cell_backward, ls, s.gates.data<float>() + t * ng, cprev, c + t * nh, dh + t * nh,
                    i < T - 1 ? dc : dc_n, da + t * ng, dcprev, stream);
    } else {
      KILN_DISPATCH(dev, rnn_cell_backward, rs, y + t * nh, dh + t * nh, da + t * ng, stream);
    }
  }
  const int first = step_at(0, d, T);
  if (dinit.dh0) {
    const GemmShape g{.m = N, .n = H, .k = G};
    KILN_DISPATCH(dev, gemm_rounded, g, precision_, da + first * ng, w_hh, dinit.dh0 + slot, stream);
  }
  // Weight gradients, one GEMM each over all steps.
  const GemmShape gwi{.m = G, .n = fl, .k = T * N, .trans_a = true, .beta = 1.0f};
  KILN_DISPATCH(dev, gemm_rounded, gwi, precision_, da, saved.x.data<float>(), param(l, d, kWih).grad.data<float>(), stream);
  float* dw_hh = param(l, d, kWhh).grad.data<float>();
  if (T > 1) {
    // Every step but the first processed pairs with its predecessor: forward dA[1:] with y[:-1],
    // reverse dA[:-1] with y[1:].
    const GemmShape gwh{.m = G, .n = H, .k = (T - 1) * N, .trans_a = true, .beta = 1.0f};
    KILN_DISPATCH(dev, gemm_rounded, gwh, precision_, d == 0 ? da + ng : da, d == 0 ? y : y + nh, dw_hh, stream);
  }
  if (h0) {
    const GemmShape gw0{.m = G, .n = H, .k = N, .trans_a = true, .beta = 1.0f};
    KILN_DISPATCH(dev, gemm_rounded, gw0, precision_, da + first * ng, h0, dw_hh, stream);
  }
  if (opt_.bias) {
    const BiasShape b{.n = T * N, .c = G, .inner = 1};
    KILN_DISPATCH(dev, bias_backward, b, da, param(l, d, kBih).grad.data<float>(), stream);
    KILN_DISPATCH(dev, bias_backward, b, da, param(l, d, kBhh).grad.data<float>(), stream);
  }
}

void Recurrent::backward(const BackwardArgs& a) {
  if (saved_.empty()) layer_error(*this, "backward without a training forward (set_training(true) first)");
  const Stream& stream = a.stream;
  const LayerSaved& s0 = saved_[0];
  const Device dev = s0.x.device();
  const int T = static_cast<int>(s0.x.dim(0)), N = static_cast<int>(s0.x.dim(1)), F = static_cast<int>(s0.x.dim(2));
  const int H = opt_.hidden_size, L = opt_.num_layers, D = directions(), G = gate_blocks() * H;
  const int64_t rows = static_cast<int64_t>(T) * N;
  const States init = initial_states(a.inputs);
  const FinalGrads dfinal{.dh_n = a.grad_ports.empty() ? nullptr : a.grad_ports[0],
                          .dc_n = a.grad_ports.size() < 2 ? nullptr : a.grad_ports[1]};
  StateGrads dinit;
  if (a.inputs.size() >= 2 && a.grad_inputs[1]) dinit.dh0 = a.grad_inputs[1]->data<float>();
  if (a.inputs.size() == 3 && a.grad_inputs[2]) dinit.dc0 = a.grad_inputs[2]->data<float>();

  // dtop (T, N, D*H): dL/d(output) of the layer being processed, time-major (zeros when gradients
  // reached the ports only).
  Tensor dtop = Tensor::empty(Shape{T, N, D * H}, dev);
  if (!a.grad_output)
    dtop.fill_zero(stream);
  else if (opt_.batch_first)
    KILN_DISPATCH(dev, swap_axes, SwapAxesShape{.a = N, .b = T, .inner = D * H}, a.grad_output->data<float>(),
                  dtop.data<float>(), stream);
  else
    dtop.copy_from(*a.grad_output, stream);

  for (int l = L - 1; l >= 0; --l) {
    const LayerSaved& s = saved_[static_cast<size_t>(l)];
    const int fl = static_cast<int>(s.x.dim(2));
    std::vector<Tensor> dh(static_cast<size_t>(D));
    if (D == 1) {
      dh[0] = std::move(dtop);
    } else {
      for (Tensor& t : dh) t = Tensor::empty(Shape{T, N, H}, dev);
      split(dtop.data<float>(), {dh[0].data<float>(), dh[1].data<float>()}, rows, H, dev, stream);
    }
    const bool want_dx = l > 0 || a.grad_inputs[0];
    Tensor dx = want_dx ? Tensor::empty(Shape{T, N, fl}, dev) : Tensor();
    for (int d = 0; d < D; ++d) {
      Tensor da = Tensor::empty(Shape{T, N, G}, dev);
      backward_direction(l, d, s, dh[static_cast<size_t>(d)], init, dinit, dfinal, da, stream);
      // dx (+)= dA W_ih: the layer below's dh, or the input gradient.
      if (want_dx) {
        const GemmShape gdx{.m = T * N, .n = fl, .k = G, .beta = d == 0 ? 0.0f : 1.0f};
        KILN_DISPATCH(dev, gemm_rounded, gdx, precision_, da.data<float>(), param(l, d, kWih).value.data<float>(), dx.data<float>(),
                      stream);
      }
    }
    if (l > 0) {
      dtop = std::move(dx);
    } else if (a.grad_inputs[0]) {
      if (opt_.batch_first)
        KILN_DISPATCH(dev, swap_axes, SwapAxesShape{.a = T, .b = N, .inner = F}, dx.data<float>(),
                      a.grad_inputs[0]->data<float>(), stream);
      else
        a.grad_inputs[0]->copy_from(dx, stream);
    }
  }
}

size_t Recurrent::saved_bytes() const {
  size_t bytes = start_h_.nbytes() + start_c_.nbytes();
  for (size_t l = 0; l < saved_.size(); ++l) {
    const LayerSaved& s = saved_[l];
    if (l == 0 && opt_.batch_first) bytes += s.x.nbytes();  // the others are views of the outputs below
    if (directions() == 2) bytes += s.out.nbytes();         // one direction's out is a view of its y
    for (const DirectionSaved& d : s.dirs) bytes += d.y.nbytes() + d.c.nbytes() + d.gates.nbytes();
  }
  return bytes;
}

void Recurrent::release_saved() {
  saved_.clear();
  start_h_ = Tensor();
  start_c_ = Tensor();
}

void Recurrent::set_batch_shard(int64_t, int64_t global_samples) {
  if (global_samples > 0 && !opt_.batch_first)
    layer_error(*this, "batch_first = false (time-major (T, N, .)) cannot be sharded by sample: data-parallel "
                       "training splits dim 0 and keys dropout by it; use batch_first = true");
}

std::vector<std::string> Recurrent::ports() const {
  if (lstm()) return {"h_n", "c_n"};
  return {"h_n"};
}

Shape Recurrent::port_shape(int, const std::vector<Shape>& inputs) const {
  const int64_t n = opt_.batch_first ? inputs[0][0] : inputs[0][1];
  return Shape{static_cast<int64_t>(opt_.num_layers) * directions(), n, opt_.hidden_size};
}

void Recurrent::reset_state() {
  if (!opt_.stateful) return;
  hn_ = Tensor();
  cn_ = Tensor();
}

std::map<std::string, const Tensor*> Recurrent::carried_state() const {
  std::map<std::string, const Tensor*> out;
  if (!opt_.stateful) return out;
  if (hn_.defined()) out["h"] = &hn_;
  if (cn_.defined()) out["c"] = &cn_;
  return out;
}

void Recurrent::set_carried_state(const std::string& key, Tensor value) {
  if (!opt_.stateful || (key != "h" && (key != "c" || !lstm())))
    layer_error(*this, fmt::format("carries no state '{}'{}", key, opt_.stateful ? "" : " (it is not stateful)"));
  const int64_t rows = static_cast<int64_t>(opt_.num_layers) * directions();
  if (value.rank() != 3 || value.dim(0) != rows || value.dim(2) != opt_.hidden_size)
    layer_error(*this, fmt::format("state '{}' must be (num_layers * directions, N, H) = ({}, N, {}), got {}", key,
                                   rows, opt_.hidden_size, value.shape().str()));
  (key == "h" ? hn_ : cn_) = std::move(value);
}

std::string Recurrent::describe() const {
  std::string nonlinearity;
  if (!lstm()) nonlinearity = opt_.mode == RecurrentMode::RnnRelu ? "relu, " : "tanh, ";
  return fmt::format("{}{} -> {}, {} layer{}, {}{}{}{}{}", nonlinearity, opt_.input_size, opt_.hidden_size,
                     opt_.num_layers, opt_.num_layers == 1 ? "" : "s",
                     opt_.batch_first ? "batch first" : "time first", opt_.bidirectional ? ", bidirectional" : "",
                     opt_.stateful ? ", stateful" : "", opt_.bias ? "" : ", no bias",
                     opt_.forget_bias != 0.0f ? fmt::format(", forget bias {:g}", opt_.forget_bias) : "");
}

}  // namespace kiln::layers
