#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "tests/data/fixtures.h"

namespace kiln::data::test {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

Image solid(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  Image im{w, h, 3, {}};
  for (int i = 0; i < w * h; ++i) im.pixels.insert(im.pixels.end(), {r, g, b});
  return im;
}

// Left half black, right half white.
Image halves(int w, int h) {
  Image im{w, h, 3, {}};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const uint8_t v = x < w / 2 ? 0 : 255;
      im.pixels.insert(im.pixels.end(), {v, v, v});
    }
  return im;
}

// root/{cat,ant,bee}/: ant red, bee green, cat blue, of assorted sizes.
std::string make_folder(const TempDir& dir) {
  const std::string root = dir.path("images");
  for (const char* c : {"cat", "ant", "bee"}) fs::create_directories(root + "/" + c);
  write_jpeg(root + "/ant/a1.jpg", solid(40, 30, 250, 0, 0));
  write_jpeg(root + "/ant/a0.JPEG", solid(24, 36, 250, 0, 0));
  write_jpeg(root + "/bee/b0.jpg", solid(33, 33, 0, 250, 0));
  write_jpeg(root + "/cat/c0.jpeg", solid(50, 20, 0, 0, 250));
  write_jpeg(root + "/cat/c1.jpg", solid(20, 20, 0, 0, 250));
  write_text(root + "/cat/notes.txt", "not an image");
  return root;
}

TEST(ImageFolder, ClassesSortedLabelsAndValues) {
  TempDir dir;
  const std::string root = make_folder(dir);
  ImageFolderDataset ds(root, ImageFolderOptions{
                                  .resize = 20,
                                  .augment = {.crop = 16},
                                  .normalize = {{0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}}});
  EXPECT_EQ(ds.class_names(), (std::vector<std::string>{"ant", "bee", "cat"}));
  EXPECT_EQ(ds.size(), 5);
  EXPECT_EQ(ds.num_classes(), 3);
  EXPECT_EQ(ds.sample_shape(), (Shape{3, 16, 16}));
  EXPECT_EQ(fs::path(ds.file(0)).filename(), "a0.JPEG");
  std::vector<float> x(3 * 16 * 16);
  for (int64_t i = 0; i < ds.size(); ++i) {
    int32_t label = -1;
    ds.get(i, SampleContext{.train = false}, x.data(), &label, nullptr);
    EXPECT_EQ(label, ds.label(i));
    // The class colour: channel `label` near (250/255 - .5)/.5, the others near -1.
    for (int c = 0; c < 3; ++c) {
      const float want = c == label ? (250 / 255.0f - 0.5f) / 0.5f : -1.0f;
      for (int p = 0; p < 256; p += 15) EXPECT_NEAR(x[c * 256 + p], want, 0.08f) << i << " " << c;
    }
  }
  EXPECT_EQ(ds.label(4), 2);
}

TEST(ImageFolder, RandomCropAndFlipAreKeyedBySeedEpochAndIndex) {
  TempDir dir;
  const std::string root = dir.path("f");
  fs::create_directories(root + "/only");
  write_jpeg(root + "/only/h.jpg", halves(64, 48), 95);
  ImageFolderDataset ds(root, ImageFolderOptions{
                                  .resize = 32, .augment = {.crop = 24, .random_crop = true, .hflip = true}});
  std::vector<float> eval(3 * 24 * 24), a(eval.size()), b(eval.size());
  int32_t l;
  ds.get(0, SampleContext{.seed = 5, .train = false}, eval.data(), &l, nullptr);
  // Centre crop: dark on the left, bright on the right.
  EXPECT_LT(eval[24 * 12 + 1], 0.1f);
  EXPECT_GT(eval[24 * 12 + 22], 0.9f);
  int flipped = 0, distinct = 0;
  std::vector<float> first;
  for (int e = 0; e < 16; ++e) {
    ds.get(0, SampleContext{.seed = 5, .epoch = e}, a.data(), &l, nullptr);
    ds.get(0, SampleContext{.seed = 5, .epoch = e}, b.data(), &l, nullptr);
    ASSERT_EQ(a, b) << "epoch " << e;
    flipped += a[24 * 12 + 1] > 0.5f;
    if (e == 0) first = a;
    distinct += a != first;
  }
  EXPECT_GT(flipped, 2);
  EXPECT_LT(flipped, 14);
  EXPECT_GT(distinct, 8);
}

TEST(ImageFolder, GrayscaleJpegIsExpandedToRgb) {
  TempDir dir;
  const std::string root = dir.path("g");
  fs::create_directories(root + "/k");
  Image gray{8, 8, 1, std::vector<uint8_t>(64, 128)};
  write_jpeg(root + "/k/g.jpg", gray);
  ImageFolderDataset ds(root);
  EXPECT_EQ(ds.sample_shape(), (Shape{3, 8, 8}));
  std::vector<float> x(192);
  int32_t l;
  ds.get(0, SampleContext{}, x.data(), &l, nullptr);
  for (float v : x) EXPECT_NEAR(v, 128 / 255.0f, 0.02f);
}

TEST(ImageFolder, UnreadableAndTruncatedJpegsNameTheFile) {
  TempDir dir;
  const std::string root = make_folder(dir);
  write_text(root + "/bee/broken.jpg", "this is not a JPEG at all");
  const std::vector<uint8_t> good = read_file(root + "/ant/a1.jpg");
  write_file(root + "/bee/cut.jpg", std::span(good.data(), good.size() * 2 / 3));
  ImageFolderDataset ds(root, ImageFolderOptions{.resize = 20, .augment = {.crop = 16}});
  std::vector<float> x(3 * 16 * 16);
  int32_t l;
  // Sorted: bee/b0.jpg, bee/broken.jpg, bee/cut.jpg.
  ASSERT_THAT(ds.file(3), HasSubstr("broken.jpg"));
  ASSERT_THAT(ds.file(4), HasSubstr("cut.jpg"));
  std::string msg = error_of([&] { ds.get(3, SampleContext{}, x.data(), &l, nullptr); });
  EXPECT_THAT(msg, HasSubstr("broken.jpg is not a readable JPEG"));
  msg = error_of([&] { ds.get(4, SampleContext{}, x.data(), &l, nullptr); });
  EXPECT_THAT(msg, HasSubstr("cut.jpg is not a readable JPEG"));
  EXPECT_THAT(msg, HasSubstr("Premature end"));
  // Through the loader's worker threads: rethrown by next() when the batch is due.
  DataLoader loader(std::make_shared<ImageFolderDataset>(ds),
                    LoaderOptions{.batch_size = 2, .shuffle = false, .workers = 2});
  EXPECT_EQ(loader.next().size(), 2);
  msg = error_of([&] { loader.next(); });
  EXPECT_THAT(msg, HasSubstr("broken.jpg"));
  EXPECT_EQ(loader.position(), (Position{0, 1}));  // stays on the failed batch
}

TEST(ImageFolder, FolderErrors) {
  TempDir dir;
  EXPECT_THAT(error_of([&] { ImageFolderDataset(dir.path("missing")); }), HasSubstr("does not exist"));
  fs::create_directories(dir.path("empty"));
  EXPECT_THAT(error_of([&] { ImageFolderDataset(dir.path("empty")); }),
              HasSubstr("has no class sub-folders"));
  fs::create_directories(dir.path("noimg/a"));
  write_jpeg(dir.path("noimg/a/x.jpg"), solid(4, 4, 1, 2, 3));
  fs::create_directories(dir.path("noimg/b"));
  write_text(dir.path("noimg/b/readme.txt"), "hi");
  EXPECT_THAT(error_of([&] { ImageFolderDataset(dir.path("noimg")); }),
              HasSubstr("class folder 'b' has no .jpg/.jpeg files"));
}

TEST(ImageFolder, MixedSizesWithoutCropAreRefusedPerFile) {
  TempDir dir;
  const std::string root = make_folder(dir);
  ImageFolderDataset ds(root);  // the first image (ant/a0.JPEG, 24x36) fixes the shape
  EXPECT_EQ(ds.sample_shape(), (Shape{3, 36, 24}));
  std::vector<float> x(3 * 36 * 24);
  int32_t l;
  ds.get(0, SampleContext{}, x.data(), &l, nullptr);
  EXPECT_THAT(error_of([&] { ds.get(1, SampleContext{}, x.data(), &l, nullptr); }),
              HasSubstr("a1.jpg: this image gives a 30x40 sample"));
}

// tests/fuzz/corpus/jpeg/crash-huge-header (found by tests/fuzz/fuzz_jpeg): a 344-byte JPEG whose
// header claims 55813x21255 made the decoder allocate 3.5 GB. Here: a real 8x8 JPEG with its frame
// header patched to 60000x60000; refused from the header, naming the file, before any allocation
// (the limit, [data] max_image_pixels, came with the fix of issue 18's class 2 on main).
TEST(Jpeg, HugeHeaderIsRefusedBeforeDecoding) {
  TempDir dir;
  write_jpeg(dir.path("small.jpg"), solid(8, 8, 10, 20, 30));
  std::vector<uint8_t> bytes = read_file(dir.path("small.jpg"));
  const uint8_t marker[] = {0xFF, 0xC0};  // start of frame (baseline)
  const auto sof = std::search(bytes.begin(), bytes.end(), std::begin(marker), std::end(marker));
  ASSERT_NE(sof, bytes.end());
  const size_t at = static_cast<size_t>(sof - bytes.begin());  // FF C0, length (2), precision (1), H, W
  for (size_t i : {at + 5, at + 7}) {
    bytes[i] = 0xEA;  // 60000 = 0xEA60
    bytes[i + 1] = 0x60;
  }
  const std::string msg = error_of([&] { decode_jpeg(bytes.data(), bytes.size(), "huge.jpg"); });
  EXPECT_THAT(msg, HasSubstr("huge.jpg: the JPEG header claims 60000x60000 = 3600000000 pixels, more than the "
                             "100000000 allowed"));
}

// Issue 18: a header claiming a huge image, or a resize making one, is refused before the memory
// is taken.
TEST(Jpeg, PixelLimitIsCheckedBeforeDecodingAndResizing) {
  TempDir dir;
  write_jpeg(dir.path("small.jpg"), solid(8, 6, 1, 2, 3));
  EXPECT_EQ(read_jpeg(dir.path("small.jpg"), 0, 48).width, 8);
  EXPECT_THAT(error_of([&] { read_jpeg(dir.path("small.jpg"), 0, 47); }),
              HasSubstr("small.jpg: the JPEG header claims 8x6 = 48 pixels, more than the 47 allowed"));
  // A 1x1000 strip resized to a shorter side of 1000: 1000x1000000, refused without the work.
  const Image strip = solid(1, 1000, 0, 0, 0);
  EXPECT_THAT(error_of([&] { resize_shorter_side(strip, 1000, kDefaultMaxImagePixels, "strip.jpg"); }),
              HasSubstr("strip.jpg: resize = 1000 makes this 1x1000 image 1000x1000000"));
}

TEST(Jpeg, ResizeShorterSide) {
  const Image im = solid(40, 30, 10, 20, 30);
  const Image r = resize_shorter_side(im, 15);
  EXPECT_EQ(r.width, 20);
  EXPECT_EQ(r.height, 15);
  for (size_t i = 0; i < r.pixels.size(); i += 3) {
    ASSERT_EQ(r.pixels[i], 10);
    ASSERT_EQ(r.pixels[i + 2], 30);
  }
  const Image up = resize(halves(4, 2), 8, 2);
  EXPECT_EQ(up.pixels[0], 0);
  EXPECT_EQ(up.pixels[7 * 3], 255);
}

TEST(Jpeg, ResizeMatchesADirectBilinearFormula) {
  Image im{13, 9, 3, {}};
  for (int i = 0; i < 13 * 9 * 3; ++i) im.pixels.push_back(static_cast<uint8_t>((i * 37 + i / 7) % 256));
  for (auto [w, h] : {std::pair{7, 5}, std::pair{20, 17}, std::pair{13, 4}}) {
    const Image r = resize(im, w, h);
    auto coord = [](int o, int out_n, int in_n, int* i0, double* f) {
      double s = std::clamp((o + 0.5) * in_n / out_n - 0.5, 0.0, in_n - 1.0);
      *i0 = std::min(static_cast<int>(s), in_n - 2);
      *f = s - *i0;
    };
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int c = 0; c < 3; ++c) {
          int x0, y0;
          double fx, fy;
          coord(x, w, 13, &x0, &fx);
          coord(y, h, 9, &y0, &fy);
          auto p = [&](int yy, int xx) { return double(im.pixels[(yy * 13 + xx) * 3 + c]); };
          const double top = p(y0, x0) + fx * (p(y0, x0 + 1) - p(y0, x0));
          const double bot = p(y0 + 1, x0) + fx * (p(y0 + 1, x0 + 1) - p(y0 + 1, x0));
          const double want = top + fy * (bot - top);
          ASSERT_NEAR(r.pixels[(y * w + x) * 3 + c], want, 0.51) << w << "x" << h << " at " << x << "," << y;
        }
  }
}

}  // namespace
}  // namespace kiln::data::test
