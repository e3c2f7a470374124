// Issue 18, classes 1-3: hostile input never crashes, hangs or ends in bare exception text.
// Hand-made reproducers run through the `kiln` binary under `ulimit -v` (an unbounded allocation
// fails the test instead of filling the machine) and `timeout` (a hang fails it instead of
// blocking the suite): each must end in one line "kiln: error: ..." naming the file, key or layer,
// quickly, with no "terminate called" and no bare "std::bad_alloc".
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/common/run_command.h"
#include "tests/common/temp_dir.h"

namespace kiln {
namespace {

using kiln::testing::CommandResult;
using kiln::testing::run_command;
using kiln::testing::TempDir;

const std::string kKiln = KILN_BINARY;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// `kiln ARGS` under a 2 GB address-space limit and a 60 s timeout; its output and how long it took.
struct BoundedRun {
  CommandResult result;
  double seconds = 0;
};
BoundedRun kiln_bounded(const std::string& args) {
  const auto start = std::chrono::steady_clock::now();
  BoundedRun r;
  r.result = run_command(fmt::format("bash -c 'ulimit -v 2000000; exec timeout -s KILL 60 {} {}'", kKiln, args));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

std::string train(const std::string& config, const TempDir& dir, const std::string& more = "") {
  return fmt::format("train {} --device cpu --out {} --no-plot {}", config, dir.path("out"), more);
}

// Exit code 1 within 30 s, one "kiln: error: " line holding every one of `parts`, and no crash text.
void expect_one_clear_error(const BoundedRun& run, const std::vector<std::string>& parts) {
  const CommandResult& r = run.result;
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_LT(run.seconds, 30.0) << r.output;
  std::string line;
  int error_lines = 0;
  for (size_t at = r.output.find("kiln: error: "); at != std::string::npos; at = r.output.find("kiln: error: ", at + 1)) {
    ++error_lines;
    line = r.output.substr(at, r.output.find('\n', at) - at);
  }
  EXPECT_EQ(error_lines, 1) << r.output;
  for (const std::string& p : parts) EXPECT_TRUE(contains(line, p)) << "missing '" << p << "' in: " << r.output;
  EXPECT_FALSE(contains(r.output, "terminate called")) << r.output;
  EXPECT_FALSE(contains(r.output, "Aborted")) << r.output;
  EXPECT_FALSE(contains(line, "kiln: error: std::bad_alloc")) << r.output;
}

// A tiny CNN on (1, 8, 8) inputs, 4 classes; `data` is the [data] body, `fc` the Linear's width.
std::string cnn_config(const std::string& data, const std::string& train = "epochs = 1\nbatch = 8\n",
                       const std::string& input = "[1, 8, 8]", int64_t fc = 4) {
  return fmt::format(
      "[model]\nname = \"tiny\"\ninput = {}\nclasses = 4\n\n"
      "[[layer]]\ntype = \"Conv2d\"\nname = \"conv1\"\nout_channels = 4\nkernel = 3\npad = 1\n\n"
      "[[layer]]\ntype = \"Flatten\"\nname = \"flatten\"\n\n"
      "[[layer]]\ntype = \"Linear\"\nname = \"fc\"\nout_features = {}\n\n"
      "[[layer]]\ntype = \"SoftmaxCrossEntropy\"\nname = \"loss\"\n\n"
      "[data]\n{}\n[solver]\ntype = \"sgd\"\nlr = 0.01\n\n[train]\n{}",
      input, fc, data, train);
}

std::string write_config(const TempDir& dir, const std::string& name, const std::string& text) {
  write_bytes(dir.path(name), text);
  return dir.path(name);
}

// An 8x8 grayscale baseline JPEG (336 bytes, libjpeg quality 50); the SOF0 marker's height and
// width are bytes 94-95 and 96-97 (big-endian), patched to make a small file claim a huge image.
std::string tiny_jpeg(uint16_t height = 8, uint16_t width = 8) {
  static const char* kHex =
      "ffd8ffe000104a46494600010100000100010000ffdb004300100b0c0e0c0a100e0d0e1211101318281a181616183123"
      "251d283a333d3c3933383740485c4e404457453738506d51575f626768673e4d71797064785c656763ffc0000b080008"
      "000801011100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b51000020103"
      "03020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f024336272"
      "82090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475"
      "767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9"
      "cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00afe0aff9675fffd9";
  const std::string hex = kHex;
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  bytes[94] = static_cast<char>(height >> 8);
  bytes[95] = static_cast<char>(height & 0xff);
  bytes[96] = static_cast<char>(width >> 8);
  bytes[97] = static_cast<char>(width & 0xff);
  return bytes;
}

// ROOT/a/x.jpg and ROOT/b/y.jpg, the first with `first` as its bytes.
std::string image_folder(const TempDir& dir, const std::string& first) {
  const std::string root = dir.path("images");
  std::filesystem::create_directories(root + "/a");
  std::filesystem::create_directories(root + "/b");
  write_bytes(root + "/a/x.jpg", first);
  write_bytes(root + "/b/y.jpg", tiny_jpeg());
  return root;
}

std::string folder_config(const std::string& root, const std::string& more) {
  return cnn_config(fmt::format("source = \"folder\"\ntrain_dir = \"{}\"\ncrop = 8\nworkers = 0\n{}", root, more),
                    "epochs = 1\nbatch = 2\n", "[3, 8, 8]");
}

// ---- class 1 and 2: out of memory is one line naming what was allocated ---------------------------

TEST(HostileInput, ALayerTooLargeForMemoryIsNamedNotACrash) {
  TempDir dir;
  // fc: 256 inputs x 10^8 outputs of float32 = 95 GiB of weights.
  const std::string config =
      write_config(dir, "huge_fc.toml", cnn_config("source = \"synthetic\"\nsize = 16\n", "epochs = 1\nbatch = 8\n",
                                                   "[1, 8, 8]", 100000000));
  expect_one_clear_error(kiln_bounded(train(config, dir)), {"layer 'fc' (Linear)", "out of memory", "asked for"});
}

TEST(HostileInput, HugeSyntheticSizeIsNamedNotABareBadAlloc) {
  TempDir dir;
  const std::string config =
      write_config(dir, "huge_size.toml", cnn_config("source = \"synthetic\"\nsize = 2000000000\nworkers = 0\n"));
  expect_one_clear_error(kiln_bounded(train(config, dir, "--steps 1")), {"synthetic", "2000000000 samples", "out of"});
}

TEST(HostileInput, HugeBatchIsNamedNotABareBadAlloc) {
  TempDir dir;
  const std::string config = write_config(
      dir, "big_batch.toml",
      cnn_config("source = \"synthetic\"\nsize = 4096\nworkers = 0\n", "epochs = 1\nbatch = 8\n", "[3, 256, 256]"));
  // 4096 samples of 3x256x256 floats: a 3 GiB batch, over the 2 GB limit.
  expect_one_clear_error(kiln_bounded(train(config, dir, "--steps 1 --batch 4096")),
                         {"allocating a batch of 4096 samples x (3, 256, 256) (3.00 GiB) for synthetic", "out of memory"});
}

TEST(HostileInput, AJpegClaimingAHugeImageIsRefusedBeforeDecoding) {
  TempDir dir;
  const std::string root = image_folder(dir, tiny_jpeg(20000, 20000));  // 336 bytes claiming 400 megapixels
  const std::string config = write_config(dir, "bomb.toml", folder_config(root, ""));
  expect_one_clear_error(kiln_bounded(train(config, dir)), {root + "/a/x.jpg", "20000x20000", "max_image_pixels"});
  // 65500 x 65500: once a bare std::bad_alloc.
  write_bytes(root + "/a/x.jpg", tiny_jpeg(65500, 65500));
  expect_one_clear_error(kiln_bounded(train(config, dir)), {root + "/a/x.jpg", "65500x65500", "max_image_pixels"});
  // The limit is a [data] key.
  write_bytes(root + "/a/x.jpg", tiny_jpeg());
  const std::string strict = write_config(dir, "strict.toml", folder_config(root, "max_image_pixels = 50\n"));
  expect_one_clear_error(kiln_bounded(train(strict, dir)), {".jpg", "8x8 = 64 pixels", "max_image_pixels"});
}

TEST(HostileInput, AGzipFileInflatingFarPastItsHeaderIsRefusedWhileInflating) {
  TempDir dir;
  // An IDX header promising 16 images of 8x8, then 1 GiB of zeros: 1 MB of gzip members (a gzip
  // stream may hold several; 64 copies of 16 MiB of zeros compressed once).
  const std::string images = dir.path("images.idx.gz"), labels = dir.path("labels.idx");
  write_bytes(dir.path("header"), std::string("\x00\x00\x08\x03\x00\x00\x00\x10\x00\x00\x00\x08\x00\x00\x00\x08", 16));
  const auto made = run_command(fmt::format(
      "cd {} && head -c 16777216 /dev/zero | gzip -9 > zeros.gz && (gzip -c header; for i in $(seq 64); do cat zeros.gz; "
      "done) > {}",
      dir.str(), images));
  ASSERT_EQ(made.exit_code, 0) << made.output;
  write_bytes(labels, std::string("\x00\x00\x08\x01\x00\x00\x00\x10", 8) + std::string(16, '\x01'));
  const std::string config = write_config(
      dir, "bomb.toml",
      cnn_config(fmt::format("source = \"idx\"\ntrain_images = \"{}\"\ntrain_labels = \"{}\"\n", images, labels)));
  const BoundedRun run = kiln_bounded(train(config, dir));
  expect_one_clear_error(run, {images, "more than 64 MiB of unexpected bytes after the 1024 bytes"});
}

TEST(HostileInput, DevicesAreRefusedAsDataAndConfig) {
  TempDir dir;
  const std::string config = write_config(
      dir, "dev.toml", cnn_config("source = \"idx\"\ntrain_images = \"/dev/zero\"\ntrain_labels = \"/dev/zero\"\n"));
  expect_one_clear_error(kiln_bounded(train(config, dir)), {"/dev/zero", "character device", "not a regular file"});
  expect_one_clear_error(kiln_bounded(train("/dev/zero", dir)), {"config file /dev/zero", "character device"});
  const std::string csv = write_config(
      dir, "csv.toml", cnn_config("source = \"csv\"\ntrain_file = \"/dev/urandom\"\n"));
  expect_one_clear_error(kiln_bounded(train(csv, dir)), {"/dev/urandom", "character device"});
}

// ---- class 3: hangs -----------------------------------------------------------------------------

TEST(HostileInput, AFifoIsRefusedWithoutBlocking) {
  TempDir dir;
  const std::string fifo = dir.path("corpus.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::string text = fmt::format(
      "[model]\nname = \"lm\"\ninput = [8]\nclasses = 16\n\n"
      "[[layer]]\ntype = \"Embedding\"\nname = \"emb\"\nnum_embeddings = 16\nembedding_dim = 4\n\n"
      "[[layer]]\ntype = \"TimeFlatten\"\nname = \"flat\"\n\n"
      "[[layer]]\ntype = \"Linear\"\nname = \"fc\"\nout_features = 16\n\n"
      "[[layer]]\ntype = \"SoftmaxCrossEntropy\"\nname = \"loss\"\n\n"
      "[data]\nsource = \"text\"\nfiles = [\"{}\"]\n\n[solver]\ntype = \"sgd\"\nlr = 0.01\n\n[train]\nepochs = 1\nbatch = 4\n",
      fifo);
  const std::string config = write_config(dir, "fifo.toml", text);
  expect_one_clear_error(kiln_bounded(train(config, dir)), {fifo, "FIFO", "not a regular file"});
  expect_one_clear_error(kiln_bounded(train(fifo, dir)), {"config file " + fifo, "FIFO"});
  const std::string synthetic = write_config(dir, "synthetic.toml", cnn_config("source = \"synthetic\"\nsize = 8\n"));
  expect_one_clear_error(kiln_bounded(train(synthetic, dir, "--weights " + fifo)), {"checkpoint " + fifo, "FIFO"});
}

TEST(HostileInput, AHugeResizeIsRefusedUpFront) {
  TempDir dir;
  const std::string root = image_folder(dir, tiny_jpeg());
  const std::string config = write_config(dir, "resize.toml", folder_config(root, "resize = 30000\n"));
  // crop 8 <= resize: only the size bound stops a minute of work and gigabytes per image.
  expect_one_clear_error(kiln_bounded(train(config, dir)), {root, "resize = 30000", "max_image_pixels"});
}

}  // namespace
}  // namespace kiln
