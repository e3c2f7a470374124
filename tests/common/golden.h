// Golden fixtures written by the tests' make_golden.py scripts (PyTorch results in float64): one
// tensor per two lines, "<name> <rank> <dims...>" then the values row-major, and a comparison with
// a mixed tolerance.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace kiln::testing {

struct Golden {
  std::map<std::string, std::pair<Shape, std::vector<float>>> t;
  const std::vector<float>& v(const std::string& name) const { return t.at(name).second; }
  Tensor tensor(const std::string& name, Device d) const {
    const auto& [shape, values] = t.at(name);
    return Tensor::from_host(std::span<const float>(values), shape, d);
  }
};

// `script` names the generator in the error for a missing file.
inline Golden load_golden(const std::string& path, const std::string& script) {
  std::ifstream f(path);
  if (!f) throw Error("cannot open " + path + " (regenerate with " + script + ")");
  Golden g;
  std::string header, values;
  while (std::getline(f, header) && std::getline(f, values)) {
    std::istringstream h(header), vs(values);
    std::string name;
    int rank = 0;
    h >> name >> rank;
    Shape shape;
    for (int i = 0; i < rank; ++i) {
      int64_t d = 0;
      h >> d;
      shape.push_back(d);
    }
    std::vector<float> v;
    double x = 0;
    while (vs >> x) v.push_back(static_cast<float>(x));
    EXPECT_EQ(static_cast<int64_t>(v.size()), shape.numel()) << name;
    g.t[name] = {shape, std::move(v)};
  }
  return g;
}

// got == want within atol + rtol * |want| elementwise; the first miss is named.
inline ::testing::AssertionResult near(const std::vector<float>& got, const std::vector<float>& want,
                                       const std::string& what, double atol = 2e-5, double rtol = 1e-4) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << what << ": " << got.size() << " values, want " << want.size();
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(static_cast<double>(got[i]) - want[i]) <= atol + rtol * std::fabs(want[i])))
      return ::testing::AssertionFailure() << what << "[" << i << "]: got " << got[i] << ", PyTorch " << want[i];
  return ::testing::AssertionSuccess();
}

}  // namespace kiln::testing
