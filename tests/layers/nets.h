// The nets the layer tests run: LeNet and a scaled-down AlexNet, as LayerSpec lists.
#pragma once

#include <vector>

#include "core/config/layer_spec.h"

namespace kiln::testing {

// LeNet (Caffe's): conv 5x5x20, pool 2/2, conv 5x5x50, pool 2/2, fc 500, ReLU, fc 10; input (N, 1, 28, 28).
inline std::vector<LayerSpec> lenet_specs() {
  using I = int64_t;
  return {
      {"Conv2d", "conv1", {}, {{"out_channels", I{20}}, {"kernel", I{5}}}},
      {"MaxPool2d", "pool1", {}, {{"kernel", I{2}}, {"stride", I{2}}}},
      {"Conv2d", "conv2", {}, {{"out_channels", I{50}}, {"kernel", I{5}}}},
      {"MaxPool2d", "pool2", {}, {{"kernel", I{2}}, {"stride", I{2}}}},
      {"Flatten", "flatten", {}, {}},
      {"Linear", "fc1", {}, {{"out_features", I{500}}}},
      {"ReLU", "relu1", {}, {}},
      {"Linear", "fc2", {}, {{"out_features", I{10}}}},
      {"SoftmaxCrossEntropy", "loss", {"fc2", "label"}, {}},
  };
}

// AlexNet's structure scaled down (input (N, 3, 67, 67)): conv 11x11/4 (16), LRN, pool 3/2,
// conv 5x5 pad 2 groups 2 (32), LRN, pool 3/2, conv 3x3 (48), conv 3x3 groups 2 (48),
// conv 3x3 groups 2 (32), pool 3/2, fc 64, dropout, fc 64, dropout, fc 10.
inline std::vector<LayerSpec> small_alexnet_specs() {
  using I = int64_t;
  const std::map<std::string, Value> lrn = {{"size", I{5}}, {"alpha", 1e-4}, {"beta", 0.75}, {"k", 2.0}};
  const std::map<std::string, Value> pool = {{"kernel", I{3}}, {"stride", I{2}}};
  return {
      {"Conv2d", "conv1", {}, {{"out_channels", I{16}}, {"kernel", I{11}}, {"stride", I{4}}}},
      {"ReLU", "relu1", {}, {}},
      {"LRN", "norm1", {}, lrn},
      {"MaxPool2d", "pool1", {}, pool},
      {"Conv2d", "conv2", {}, {{"out_channels", I{32}}, {"kernel", I{5}}, {"pad", I{2}}, {"groups", I{2}}}},
      {"ReLU", "relu2", {}, {}},
      {"LRN", "norm2", {}, lrn},
      {"MaxPool2d", "pool2", {}, pool},
      {"Conv2d", "conv3", {}, {{"out_channels", I{48}}, {"kernel", I{3}}, {"pad", I{1}}}},
      {"ReLU", "relu3", {}, {}},
      {"Conv2d", "conv4", {}, {{"out_channels", I{48}}, {"kernel", I{3}}, {"pad", I{1}}, {"groups", I{2}}}},
      {"ReLU", "relu4", {}, {}},
      {"Conv2d", "conv5", {}, {{"out_channels", I{32}}, {"kernel", I{3}}, {"pad", I{1}}, {"groups", I{2}}}},
      {"ReLU", "relu5", {}, {}},
      {"MaxPool2d", "pool5", {}, pool},
      {"Flatten", "flatten", {}, {}},
      {"Linear", "fc6", {}, {{"out_features", I{64}}}},
      {"ReLU", "relu6", {}, {}},
      {"Dropout", "drop6", {}, {{"p", 0.5}}},
      {"Linear", "fc7", {}, {{"out_features", I{64}}}},
      {"ReLU", "relu7", {}, {}},
      {"Dropout", "drop7", {}, {{"p", 0.5}}},
      {"Linear", "fc8", {}, {{"out_features", I{10}}}},
      {"SoftmaxCrossEntropy", "loss", {"fc8", "label"}, {}},
  };
}

}  // namespace kiln::testing
