#include <gtest/gtest.h>

#include "core/device.h"
#include "core/error.h"
#include "core/stream.h"

namespace kiln {
namespace {

TEST(Device, ParsesAndPrints) {
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(Device::parse("cuda"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:2"), Device::cuda(2));
  EXPECT_EQ(Device::cuda(1).str(), "cuda:1");
  for (const char* bad : {"gpu", "cuda:", "cuda:-1", "cuda:1x", ""}) {
    EXPECT_THROW(Device::parse(bad), Error) << bad;
  }
}

TEST(Device, SelectCpuAlwaysWorks) { EXPECT_EQ(select_device("cpu"), Device::cpu()); }

TEST(Device, AutoPicksCudaExactlyWhenAvailable) {
  std::string why;
  const bool available = cuda_available(&why);
  const Device d = select_device("auto");
  EXPECT_EQ(d.is_cuda(), available);
  if (!available) {
    EXPECT_FALSE(why.empty());
  }
}

TEST(Device, AskingForCudaWithoutOneIsAClearError) {
  std::string why;
  if (cuda_available(&why)) {
    EXPECT_EQ(select_device("cuda"), Device::cuda(0));
    EXPECT_THROW(select_device("cuda:99"), Error);
    return;
  }
  try {
    select_device("cuda");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("asked for a CUDA device, but " + why), std::string::npos) << e.what();
  }
}

#if !KILN_WITH_DEVICE
TEST(Device, CpuOnlyBuildSaysSo) {
  std::string why;
  EXPECT_FALSE(cuda_available(&why));
  EXPECT_NE(why.find("without GPU support"), std::string::npos) << why;
}
#endif

TEST(Stream, CpuStreamsAreTagsAndMoveOnly) {
  Stream s = Stream::create(Device::cpu());
  EXPECT_EQ(s.native(), nullptr);
  EXPECT_NO_THROW(s.synchronize());
  Stream t = std::move(s);
  EXPECT_TRUE(t.device().is_cpu());
}

}  // namespace
}  // namespace kiln
