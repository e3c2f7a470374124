// The concrete layers' shared toolkit. The contract itself (kiln::Layer, the gradient convention:
// parameter gradients ACCUMULATE +=, input gradients are WRITTEN =) is in
// layers/layer_interface.h; the layers are declared in layers/layers.h and built from a
// LayerSpec by layers/registry.h.
//
//   SpecReader      typed access to a LayerSpec's parameters with errors naming the layer and the
//                   key ("layer 'conv1': 'kernel' must be a positive integer, got -3"), and a final
//                   check that every key given was understood (typos are errors, not ignored).
//   KILN_DISPATCH   calls kiln::cpu::op or kiln::gpu::op by a tensor's device (kernels/dispatch.h,
//                   included here for every layer).
//   shape helpers   readable arity/shape errors.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "layers/layer_interface.h"
#include "core/config/layer_spec.h"
#include "kernels/dispatch.h"
#include "layers/tensor_ops.h"

namespace kiln::layers {

class SpecReader {
 public:
  explicit SpecReader(const LayerSpec& spec) : spec_(spec) {}

  const std::string& name() const { return spec_.name; }
  bool has(const std::string& key) const;

  int64_t get_int(const std::string& key, int64_t fallback);
  int64_t require_int(const std::string& key);
  // A positive int (or >= 0 when `allow_zero`).
  int get_positive(const std::string& key, int fallback, bool allow_zero = false);
  int require_positive(const std::string& key);
  // An int or a list of two ints: (height, width).
  std::pair<int, int> get_pair(const std::string& key, std::pair<int, int> fallback, bool allow_zero = false);
  double get_double(const std::string& key, double fallback);  // ints accepted
  bool get_bool(const std::string& key, bool fallback);
  std::string get_string(const std::string& key, const std::string& fallback);
  // Init from "<prefix>_init" (name) and "<prefix>_init_value" (number).
  Init get_init(const std::string& prefix, Init fallback);

  // Throws for any key that no getter asked about, listing the keys this layer understands.
  void finish(const char* type);

  [[noreturn]] void bad(const std::string& key, const std::string& expected) const;

 private:
  const Value* find(const std::string& key);
  const LayerSpec& spec_;
  std::set<std::string> asked_;
};

// "layer 'conv2' (Conv2d): <message>" as a kiln::Error.
[[noreturn]] void layer_error(const Layer& layer, const std::string& message);

// Checks the number and dtypes of inputs: every input F32 unless listed in `int_inputs`.
void check_dtypes(const Layer& layer, const std::vector<DType>& dtypes, const std::vector<int>& int_inputs = {});

// One float input, or a readable error (pointwise layers).
void expect_one_float(const Layer& layer, const std::vector<Shape>& inputs, const std::vector<DType>& dtypes);

// One (N, C, H, W) float input with every dimension in [1, 2^31), or a readable error.
void expect_nchw(const Layer& layer, const std::vector<Shape>& inputs, const std::vector<DType>& dtypes);

// The two float inputs of a regression loss (prediction, target) of the same shape with fewer than
// 2^31 elements, or a readable error; the loss's output shape, (1).
Shape expect_prediction_and_target(const Layer& layer, const std::vector<Shape>& inputs,
                                   const std::vector<DType>& dtypes);

// `one` as a (1) tensor holding 1.0 on `device` (the scalar operand of GEMM-built layers), made
// once per device.
void make_one(Tensor& one, Device device);

// `v` as an int when it is in [1, 2^31), else an error naming `what`.
int to_int(const Layer& layer, int64_t v, const char* what);

// Runs a shape struct's validate() and prefixes its message with the layer.
template <class S>
void validate_for(const Layer& layer, const S& shape) {
  try {
    shape.validate();
  } catch (const Error& e) {
    layer_error(layer, e.message());
  }
}

}  // namespace kiln::layers
