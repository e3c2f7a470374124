// write_safetensors is atomic and leaves nothing behind: a full disk is one error naming the file
// and the cause, with the old file untouched and no temporary left; a writer killed mid-write
// (kill -9) leaves at most its "<path>.tmp.<pid>", which the next write to <path> removes; a live
// writer's temporary (locked) and other files are never touched.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/safetensors.h"
#include "core/tensor.h"
#include "tests/common/small_disk.h"
#include "tests/common/temp_dir.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

// The names in `dir` that start with `prefix`, sorted.
std::vector<std::string> names_starting(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with(prefix)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void touch(const std::string& path, const std::string& text = "partial") { std::ofstream(path) << text; }

Tensor filled(int64_t n, float value) {
  std::vector<float> v(static_cast<size_t>(n), value);
  return Tensor::from_host(std::span<const float>(v), {n});
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(SafetensorsWrite, StaleTemporariesOfThisPathAreRemovedOthersKept) {
  testing::TempDir dir;
  const std::string path = dir.path("w.safetensors");
  for (const char* stale : {"w.safetensors.tmp.1", "w.safetensors.tmp.999999", "w.safetensors.tmp.4242"}) {
    touch(dir.path(stale));
  }
  for (const char* other : {"other.safetensors.tmp.5", "w.safetensors.tmp.abc", "w.safetensors.tmp.", "w.safetensors.tmp"}) {
    touch(dir.path(other));
  }
  fs::create_directory(dir.path("w.safetensors.tmp.77"));  // not a regular file: left alone
  Tensor t = filled(16, 2.0f);
  write_safetensors(path, {{"t", &t}}, {{"k", "v"}});
  EXPECT_EQ(names_starting(dir.str(), "w.safetensors.tmp."),
            (std::vector<std::string>{"w.safetensors.tmp.", "w.safetensors.tmp.77", "w.safetensors.tmp.abc"}));
  EXPECT_TRUE(fs::exists(dir.path("other.safetensors.tmp.5")));
  EXPECT_TRUE(fs::exists(dir.path("w.safetensors.tmp")));
  const SafetensorsFile f = read_safetensors(path);
  EXPECT_EQ(f.metadata.at("k"), "v");
}

TEST(SafetensorsWrite, ALiveWritersLockedTemporaryIsLeftAlone) {
  testing::TempDir dir;
  const std::string path = dir.path("w.safetensors"), busy = dir.path("w.safetensors.tmp.123");
  touch(busy);
  const int fd = ::open(busy.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);  // as a writer holds its temporary
  Tensor t = filled(4, 1.0f);
  write_safetensors(path, {{"t", &t}}, {});
  EXPECT_TRUE(fs::exists(busy));
  ::close(fd);  // the writer died: the next write removes it
  write_safetensors(path, {{"t", &t}}, {});
  EXPECT_FALSE(fs::exists(busy));
  EXPECT_TRUE(names_starting(dir.str(), "w.safetensors.tmp").empty());
}

TEST(SafetensorsWrite, AFullDiskIsOneErrorAndTheOldFileStays) {
  testing::TempDir dir;
  kiln::testing::SmallDisk disk(dir.path("small"), 64 * 1024);
  if (!disk.ok()) GTEST_SKIP() << disk.why();
  const std::string path = dir.path("small/w.safetensors");
  Tensor small = filled(8, 3.0f);
  write_safetensors(path, {{"t", &small}}, {{"step", "1"}});
  Tensor big = filled(100000, 4.0f);  // 400 KB on a 64 KB disk
  const std::string message = message_of([&] { write_safetensors(path, {{"t", &big}}, {{"step", "2"}}); });
  EXPECT_NE(message.find("cannot write '" + path + "'"), std::string::npos) << message;
  EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
  EXPECT_NE(message.find("as it was before"), std::string::npos) << message;
  EXPECT_TRUE(names_starting(dir.path("small"), "w.safetensors.tmp").empty());
  const SafetensorsFile f = read_safetensors(path);
  EXPECT_EQ(f.metadata.at("step"), "1");
  EXPECT_EQ(f.tensors.at("t").shape, (Shape{8}));
}

// A child writes the file over and over and is killed (SIGKILL) at a random moment, 30 times: the
// file is always whole (the old or the new one), at most one temporary is ever left, and the next
// write leaves none.
TEST(SafetensorsWrite, KilledWritersNeverLeaveABrokenFileOrPilesOfTemporaries) {
  testing::TempDir dir;
  const std::string path = dir.path("w.safetensors");
  Tensor a = filled(1 << 20, 1.0f), b = filled(1 << 20, 2.0f);  // 4 MB each
  write_safetensors(path, {{"t", &a}}, {{"which", "a"}});
  std::mt19937 rng(7);
  int temporaries_seen = 0;
  for (int i = 0; i < 30; ++i) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {  // never returns into the test framework
      try {
        for (int n = 0;; ++n) {
          if (n % 2 == 0) {
            write_safetensors(path, {{"t", &b}}, {{"which", "b"}});
          } else {
            write_safetensors(path, {{"t", &a}}, {{"which", "a"}});
          }
        }
      } catch (...) {
        _exit(1);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 30000)(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status)) << "the writer failed before the kill (exit " << WEXITSTATUS(status) << ")";
    const auto temporaries = names_starting(dir.str(), "w.safetensors.tmp");
    EXPECT_LE(temporaries.size(), 1u) << "after kill " << i;
    temporaries_seen += static_cast<int>(temporaries.size());
    const SafetensorsFile f = read_safetensors(path);  // throws if torn
    const std::string which = f.metadata.at("which");
    EXPECT_TRUE(which == "a" || which == "b") << which;
    EXPECT_EQ(f.tensors.at("t").shape, (Shape{1 << 20}));
  }
  write_safetensors(path, {{"t", &a}}, {{"which", "a"}});
  EXPECT_TRUE(names_starting(dir.str(), "w.safetensors.tmp").empty());
  std::printf("[ info ] %d of 30 kills left a temporary behind (each removed by the next write)\n", temporaries_seen);
}

}  // namespace
}  // namespace kiln
