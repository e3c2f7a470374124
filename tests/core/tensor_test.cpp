#include <gtest/gtest.h>

#include <numeric>
#include <type_traits>
#include <vector>

#include "core/allocator.h"
#include "core/error.h"
#include "core/tensor.h"
#include "tests/common/device.h"

namespace kiln {
namespace {

std::vector<float> iota(int n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 0.0f);
  return v;
}

static_assert(!std::is_copy_constructible_v<Tensor>, "tensors must never deep-copy implicitly");
static_assert(std::is_nothrow_move_constructible_v<Tensor>);

TEST(Tensor, EmptyHasShapeDtypeAndBytes) {
  Tensor t = Tensor::empty({2, 3, 4, 5, 6});
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.rank(), 5);
  EXPECT_EQ(t.numel(), 720);
  EXPECT_EQ(t.nbytes(), 720u * 4);
  EXPECT_EQ(t.dtype(), DType::F32);
  EXPECT_TRUE(t.device().is_cpu());
  EXPECT_EQ(t.str(), "Tensor(f32, (2, 3, 4, 5, 6), cpu)");
  EXPECT_FALSE(Tensor().defined());
}

TEST(Tensor, ZerosAndFromHost) {
  Tensor z = Tensor::zeros({3, 3});
  for (float v : z.to_host()) EXPECT_EQ(v, 0.0f);
  const auto values = iota(6);
  Tensor t = Tensor::from_host(values, {2, 3});
  EXPECT_EQ(t.to_host(), values);
  EXPECT_THROW(Tensor::from_host(values, {4, 2}), Error);
}

TEST(Tensor, ReshapeAndViewShareMemory) {
  Tensor t = Tensor::from_host(iota(12), {3, 4});
  Tensor r = t.reshape({2, 6});
  EXPECT_TRUE(r.shares_memory_with(t));
  EXPECT_EQ(r.data<float>(), t.data<float>());
  r.data<float>()[5] = 42.0f;
  EXPECT_EQ(t.data<float>()[5], 42.0f);
  EXPECT_THROW(t.reshape({5, 2}), Error);
  Tensor v = t.view();
  EXPECT_TRUE(v.shares_memory_with(t));
}

TEST(Tensor, SliceIsARowRangeView) {
  Tensor t = Tensor::from_host(iota(12), {4, 3});
  Tensor s = t.slice(1, 3);
  EXPECT_EQ(s.shape(), (Shape{2, 3}));
  EXPECT_EQ(s.to_host(), (std::vector<float>{3, 4, 5, 6, 7, 8}));
  EXPECT_TRUE(s.shares_memory_with(t));
  EXPECT_THROW(t.slice(2, 5), Error);
  EXPECT_THROW(t.slice(3, 2), Error);
}

TEST(Tensor, CloneIsADeepCopy) {
  Tensor t = Tensor::from_host(iota(4), {4});
  Tensor c = t.clone();
  EXPECT_FALSE(c.shares_memory_with(t));
  c.data<float>()[0] = -1.0f;
  EXPECT_EQ(t.data<float>()[0], 0.0f);
}

TEST(Tensor, MemoryLivesWhileAnyViewDoes) {
  CachingAllocator& cpu = allocator_for(Device::cpu());
  const uint64_t before = cpu.stats().in_use;
  Tensor v;
  {
    Tensor t = Tensor::from_host(iota(1000), {1000});
    v = t.reshape({10, 100});
  }
  EXPECT_GT(cpu.stats().in_use, before);
  EXPECT_EQ(v.to_host()[999], 999.0f);
  v = Tensor();
  EXPECT_EQ(cpu.stats().in_use, before);
}

TEST(Tensor, MovedFromTensorIsUndefined) {
  Tensor t = Tensor::zeros({2});
  Tensor u = std::move(t);
  EXPECT_TRUE(u.defined());
  EXPECT_FALSE(t.defined());  // NOLINT(bugprone-use-after-move): documented state
}

TEST(Tensor, DtypeIsChecked) {
  Tensor labels = Tensor::from_host(std::vector<int32_t>{1, 2, 3}, {3});
  EXPECT_EQ(labels.dtype(), DType::I32);
  EXPECT_EQ(labels.to_host_i32(), (std::vector<int32_t>{1, 2, 3}));
  try {
    labels.data<float>();
    FAIL() << "expected a dtype error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds i32, not f32"), std::string::npos) << e.what();
  }
}

TEST(Tensor, CopyFromChecksShapes) {
  Tensor a = Tensor::zeros({2, 3});
  Tensor b = Tensor::zeros({7});
  try {
    a.copy_from(b);
    FAIL() << "expected a shape mismatch error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("(7,)"), std::string::npos) << e.what();
    EXPECT_NE(e.message().find("(2, 3)"), std::string::npos) << e.what();
  }
}

TEST(Tensor, RoundTripThroughTheDevice) {
  KILN_REQUIRE_DEVICE();
  const std::vector<float> values = iota(1000);
  Tensor host = Tensor::from_host(values, {10, 100});
  Tensor dev = host.to(Device::cuda());
  EXPECT_TRUE(dev.device().is_cuda());
  Tensor dev2 = dev.clone();
  EXPECT_FALSE(dev2.shares_memory_with(dev));
  EXPECT_EQ(dev2.slice(5, 10).to_host(), std::vector<float>(values.begin() + 500, values.end()));
  dev2.fill_zero();
  for (float v : dev2.to_host()) EXPECT_EQ(v, 0.0f);
  EXPECT_EQ(dev.to(Device::cpu()).to_host(), values);
}

}  // namespace
}  // namespace kiln
