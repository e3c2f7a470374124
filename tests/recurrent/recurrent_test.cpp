// tests/recurrent: the Recurrent layer's options beyond a plain LSTM (the PyTorch goldens for these are
// in lstm_test.cpp; the GRU's own tests in gru_test.cpp):
//   * finite-difference gradient checks of bidirectional LSTMs and of tanh / ReLU RNNs;
//   * stateful (truncated BPTT, LSTM, RNN and GRU): two chunks through a stateful layer give the outputs of the whole
//     sequence, and the second chunk's gradients are those of a layer fed the first chunk's final
//     states as constant h0/c0; reset_state, a changed batch size, carried_state round trips;
//   * the spec errors (nonlinearity, stateful with state inputs, carried state shapes).
#include <gtest/gtest.h>

#include <vector>

#include "layers/net.h"
#include "layers/recurrent.h"
#include "layers/registry.h"
#include "tests/layers/helpers.h"

namespace kiln {
namespace {

using namespace kiln::testing;

std::vector<const Tensor*> pointers(const std::vector<Tensor>& v) {
  std::vector<const Tensor*> out;
  for (const Tensor& t : v) out.push_back(&t);
  return out;
}

TEST(RecurrentLayer, GradcheckBidirectionalLstmTwoLayersWithStates) {
  auto l = make("LSTM", "bilstm", {{"hidden_size", 3}, {"num_layers", 2}, {"bidirectional", true}});
  std::vector<Tensor> in;
  in.push_back(random_tensor(Shape{2, 4, 3}, 1));
  in.push_back(random_tensor(Shape{4, 2, 3}, 2));
  in.push_back(random_tensor(Shape{4, 2, 3}, 3));
  setup_layer(*l, pointers(in));
  EXPECT_EQ(l->output_shape({in[0].shape(), in[1].shape(), in[2].shape()}, {DType::F32, DType::F32, DType::F32}),
            (Shape{2, 4, 6}));
  EXPECT_TRUE(gradcheck_layer(*l, in, 1e-2f, 2e-3, 2e-2, 60));
}

TEST(RecurrentLayer, GradcheckTanhRnnTimeFirstWithState) {
  auto l = make("RNN", "rnn", {{"hidden_size", 4}, {"num_layers", 2}, {"batch_first", false}});
  std::vector<Tensor> in;
  in.push_back(random_tensor(Shape{3, 2, 5}, 4));
  in.push_back(random_tensor(Shape{2, 2, 4}, 5));
  setup_layer(*l, pointers(in));
  EXPECT_TRUE(gradcheck_layer(*l, in, 1e-2f, 2e-3, 2e-2, 60));
}

TEST(RecurrentLayer, GradcheckBidirectionalReluRnnNoBias) {
  // ReLU has a kink at 0: inputs bounded away from it are not guaranteed through two layers, so
  // the step is small and the check tolerant of a rare crossing.
  auto l = make("RNN", "rnn", {{"hidden_size", 3}, {"nonlinearity", "relu"}, {"bidirectional", true}, {"bias", false}});
  std::vector<Tensor> in;
  in.push_back(random_tensor(Shape{2, 3, 4}, 6, 0.1f));
  setup_layer(*l, pointers(in));
  EXPECT_TRUE(gradcheck_layer(*l, in, 1e-3f, 5e-3, 3e-2, 60));
}

TEST(RecurrentLayer, NamesOfBidirectionalParametersFollowPyTorch) {
  auto l = make("RNN", "rnn", {{"hidden_size", 2}, {"bidirectional", true}, {"num_layers", 2}});
  l->setup({Shape{1, 3, 5}}, Device::cpu());
  std::vector<std::string> names;
  for (const Parameter& p : l->parameters()) names.push_back(p.name + " " + p.value.shape().str());
  EXPECT_EQ(names, (std::vector<std::string>{
                       "weight_ih_l0 (2, 5)", "weight_hh_l0 (2, 2)", "bias_ih_l0 (2,)", "bias_hh_l0 (2,)",
                       "weight_ih_l0_reverse (2, 5)", "weight_hh_l0_reverse (2, 2)", "bias_ih_l0_reverse (2,)",
                       "bias_hh_l0_reverse (2,)", "weight_ih_l1 (2, 4)", "weight_hh_l1 (2, 2)", "bias_ih_l1 (2,)",
                       "bias_hh_l1 (2,)", "weight_ih_l1_reverse (2, 4)", "weight_hh_l1_reverse (2, 2)",
                       "bias_ih_l1_reverse (2,)", "bias_hh_l1_reverse (2,)"}));
}

TEST(RecurrentLayer, SpecErrors) {
  EXPECT_THAT(error_of([] { (void)make("RNN", "r", {{"hidden_size", 2}, {"nonlinearity", "sigmoid"}}); }),
              ::testing::HasSubstr("nonlinearity"));
  EXPECT_THAT(error_of([] { (void)make("LSTM", "b", {{"hidden_size", 2}, {"stateful", true}, {"bidirectional", true}}); }),
              ::testing::HasSubstr("layer 'b': 'stateful' must be false when bidirectional = true"));
  auto l = make("LSTM", "s", {{"hidden_size", 2}, {"stateful", true}});
  EXPECT_THAT(error_of([&] {
                (void)l->output_shape({Shape{1, 3, 2}, Shape{1, 1, 2}, Shape{1, 1, 2}},
                                      {DType::F32, DType::F32, DType::F32});
              }),
              ::testing::HasSubstr("is stateful (it carries its own states): expects 1 input (x), got 3"));
  auto rnn = make("RNN", "r", {{"hidden_size", 2}});
  EXPECT_THAT(error_of([&] {
                (void)rnn->output_shape({Shape{1, 3, 2}, Shape{1, 1, 2}, Shape{1, 1, 2}},
                                        {DType::F32, DType::F32, DType::F32});
              }),
              ::testing::HasSubstr("expects 1 input (x) or 2 (x, h0), got 3"));
  EXPECT_THAT(error_of([&] { l->set_carried_state("h", Tensor::zeros(Shape{2, 1, 2})); }),
              ::testing::HasSubstr("state 'h' must be (num_layers * directions, N, H) = (1, N, 2), got (2, 1, 2)"));
  EXPECT_THAT(error_of([&] { rnn->set_carried_state("h", Tensor::zeros(Shape{1, 1, 2})); }),
              ::testing::HasSubstr("carries no state 'h' (it is not stateful)"));
}

// Copies `src`'s parameter values into `dst` (same architecture).
void copy_parameters(Layer& dst, const Layer& src) {
  for (size_t i = 0; i < dst.parameters().size(); ++i) dst.parameters()[i].value.copy_from(src.parameters()[i].value);
}

Tensor slice_time(const Tensor& x, int64_t t0, int64_t t1) {  // (N, T, F) -> (N, t1 - t0, F)
  const int64_t n = x.dim(0), t = x.dim(1), f = x.dim(2);
  std::vector<float> all = x.to_host(), out;
  for (int64_t i = 0; i < n; ++i)
    out.insert(out.end(), all.begin() + (i * t + t0) * f, all.begin() + (i * t + t1) * f);
  return Tensor::from_host(std::span<const float>(out), Shape{n, t1 - t0, f});
}

void expect_near(const Tensor& got, const Tensor& want, const std::string& what) {
  const std::vector<float> g = got.to_host(), w = want.to_host();
  ASSERT_EQ(g.size(), w.size()) << what;
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], w[i], 1e-5) << what << "[" << i << "]";
}

void check_truncated_bptt(const std::string& type) {
  const bool lstm = type == "LSTM";
  std::map<std::string, Value> spec = {{"hidden_size", 3}, {"num_layers", 2}};
  auto whole = make(type, "whole", spec);
  spec["stateful"] = true;
  auto carried = make(type, "carried", spec);
  const Tensor x = random_tensor(Shape{2, 6, 4}, 11);
  setup_layer(*whole, {&x});
  carried->setup({Shape{2, 3, 4}}, Device::cpu());
  copy_parameters(*carried, *whole);
  auto& rec = dynamic_cast<layers::Recurrent&>(*carried);

  // Forward: chunk after chunk equals the whole sequence.
  const Tensor y = whole->forward({&x}, cpu_stream());
  const Tensor x1 = slice_time(x, 0, 3), x2 = slice_time(x, 3, 6);
  expect_near(carried->forward({&x1}, cpu_stream()), slice_time(y, 0, 3), type + " chunk 1");
  const Tensor h1 = rec.final_h().clone();
  const Tensor c1 = lstm ? rec.final_c().clone() : Tensor();
  ASSERT_EQ(carried->carried_state().size(), lstm ? 2u : 1u);
  const Tensor y2 = carried->forward({&x2}, cpu_stream());
  expect_near(y2, slice_time(y, 3, 6), type + " chunk 2");

  // Backward of chunk 2: the gradients of a plain layer given chunk 1's states as constants.
  auto plain = make(type, "plain", {{"hidden_size", 3}, {"num_layers", 2}});
  std::vector<Tensor> in2;
  in2.push_back(x2.clone());
  in2.push_back(h1.clone());
  if (lstm) in2.push_back(c1.clone());
  setup_layer(*plain, pointers(in2));
  copy_parameters(*plain, *whole);
  const Tensor plain_y = plain->forward(pointers(in2), cpu_stream());
  expect_near(plain_y, y2, type + " plain chunk 2");
  const Tensor dy = random_tensor(y2.shape(), 12);
  auto run_backward = [&](Layer& layer, const std::vector<const Tensor*>& inputs) {
    for (Parameter& p : layer.parameters()) p.grad.fill_zero();
    std::vector<Tensor> grads;
    for (const Tensor* t : inputs) grads.push_back(Tensor::empty(t->shape()));
    BackwardArgs a{.inputs = inputs, .grad_output = &dy, .stream = cpu_stream()};
    for (size_t i = 0; i < grads.size(); ++i) a.grad_inputs.push_back(i == 0 ? &grads[0] : nullptr);
    layer.backward(a);
    return std::move(grads[0]);
  };
  const Tensor dx_plain = run_backward(*plain, pointers(in2));
  const Tensor dx_carried = run_backward(*carried, {&x2});
  expect_near(dx_carried, dx_plain, type + " dx");
  for (size_t i = 0; i < plain->parameters().size(); ++i)
    expect_near(carried->parameters()[i].grad, plain->parameters()[i].grad,
                type + " grad " + plain->parameters()[i].name);

  // reset_state: the next chunk starts from zeros again, as the first did.
  carried->reset_state();
  EXPECT_TRUE(carried->carried_state().empty());
  expect_near(carried->forward({&x1}, cpu_stream()), slice_time(y, 0, 3), type + " after reset");
  // A batch of another size starts from zeros too.
  const Tensor one = slice_time(random_tensor(Shape{1, 6, 4}, 13), 0, 3);
  auto fresh = make(type, "fresh", {{"hidden_size", 3}, {"num_layers", 2}});
  fresh->setup({one.shape()}, Device::cpu());
  copy_parameters(*fresh, *whole);
  expect_near(carried->forward({&one}, cpu_stream()), fresh->forward({&one}, cpu_stream()), type + " new batch size");
}

TEST(RecurrentLayer, StatefulLstmIsTruncatedBptt) { check_truncated_bptt("LSTM"); }
TEST(RecurrentLayer, StatefulRnnIsTruncatedBptt) { check_truncated_bptt("RNN"); }
TEST(RecurrentLayer, StatefulGruIsTruncatedBptt) { check_truncated_bptt("GRU"); }

TEST(RecurrentLayer, CarriedStateRoundTripsThroughTheNet) {
  // What a checkpoint does: read the carried state, put it into a fresh net, continue identically.
  const std::vector<LayerSpec> specs = {{.type = "LSTM",
                                         .name = "lstm",
                                         .inputs = {"data"},
                                         .params = {{"hidden_size", 3}, {"stateful", true}, {"num_layers", 2}}}};
  auto build = [&] {
    Net net = layers::build_net({{"data", DType::F32}}, specs, Device::cpu());
    net.setup({{"data", Shape{2, 3, 4}}});
    net.init_parameters(5);
    net.set_training(false);
    return net;
  };
  Net a = build(), b = build();
  const Tensor x = random_tensor(Shape{2, 3, 4}, 14);
  a.forward({{"data", &x}});
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : a.carried_state()) state[name] = t->clone();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state.at("lstm.h").shape(), (Shape{2, 2, 3}));
  b.set_carried_state(std::move(state));
  a.forward({{"data", &x}});
  b.forward({{"data", &x}});
  expect_near(b.output("lstm"), a.output("lstm"), "continued");
  a.reset_state();
  EXPECT_TRUE(a.carried_state().empty());
}

}  // namespace
}  // namespace kiln
