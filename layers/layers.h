// kiln's layers. Each one is a kiln::Layer (contract and gradient convention in
// layers/layer_interface.h: parameter gradients ACCUMULATE +=, input gradients are WRITTEN =),
// runs kiln::cpu:: ops on CPU tensors and kiln::gpu:: ops on CUDA tensors, and is built from a
// LayerSpec by the registry (layers/registry.h). Parameters use PyTorch's names and layouts.
//
// Spec keys (all optional unless marked required):
//   Conv2d             out_channels (required), kernel (required; int or [kh, kw]), in_channels
//                      (inferred from the input if absent), stride 1, pad 0, dilation 1, groups 1,
//                      bias true, weight_init/_value, bias_init/_value (default pytorch_default).
//                      weight (K, C/G, R, S), bias (K).
//   MaxPool2d          kernel (required), stride (= kernel), pad 0, ceil_mode false (PyTorch's: the
//                      output size rounds up; the last window may hang over the edge).
//   AvgPool2d          kernel (required), stride (= kernel), pad 0, count_include_pad true, ceil_mode false.
//   AdaptiveAvgPool2d  output_size 1 (int or [h, w]): the average of each of h x w equal cells of the
//                      input (global average pooling at 1; cells must divide H and W evenly).
//   LRN                size 5, alpha 1e-4, beta 0.75, k 1 (PyTorch's LocalResponseNorm; AlexNet k=2).
//   BatchNorm2d        num_features (inferred if absent), eps 1e-5, momentum 0.1, affine true,
//                      track_running_stats true (nn.BatchNorm2d): input (N, C, H, W). Parameters weight,
//                      bias (C); buffers running_mean, running_var (C). Training: batch statistics,
//                      running ones updated; evaluation: the running ones. layers/batchnorm.h.
//   BatchNorm1d        the same on (N, C) or (N, C, L) (nn.BatchNorm1d).
//   ReLU, Sigmoid, Tanh; LeakyReLU negative_slope 0.01; ELU alpha 1.
//   Dropout            p 0.5, seed (default: derived from the net's seed and the layer's name).
//   Flatten            start_dim 1: (N, C, H, W) -> (N, C*H*W), zero-copy.
//   Linear             out_features (required), in_features (inferred if absent), bias true,
//                      weight_init/_value, bias_init/_value. weight (out, in), bias (out).
//   SoftmaxCrossEntropy  inputs (logits (N, C), labels (N) int32); ignore_label -100,
//                      loss_weight 1. Output: the mean loss over non-ignored rows, shape (1).
//   MSELoss            inputs (prediction, target) of equal shapes; loss_weight 1. Output (1):
//                      mean of squared differences.
//   L1Loss             inputs (prediction, target) of equal shapes; loss_weight 1. Output (1): mean
//                      of absolute differences (nn.L1Loss; gradient sign(d), 0 at d = 0).
//   HuberLoss          the same with delta 1.0 (> 0): mean of d²/2 where |d| <= delta, else
//                      delta (|d| - delta/2) (nn.HuberLoss); gradient clamp(d, -delta, delta).
//   BCELoss            inputs (probabilities, targets in [0, 1]) of equal shapes; loss_weight 1.
//                      Output (1): mean binary cross-entropy, logs clamped at -100 (nn.BCELoss).
//   Add                2+ inputs of equal shapes, summed (residual connections).
//   Concat             2+ inputs concatenated along axis 1 (channels); other dims equal.
//   LSTM, GRU, RNN     hidden_size (required), num_layers, bidirectional, stateful, ...: see
//                      layers/recurrent.h. Ports (secondary outputs other layers can read):
//                      "<name>.h_n" and (LSTM) "<name>.c_n", the final states.
//   Embedding          num_embeddings (required), embedding_dim (required), weight_init (default
//                      normal with std 1, nn.Embedding's). Input: int32 ids of any shape S; output
//                      S + (D). Parameter weight (V, D). Ids are not differentiable. An id
//                      outside [0, V) is an error on the CPU and a NaN row (so a NaN loss) on a GPU.
//   TimeFlatten        (A, B, ...) -> (A*B, ...), zero-copy: turns an LSTM's (N, T, H) output into
//                      the (N*T, H) rows a Linear and SoftmaxCrossEntropy take.
//
// One layer type, one pair of files named after it: layers/conv2d.{h,cpp}, layers/pool2d.{h,cpp}
// (MaxPool2d, AvgPool2d), layers/activation.{h,cpp} (ReLU & co), layers/softmax_xent.{h,cpp}, ...
#pragma once

#include "layers/activation.h"
#include "layers/add.h"
#include "layers/batchnorm.h"
#include "layers/bce_loss.h"
#include "layers/concat.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/embedding.h"
#include "layers/flatten.h"
#include "layers/l1_loss.h"
#include "layers/linear.h"
#include "layers/lrn.h"
#include "layers/mse_loss.h"
#include "layers/pool2d.h"
#include "layers/recurrent.h"
#include "layers/softmax_xent.h"
#include "layers/time_flatten.h"
