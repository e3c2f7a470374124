// TempDir: a fresh folder under the system temp dir for one test, removed with the object.
//
//   TempDir dir;                                  // /tmp/kiln_<Suite>_<Test>_<random>/
//   write_file(dir.path("config.toml"), text);    // a path inside it
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>

namespace kiln::testing {

class TempDir {
 public:
  // The folder is named after the running test (when there is one) and a random number, so suites
  // running in parallel (ctest -j) never share one.
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? std::string(info->test_suite_name()) + "_" + info->name() : "test";
    for (char& c : name)
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    root_ = std::filesystem::temp_directory_path() / ("kiln_" + name + "_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(root_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // DIR/name (nothing is created).
  std::string path(const std::string& name) const { return (root_ / name).string(); }
  const std::filesystem::path& root() const { return root_; }
  std::string str() const { return root_.string(); }

 private:
  std::filesystem::path root_;
};

}  // namespace kiln::testing
