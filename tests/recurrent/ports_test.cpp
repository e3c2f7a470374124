// tests/recurrent: a recurrent layer's ports (its final states "h_n", "c_n" as graph tensors), the
// wiring of an encoder-decoder: the encoder's final states are the decoder's h0/c0, and gradients
// flow from the decoder's loss back through them into the encoder. Checked by finite differences of
// the whole net's loss with respect to every encoder parameter (which only the ports connect to the
// loss), and against a decoder fed the same states as constant inputs.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "layers/net.h"
#include "layers/recurrent.h"
#include "tests/common/error_of.h"
#include "tests/layers/helpers.h"

namespace kiln {
namespace {

using namespace kiln::testing;

constexpr int N = 2, Ts = 4, Td = 3, F = 3, H = 4;

// src (N, Ts, F) -> encoder; decoder reads (dec (N, Td, F), encoder's final states) -> MSE to target.
Net encoder_decoder(const std::string& type, int layers) {
  Net net(Device::cpu());
  net.add_input("src");
  net.add_input("dec");
  net.add_input("target");
  const std::map<std::string, Value> p{{"hidden_size", int64_t{H}}, {"num_layers", int64_t{layers}}};
  const Layer& encoder = net.add(make(type, "encoder", p), {"src"});
  EXPECT_EQ(&encoder, &net.layer("encoder"));  // the layer, not one of its ports' nodes
  std::vector<std::string> dec_inputs{"dec", "encoder.h_n"};
  if (type == "LSTM") dec_inputs.push_back("encoder.c_n");
  net.add(make(type, "decoder", p), dec_inputs);
  net.add(make("MSELoss", "loss"), {"decoder", "target"});
  return net;
}

struct Feeds {
  Tensor src = random_tensor(Shape{N, Ts, F}, 11);
  Tensor dec = random_tensor(Shape{N, Td, F}, 12);
  Tensor target = random_tensor(Shape{N, Td, H}, 13);
  std::map<std::string, const Tensor*> map() const { return {{"src", &src}, {"dec", &dec}, {"target", &target}}; }
};

void check_encoder_gradients(const std::string& type, int layers) {
  Net net = encoder_decoder(type, layers);
  const Feeds feeds;
  net.setup({{"src", feeds.src.shape()}, {"dec", feeds.dec.shape()}, {"target", feeds.target.shape()}});
  net.init_parameters(5);
  net.zero_grad();
  net.forward(feeds.map());
  net.backward();
  auto objective = [&] {
    net.forward(feeds.map());
    return static_cast<double>(net.output("loss").data<float>()[0]);
  };
  const FiniteDifference fd{.eps = 1e-2, .atol = 1e-4, .rtol = 2e-2, .max_checks = 24};
  int checked = 0;
  for (const Net::ParamRef& p : net.parameters()) {
    if (p.layer->name() != "encoder") continue;
    EXPECT_TRUE(check_gradient(p.param->value.data<float>(), p.param->grad.data<float>(), p.param->value.numel(),
                               objective, fd, p.name));
    ++checked;
  }
  EXPECT_EQ(checked, 4 * layers);
}

TEST(RecurrentPorts, LstmEncoderGradientsFlowThroughFinalStates) { check_encoder_gradients("LSTM", 2); }
TEST(RecurrentPorts, RnnEncoderGradientsFlowThroughFinalHidden) { check_encoder_gradients("RNN", 1); }
TEST(RecurrentPorts, GruEncoderGradientsFlowThroughFinalHidden) { check_encoder_gradients("GRU", 2); }

TEST(RecurrentPorts, PortsAreTheFinalStatesAndFeedTheDecoderAsItsInitialStates) {
  Net net = encoder_decoder("LSTM", 2);
  const Feeds feeds;
  net.forward(feeds.map());
  EXPECT_EQ(net.shape_of("encoder.h_n"), (Shape{2, N, H}));
  EXPECT_EQ(net.shape_of("encoder.c_n"), (Shape{2, N, H}));
  const auto& enc = dynamic_cast<const layers::Recurrent&>(net.layer("encoder"));
  EXPECT_EQ(net.output("encoder.h_n").to_host(), enc.final_h().to_host());
  EXPECT_EQ(net.output("encoder.c_n").to_host(), enc.final_c().to_host());

  // The decoder alone, fed those states as inputs, computes the same output; and the gradients
  // of its h0/c0 inputs are what reached the encoder's ports.
  Net alone(Device::cpu());
  alone.add_input("dec");
  alone.add_input("h0");
  alone.add_input("c0");
  alone.add_input("target");
  alone.add(make("LSTM", "decoder", {{"hidden_size", int64_t{H}}, {"num_layers", int64_t{2}}}), {"dec", "h0", "c0"});
  alone.add(make("MSELoss", "loss"), {"decoder", "target"});
  const Tensor h0 = net.output("encoder.h_n").clone(), c0 = net.output("encoder.c_n").clone();
  alone.setup({{"dec", feeds.dec.shape()}, {"h0", h0.shape()}, {"c0", c0.shape()}, {"target", feeds.target.shape()}});
  auto from = net.parameters();
  auto to = alone.parameters();
  for (auto& p : to)
    for (auto& q : from)
      if (q.name == p.name) p.param->value.copy_from(q.param->value);
  alone.forward({{"dec", &feeds.dec}, {"h0", &h0}, {"c0", &c0}, {"target", &feeds.target}});
  EXPECT_EQ(alone.output("loss").to_host(), net.output("loss").to_host());
}

TEST(RecurrentPorts, UnknownPortsAreNamedWithWhatExists) {
  Net net(Device::cpu());
  net.add_input("src");
  net.add(make("RNN", "encoder", {{"hidden_size", int64_t{H}}}), {"src"});
  net.add(make("RNN", "decoder", {{"hidden_size", int64_t{H}}}), {"src", "encoder.c_n"});
  const std::string e = error_of([&] { net.setup({{"src", Shape{N, Ts, F}}}); });
  EXPECT_NE(e.find("input 'encoder.c_n' is neither a net input nor a layer"), std::string::npos) << e;
  EXPECT_NE(e.find("encoder.h_n"), std::string::npos) << e;
}

}  // namespace
}  // namespace kiln
