// Helpers of the layer tests: building layers from specs, random inputs away from kinks, and a
// finite-difference check of one layer's backward (inputs and parameters) on the CPU.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "tests/common/error_of.h"
#include "layers/init.h"
#include "layers/layer_interface.h"
#include "tests/common/gradcheck.h"
#include "layers/registry.h"

namespace kiln::testing {

inline const Stream& cpu_stream() {
  static const Stream s = Stream::default_for(Device::cpu());
  return s;
}

// Uniform in [-1, 1] with |x| >= min_abs (away from the kinks of ReLU & co at 0).
inline Tensor random_tensor(const Shape& shape, uint32_t seed, float min_abs = 0.0f, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(shape.numel()));
  for (float& x : v) {
    do x = u(gen);
    while (std::fabs(x) < min_abs);
    x *= scale;
  }
  return Tensor::from_host(std::span<const float>(v), shape);
}

// Distinct values `gap` apart in random order (no max-pooling ties within a finite-difference step).
inline Tensor distinct_tensor(const Shape& shape, uint32_t seed, float gap) {
  std::vector<float> v(static_cast<size_t>(shape.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = (static_cast<float>(i) - static_cast<float>(v.size()) / 2) * gap;
  std::shuffle(v.begin(), v.end(), std::mt19937(seed));
  return Tensor::from_host(std::span<const float>(v), shape);
}

inline Tensor labels_tensor(std::vector<int32_t> labels) {
  const int64_t n = static_cast<int64_t>(labels.size());
  return Tensor::from_host(std::span<const int32_t>(labels), Shape{n});
}

// Sets up `layer` for `inputs` on the CPU and gives its parameters random values.
inline void setup_layer(Layer& layer, const std::vector<const Tensor*>& inputs, uint64_t seed = 7) {
  std::vector<Shape> shapes;
  std::vector<DType> dtypes;
  for (const Tensor* t : inputs) {
    shapes.push_back(t->shape());
    dtypes.push_back(t->dtype());
  }
  (void)layer.output_shape(shapes, dtypes);
  layer.setup(shapes, Device::cpu());
  for (Parameter& p : layer.parameters()) {
    Parameter tmp{.name = p.name, .value = p.value.view(), .grad = Tensor(), .init = Init{InitKind::Uniform, 0.5}};
    init_parameter(tmp, seed, init_offset(layer.name() + "." + p.name), cpu_stream());
    p.grad.fill_zero();
  }
}

// Finite differences of L = sum(R * forward(inputs)) (or loss_scale * loss for a loss layer)
// against backward, for every float input and every parameter, at up to `max_checks` positions
// of each (tests/common/gradcheck.h). The layer must be set up (setup_layer). Its random state is
// rewound before each forward, so Dropout uses one mask throughout.
inline ::testing::AssertionResult gradcheck_layer(Layer& layer, std::vector<Tensor>& inputs, float eps = 1e-2f,
                                                  double atol = 2e-3, double rtol = 2e-2, int max_checks = 40) {
  std::vector<const Tensor*> in;
  for (const Tensor& t : inputs) in.push_back(&t);
  const auto rng = layer.rng_state();
  const float loss_scale = 1.3f;
  Tensor probe = layer.forward(in, cpu_stream());
  const Tensor weights = random_tensor(probe.shape(), 99);
  auto objective = [&]() {
    layer.set_rng_state(rng);
    Tensor y = layer.forward(in, cpu_stream());
    layer.release_saved();
    return layer.is_loss() ? loss_scale * static_cast<double>(y.data<float>()[0])
                           : weighted_sum(weights.data<float>(), y.data<float>(), y.numel());
  };
  // Analytic gradients.
  layer.set_rng_state(rng);
  Tensor y = layer.forward(in, cpu_stream());
  std::vector<Tensor> dx(inputs.size());
  BackwardArgs args{.stream = cpu_stream()};
  for (size_t i = 0; i < inputs.size(); ++i) {
    args.inputs.push_back(&inputs[i]);
    if (inputs[i].dtype() == DType::F32 && layer.input_differentiable(static_cast<int>(i))) {
      dx[i] = Tensor::empty(inputs[i].shape());
      std::fill_n(dx[i].data<float>(), dx[i].numel(), 1e30f);  // must be overwritten
      args.grad_inputs.push_back(&dx[i]);
    } else {
      args.grad_inputs.push_back(nullptr);
    }
  }
  args.output = &y;
  if (layer.is_loss()) args.loss_scale = loss_scale;
  else args.grad_output = &weights;
  for (Parameter& p : layer.parameters()) p.grad.fill_zero();
  layer.backward(args);
  layer.release_saved();

  const FiniteDifference fd{.eps = eps, .atol = atol, .rtol = rtol, .max_checks = max_checks};
  const std::string what = layer.name() + " (" + layer.type() + ") ";
  std::string failures;
  auto check = [&](Tensor& x, const Tensor& analytic, const std::string& name) {
    const auto r = check_gradient(x.data<float>(), analytic.data<float>(), x.numel(), objective, fd, what + name);
    if (r) return;
    if (!failures.empty()) failures += '\n';
    failures += r.message();
  };
  for (size_t i = 0; i < inputs.size(); ++i)
    if (dx[i].defined()) check(inputs[i], dx[i], "input " + std::to_string(i));
  for (Parameter& p : layer.parameters()) check(p.value, p.grad, p.name);
  if (failures.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << failures;
}

// A layer from a spec (type, name, params).
inline std::unique_ptr<Layer> make(const std::string& type, const std::string& name,
                                   std::map<std::string, Value> params = {}) {
  return layers::make_layer(LayerSpec{.type = type, .name = name, .inputs = {}, .params = std::move(params)});
}

}  // namespace kiln::testing
