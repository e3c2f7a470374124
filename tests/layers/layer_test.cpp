// Single layers: the registry, spec and shape errors, the gradient convention, and finite-difference
// gradient checks of every layer's backward on the CPU.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <span>

#include "layers/layers.h"
#include "layers/registry.h"
#include "tests/layers/helpers.h"

namespace kiln {
namespace {

using namespace kiln::testing;
using ::testing::HasSubstr;

using I = int64_t;
using L = std::vector<int64_t>;

// ---- registry and spec errors ----

TEST(Registry, ListsEveryLayerType) {
  const auto types = layers::layer_types();
  for (const char* t : {"Add", "AvgPool2d", "Concat", "Conv2d", "Dropout", "ELU", "Flatten", "LRN", "LeakyReLU", "Linear",
                        "MSELoss", "MaxPool2d", "ReLU", "Sigmoid", "SoftmaxCrossEntropy", "Tanh"})
    EXPECT_NE(std::find(types.begin(), types.end(), t), types.end()) << t;
  EXPECT_TRUE(std::is_sorted(types.begin(), types.end()));
}

TEST(Registry, UnknownTypeListsTheKnownOnes) {
  const std::string e = error_of([] { make("Conv", "c"); });
  EXPECT_THAT(e, HasSubstr("unknown layer type 'Conv' (known: AdaptiveAvgPool2d, Add, AvgPool2d, BCELoss, BatchNorm1d, "
                           "BatchNorm2d, Concat, Conv2d,"));
  EXPECT_THAT(e, HasSubstr("layer 'c'"));
}

TEST(Registry, BadValuesNameTheLayerAndTheKey) {
  EXPECT_EQ(error_of([] { make("Conv2d", "conv1", {{"out_channels", I{8}}, {"kernel", I{-3}}}); }),
            "layer 'conv1': 'kernel' must be a positive integer or a list of two, got -3 (int)");
  EXPECT_THAT(error_of([] { make("Conv2d", "conv1", {{"kernel", I{3}}}); }),
              HasSubstr("layer 'conv1': the key 'out_channels' is required"));
  EXPECT_THAT(error_of([] { make("Conv2d", "conv1", {{"out_channels", I{8}}, {"kernel", L{3, 3, 3}}}); }),
              HasSubstr("'kernel' must be a positive integer or a list of two, got [3, 3, 3]"));
  EXPECT_THAT(error_of([] { make("Linear", "fc", {{"out_features", std::string("ten")}}); }),
              HasSubstr("layer 'fc': 'out_features' must be a positive integer, got \"ten\" (string)"));
  EXPECT_THAT(error_of([] { make("Dropout", "d", {{"p", 1.5}}); }), HasSubstr("layer 'd': 'p' must be a probability"));
  EXPECT_THAT(error_of([] { make("Conv2d", "c", {{"out_channels", I{6}}, {"kernel", I{3}}, {"groups", I{4}}}); }),
              HasSubstr("groups=4 does not divide out_channels=6"));
  EXPECT_THAT(error_of([] { make("Conv2d", "c", {{"out_channels", I{6}}, {"kernel", I{3}}, {"weight_init", std::string("he")}}); }),
              HasSubstr("layer 'c': 'weight_init': unknown initialisation 'he' (known: pytorch_default, kaiming_normal"));
}

TEST(Registry, UnknownKeysAreErrors) {
  EXPECT_THAT(error_of([] { make("Conv2d", "conv1", {{"out_channels", I{8}}, {"kernal", I{3}}, {"kernel", I{3}}}); }),
              HasSubstr("layer 'conv1' (Conv2d): unknown key 'kernal' (known:"));
  EXPECT_THAT(error_of([] { make("ReLU", "r", {{"slope", 0.1}}); }), HasSubstr("unknown key 'slope'"));
}

// ---- shape inference ----

Shape infer(Layer& l, std::vector<Shape> shapes, std::vector<DType> dtypes = {}) {
  if (dtypes.empty()) dtypes.assign(shapes.size(), DType::F32);
  return l.output_shape(shapes, dtypes);
}

TEST(Shapes, Conv2dAndPooling) {
  auto conv = make("Conv2d", "conv1", {{"out_channels", I{20}}, {"kernel", I{5}}});
  EXPECT_EQ(infer(*conv, {{8, 1, 28, 28}}), (Shape{8, 20, 24, 24}));
  auto conv2 = make("Conv2d", "conv2", {{"in_channels", I{3}}, {"out_channels", I{4}}, {"kernel", I{3}}});
  EXPECT_EQ(error_of([&] { infer(*conv2, {{8, 1, 28, 28}}); }),
            "layer 'conv2' (Conv2d): expects input (N, C, H, W) with C=3, got (8, 1, 28, 28)");
  EXPECT_EQ(error_of([&] { infer(*conv2, {{8, 784}}); }), "layer 'conv2' (Conv2d): expects input (N, C, H, W), got (8, 784)");
  EXPECT_THAT(error_of([&] { infer(*conv2, {{8, 3, 2, 2}}); }), HasSubstr("layer 'conv2' (Conv2d): conv2d: kernel 3x3"));
  EXPECT_THAT(error_of([&] { infer(*conv2, {{8, 3, 5, 5}}, {DType::I32}); }), HasSubstr("input 0 must hold f32"));
  auto grouped = make("Conv2d", "g", {{"out_channels", I{4}}, {"kernel", L{3, 1}}, {"groups", I{2}}, {"stride", L{2, 1}},
                                      {"pad", L{1, 0}}, {"dilation", I{1}}});
  EXPECT_EQ(infer(*grouped, {{2, 4, 7, 5}}), (Shape{2, 4, 4, 5}));
  EXPECT_THAT(error_of([&] { infer(*grouped, {{2, 3, 7, 5}}); }), HasSubstr("groups=2 does not divide the input's C=3"));

  auto pool = make("MaxPool2d", "pool1", {{"kernel", I{3}}, {"stride", I{2}}});
  EXPECT_EQ(infer(*pool, {{2, 96, 55, 55}}), (Shape{2, 96, 27, 27}));
  EXPECT_THAT(error_of([&] { infer(*pool, {{2, 96, 2, 2}}); }), HasSubstr("layer 'pool1' (MaxPool2d): pool2d: kernel 3x3"));
  auto avg = make("AvgPool2d", "avg", {{"kernel", I{2}}});
  EXPECT_EQ(infer(*avg, {{1, 3, 5, 4}}), (Shape{1, 3, 2, 2}));
}

TEST(Shapes, LinearFlattenLossesAndJoins) {
  auto fc = make("Linear", "fc1", {{"out_features", I{500}}, {"in_features", I{800}}});
  EXPECT_EQ(infer(*fc, {{8, 800}}), (Shape{8, 500}));
  EXPECT_EQ(error_of([&] { infer(*fc, {{8, 50, 4, 4}}); }),
            "layer 'fc1' (Linear): expects input (N, in_features) with in_features=800, got (8, 50, 4, 4) (put a "
            "Flatten layer before it)");
  EXPECT_THAT(error_of([&] { infer(*fc, {{8, 799}}); }), HasSubstr("with in_features=800, got (8, 799)"));
  auto flat = make("Flatten", "flat");
  EXPECT_EQ(infer(*flat, {{8, 50, 4, 4}}), (Shape{8, 800}));
  auto xent = make("SoftmaxCrossEntropy", "loss");
  EXPECT_EQ(infer(*xent, {{8, 10}, {8}}, {DType::F32, DType::I32}), (Shape{1}));
  EXPECT_THAT(error_of([&] { infer(*xent, {{8, 10}, {7}}, {DType::F32, DType::I32}); }),
              HasSubstr("expects labels (N) with N=8 to match the logits (8, 10), got (7,)"));
  EXPECT_THAT(error_of([&] { infer(*xent, {{8, 10}, {8}}); }), HasSubstr("input 1 must hold i32, got f32"));
  auto mse = make("MSELoss", "mse");
  EXPECT_THAT(error_of([&] { infer(*mse, {{8, 1}, {8}}); }), HasSubstr("same shape, got (8, 1) and (8,)"));
  auto add = make("Add", "sum");
  EXPECT_THAT(error_of([&] { infer(*add, {{2, 3}, {2, 4}}); }),
              HasSubstr("layer 'sum' (Add): expects inputs of the same shape, got (2, 3) (input 0) and (2, 4) (input 1)"));
  auto cat = make("Concat", "cat");
  EXPECT_EQ(infer(*cat, {{2, 3, 4, 4}, {2, 5, 4, 4}}), (Shape{2, 8, 4, 4}));
  EXPECT_THAT(error_of([&] { infer(*cat, {{2, 3, 4, 4}, {2, 5, 4, 3}}); }),
              HasSubstr("equal in every dimension but 1 (channels), got (2, 3, 4, 4) (input 0) and (2, 5, 4, 3) (input 1)"));
}

// ---- the gradient convention: parameter gradients +=, input gradients = ----

TEST(Convention, ParameterGradientsAccumulateInputGradientsAreWritten) {
  for (const char* type : {"Conv2d", "Linear"}) {
    SCOPED_TRACE(type);
    const bool conv = std::string(type) == "Conv2d";
    auto layer = conv ? make("Conv2d", "c", {{"out_channels", I{3}}, {"kernel", I{2}}})
                      : make("Linear", "fc", {{"out_features", I{3}}});
    Tensor x = conv ? random_tensor({2, 2, 4, 4}, 1) : random_tensor({2, 5}, 1);
    setup_layer(*layer, {&x});
    Tensor y = layer->forward({&x}, cpu_stream());
    Tensor dy = random_tensor(y.shape(), 2);
    Tensor dx = Tensor::empty(x.shape());
    BackwardArgs a{.inputs = {&x}, .output = &y, .grad_output = &dy, .grad_inputs = {&dx}, .stream = cpu_stream()};
    layer->backward(a);
    const std::vector<float> dw1 = layer->parameters()[0].grad.to_host(), db1 = layer->parameters()[1].grad.to_host();
    const std::vector<float> dx1 = dx.to_host();
    std::fill_n(dx.data<float>(), dx.numel(), 1234.0f);  // written over, not added to
    layer->backward(a);
    const std::vector<float> dw2 = layer->parameters()[0].grad.to_host(), db2 = layer->parameters()[1].grad.to_host();
    for (size_t i = 0; i < dw1.size(); ++i) EXPECT_NEAR(dw2[i], 2 * dw1[i], 1e-5 * (1 + std::fabs(dw1[i])));
    for (size_t i = 0; i < db1.size(); ++i) EXPECT_NEAR(db2[i], 2 * db1[i], 1e-5 * (1 + std::fabs(db1[i])));
    EXPECT_EQ(dx.to_host(), dx1);
  }
}

// ---- finite-difference gradient checks, one per layer ----

struct Case {
  std::string what;
  std::function<std::unique_ptr<Layer>()> layer;
  std::function<std::vector<Tensor>()> inputs;
  float eps = 1e-2f;
};

class Gradcheck : public ::testing::TestWithParam<int> {};

std::vector<Case> cases() {
  std::vector<Case> c;
  c.push_back({"Conv2d", [] { return make("Conv2d", "conv", {{"out_channels", I{4}}, {"kernel", L{3, 2}}, {"stride", L{2, 1}},
                                                               {"pad", I{1}}, {"groups", I{2}}}); },
               [] { std::vector<Tensor> v; v.push_back(random_tensor({2, 4, 6, 5}, 3)); return v; }});
  c.push_back({"Conv2dDilatedNoBias", [] { return make("Conv2d", "conv", {{"out_channels", I{3}}, {"kernel", I{3}}, {"dilation", I{2}},
                                                                            {"pad", I{2}}, {"bias", false}}); },
               [] { std::vector<Tensor> v; v.push_back(random_tensor({1, 2, 7, 7}, 4)); return v; }});
  c.push_back({"MaxPool2d", [] { return make("MaxPool2d", "pool", {{"kernel", I{3}}, {"stride", I{2}}, {"pad", I{1}}}); },
               [] { std::vector<Tensor> v; v.push_back(distinct_tensor({2, 3, 7, 7}, 5, 0.05f)); return v; }});
  c.push_back({"AvgPool2d", [] { return make("AvgPool2d", "pool", {{"kernel", I{3}}, {"stride", I{2}}, {"pad", I{1}},
                                                                     {"count_include_pad", false}}); },
               [] { std::vector<Tensor> v; v.push_back(random_tensor({2, 3, 6, 7}, 6)); return v; }});
  c.push_back({"AdaptiveAvgPool2d", [] { return make("AdaptiveAvgPool2d", "gap", {{"output_size", L{2, 1}}}); },
               [] { std::vector<Tensor> v; v.push_back(random_tensor({2, 3, 4, 5}, 30)); return v; }});
  c.push_back({"BatchNorm2d", [] { return make("BatchNorm2d", "bn"); },
               [] { std::vector<Tensor> v; v.push_back(random_tensor({3, 2, 2, 3}, 31, 0.0f, 2.0f)); return v; }, 1e-3f});
  c.push_back({"BatchNorm1d", [] { return make("BatchNorm1d", "bn", {{"momentum", 0.5}}); },
               [] { std::vector<Tensor> v; v.push_back(random_tensor({5, 3}, 32, 0.0f, 2.0f)); return v; }, 1e-3f});
  c.push_back({"LRN", [] { return make("LRN", "lrn", {{"size", I{3}}, {"alpha", 0.5}, {"beta", 0.75}, {"k", 2.0}}); },
               [] { std::vector<Tensor> v; v.push_back(random_tensor({2, 6, 3, 3}, 7, 0.0f, 2.0f)); return v; }, 1e-3f});
  for (const char* act : {"ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh"})
    c.push_back({act, [act] { return make(act, "act"); },
                 [] { std::vector<Tensor> v; v.push_back(random_tensor({3, 4, 5}, 8, 0.05f, 2.0f)); return v; }, 1e-3f});
  c.push_back({"Dropout", [] { return make("Dropout", "drop", {{"p", 0.4}, {"seed", I{11}}}); },
               [] { std::vector<Tensor> v; v.push_back(random_tensor({4, 25}, 9)); return v; }});
  c.push_back({"Flatten", [] { return make("Flatten", "flat"); },
               [] { std::vector<Tensor> v; v.push_back(random_tensor({2, 3, 2, 2}, 10)); return v; }});
  c.push_back({"Linear", [] { return make("Linear", "fc", {{"out_features", I{7}}}); },
               [] { std::vector<Tensor> v; v.push_back(random_tensor({3, 9}, 11)); return v; }});
  c.push_back({"SoftmaxCrossEntropy", [] { return make("SoftmaxCrossEntropy", "loss", {{"ignore_label", I{-1}}}); },
               [] {
                 std::vector<Tensor> v;
                 v.push_back(random_tensor({5, 6}, 12, 0.0f, 3.0f));
                 v.push_back(labels_tensor({0, 5, -1, 2, 3}));
                 return v;
               }, 1e-3f});
  c.push_back({"MSELoss", [] { return make("MSELoss", "mse", {{"loss_weight", 0.5}}); },
               [] {
                 std::vector<Tensor> v;
                 v.push_back(random_tensor({4, 3}, 13));
                 v.push_back(random_tensor({4, 3}, 14));
                 return v;
               }});
  // L1 and Huber: differences away from their kinks (0; +-delta) by more than the step.
  c.push_back({"L1Loss", [] { return make("L1Loss", "l1", {{"loss_weight", 0.5}}); },
               [] {
                 std::vector<Tensor> v;
                 const std::vector<float> p = {0.4f, -0.7f, 1.2f, 0.05f, -0.3f, 0.8f};
                 const std::vector<float> t = {0.1f, 0.2f, 1.5f, -0.5f, -0.9f, 0.3f};
                 v.push_back(Tensor::from_host(std::span<const float>(p), Shape{2, 3}));
                 v.push_back(Tensor::from_host(std::span<const float>(t), Shape{2, 3}));
                 return v;
               }});
  // BCELoss: probabilities inside (0, 1), away from the clamps.
  c.push_back({"BCELoss", [] { return make("BCELoss", "bce", {{"loss_weight", 0.5}}); },
               [] {
                 std::vector<Tensor> v;
                 const std::vector<float> p = {0.2f, 0.7f, 0.45f, 0.9f, 0.15f, 0.6f};
                 const std::vector<float> t = {0.0f, 1.0f, 0.3f, 0.8f, 0.5f, 0.05f};
                 v.push_back(Tensor::from_host(std::span<const float>(p), Shape{2, 3}));
                 v.push_back(Tensor::from_host(std::span<const float>(t), Shape{2, 3}));
                 return v;
               }, 1e-3f});
  c.push_back({"HuberLoss", [] { return make("HuberLoss", "huber", {{"delta", 0.5}}); },
               [] {
                 std::vector<Tensor> v;
                 const std::vector<float> p = {0.1f, -0.2f, 1.5f, -2.0f, 0.3f, 0.9f};
                 const std::vector<float> t = {0.0f, 0.0f, 0.0f, 0.0f, 0.6f, -0.1f};
                 v.push_back(Tensor::from_host(std::span<const float>(p), Shape{2, 3}));
                 v.push_back(Tensor::from_host(std::span<const float>(t), Shape{2, 3}));
                 return v;
               }});
  c.push_back({"Add", [] { return make("Add", "add"); },
               [] {
                 std::vector<Tensor> v;
                 for (uint32_t s = 0; s < 3; ++s) v.push_back(random_tensor({2, 3, 4}, 15 + s));
                 return v;
               }});
  c.push_back({"Concat", [] { return make("Concat", "cat"); },
               [] {
                 std::vector<Tensor> v;
                 v.push_back(random_tensor({2, 3, 2, 2}, 18));
                 v.push_back(random_tensor({2, 1, 2, 2}, 19));
                 v.push_back(random_tensor({2, 2, 2, 2}, 20));
                 return v;
               }});
  // The recurrent layers (more of their options in tests/recurrent/).
  c.push_back({"LSTM", [] { return make("LSTM", "lstm", {{"hidden_size", I{3}}, {"num_layers", I{2}}}); },
               [] {
                 std::vector<Tensor> v;
                 v.push_back(random_tensor({2, 3, 4}, 21));  // x (N, T, F)
                 v.push_back(random_tensor({2, 2, 3}, 22));  // h0 (layers, N, H)
                 v.push_back(random_tensor({2, 2, 3}, 23));  // c0
                 return v;
               }});
  c.push_back({"RNN", [] { return make("RNN", "rnn", {{"hidden_size", I{4}}, {"bidirectional", true}}); },
               [] { std::vector<Tensor> v; v.push_back(random_tensor({2, 3, 5}, 24)); return v; }});
  c.push_back({"GRU", [] { return make("GRU", "gru", {{"hidden_size", I{3}}, {"num_layers", I{2}}}); },
               [] {
                 std::vector<Tensor> v;
                 v.push_back(random_tensor({2, 3, 4}, 26));  // x (N, T, F)
                 v.push_back(random_tensor({2, 2, 3}, 27));  // h0 (layers, N, H)
                 return v;
               }});
  c.push_back({"Embedding", [] { return make("Embedding", "emb", {{"num_embeddings", I{5}}, {"embedding_dim", I{3}}}); },
               [] {
                 std::vector<Tensor> v;
                 const std::vector<int32_t> ids = {4, 0, 4, 2, 4, 1};  // repeated ids: their rows sum
                 v.push_back(Tensor::from_host(std::span<const int32_t>(ids), Shape{2, 3}));
                 return v;
               }});
  c.push_back({"TimeFlatten", [] { return make("TimeFlatten", "tf"); },
               [] { std::vector<Tensor> v; v.push_back(random_tensor({2, 3, 4}, 25)); return v; }});
  return c;
}

// Every registered layer type has a case above: a new row in layers/registry.cpp without one fails
// here. (No type is waived: every registered layer has a gradient, if only with respect to its
// parameters, like Embedding, or as the identity, like Flatten.)
TEST(LayerGradcheck, EveryRegisteredTypeHasACase) {
  std::set<std::string> covered;
  for (const Case& c : cases()) covered.insert(c.layer()->type());
  for (const std::string& type : layers::layer_types())
    EXPECT_TRUE(covered.count(type)) << "layer type '" << type << "' is registered (layers/registry.cpp) but has no "
                                     << "gradient check: add a case to cases() in tests/layers/layer_test.cpp";
  EXPECT_EQ(covered.size(), layers::layer_types().size());
}

TEST_P(Gradcheck, Layer) {
  const Case c = cases()[static_cast<size_t>(GetParam())];
  auto layer = c.layer();
  std::vector<Tensor> inputs = c.inputs();
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : inputs) ptrs.push_back(&t);
  setup_layer(*layer, ptrs);
  EXPECT_TRUE(gradcheck_layer(*layer, inputs, c.eps)) << c.what;
}

INSTANTIATE_TEST_SUITE_P(Layers, Gradcheck, ::testing::Range(0, static_cast<int>(cases().size())),
                         [](const ::testing::TestParamInfo<int>& info) { return cases()[static_cast<size_t>(info.param)].what; });

// ---- Dropout's random state ----

TEST(Dropout, MasksAdvancePerCallAndResumeExactly) {
  auto a = make("Dropout", "drop", {{"p", 0.5}});
  a->set_seed(1234);
  Tensor x = random_tensor({64}, 1, 0.1f);
  const std::vector<float> y1 = a->forward({&x}, cpu_stream()).to_host();
  const auto state = a->rng_state();
  const std::vector<float> y2 = a->forward({&x}, cpu_stream()).to_host();
  EXPECT_NE(y1, y2);  // a fresh mask per call
  EXPECT_EQ(state.at("offset"), 16u);  // 64 values = 16 Philox blocks
  auto b = make("Dropout", "drop", {{"p", 0.5}});
  b->set_rng_state(state);
  EXPECT_EQ(b->forward({&x}, cpu_stream()).to_host(), y2);  // resumed: the same mask
  int zeros = 0;
  for (float v : y2) zeros += v == 0.0f;
  EXPECT_GT(zeros, 10);
  EXPECT_LT(zeros, 54);
  // Inference: the identity.
  b->set_training(false);
  EXPECT_EQ(b->forward({&x}, cpu_stream()).to_host(), x.to_host());
}

// ---- initialisation ----

TEST(Init, PhiloxInitialisationIsReproducibleAndScaled) {
  Parameter p{.name = "weight", .value = Tensor::empty({256, 64}), .grad = Tensor(),
              .init = Init{InitKind::KaimingNormal, std::nullopt}, .fan_in = 64, .fan_out = 256};
  init_parameter(p, 5, init_offset("fc.weight"), cpu_stream());
  const std::vector<float> a = p.value.to_host();
  init_parameter(p, 5, init_offset("fc.weight"), cpu_stream());
  EXPECT_EQ(p.value.to_host(), a);
  double s2 = 0.0;
  for (float v : a) s2 += static_cast<double>(v) * v;
  EXPECT_NEAR(std::sqrt(s2 / a.size()), std::sqrt(2.0 / 64), 0.01);
  p.init = Init{InitKind::XavierUniform, std::nullopt};
  init_parameter(p, 5, 0, cpu_stream());
  const float bound = static_cast<float>(std::sqrt(6.0 / (64 + 256)));
  for (float v : p.value.to_host()) ASSERT_LE(std::fabs(v), bound);
  p.init = Init{InitKind::Constant, -0.25};
  init_parameter(p, 5, 0, cpu_stream());
  for (float v : p.value.to_host()) ASSERT_EQ(v, -0.25f);
  EXPECT_NE(init_offset("conv1.weight"), init_offset("conv1.bias"));
}

}  // namespace
}  // namespace kiln
