#include "core/data/jpeg.h"

// clang-format off
#include <cstdio>   // jpeglib.h needs FILE and size_t first
#include <csetjmp>
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "core/data/io.h"
#include "core/error.h"

namespace kiln::data {

namespace {

// libjpeg reports fatal errors through error_exit, which must not return: we longjmp back to the
// setjmp in the decoding function. Those functions keep every object with a destructor outside
// the setjmp/longjmp span (they live in the caller), as C++ requires.
struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (level -1) are corrupt-data notices libjpeg recovers from; a premature end of the file
// is not recoverable in any useful sense, so it is an error. Trace messages are dropped.
void on_message(j_common_ptr cinfo, int level) {
  if (level != -1) return;
  cinfo->err->num_warnings++;
  if (cinfo->err->msg_code == JWRN_JPEG_EOF) on_error(cinfo);
}

// False with `message` set on a libjpeg error; false with message empty when the header claims
// more than max_pixels pixels (out.width and out.height are then the header's).
bool decode_raw(const uint8_t* data, size_t size, int min_short_side, int64_t max_pixels, Image& out,
                char* message) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  if (setjmp(err.jump)) {
    std::memcpy(message, err.message, JMSG_LENGTH_MAX);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  if (static_cast<uint64_t>(cinfo.image_width) * cinfo.image_height > static_cast<uint64_t>(max_pixels)) {
    out.width = static_cast<int>(cinfo.image_width);
    out.height = static_cast<int>(cinfo.image_height);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  cinfo.out_color_space = JCS_RGB;
  if (min_short_side > 0) {
    const unsigned short_side = std::min(cinfo.image_width, cinfo.image_height);
    unsigned denom = 8;
    while (denom > 1 && short_side / denom < static_cast<unsigned>(min_short_side)) denom /= 2;
    cinfo.scale_num = 1;
    cinfo.scale_denom = denom;
  }
  jpeg_start_decompress(&cinfo);
  out.width = static_cast<int>(cinfo.output_width);
  out.height = static_cast<int>(cinfo.output_height);
  out.channels = cinfo.output_components;
  try {
    out.pixels.resize(static_cast<size_t>(out.width) * out.height * out.channels);
  } catch (...) {  // std::bad_alloc: decode_jpeg names the file
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  const size_t stride = static_cast<size_t>(out.width) * out.channels;
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.pixels.data() + cinfo.output_scanline * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

}  // namespace

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& what, int min_short_side,
                  int64_t max_pixels) {
  KILN_CHECK(size > 0, "{} is not a readable JPEG: the file is empty", what);
  Image image;
  char message[JMSG_LENGTH_MAX] = {0};
  bool decoded = false;
  try {
    decoded = decode_raw(data, size, min_short_side, max_pixels, image, message);
  } catch (const std::bad_alloc&) {
    rethrow_out_of_memory(format_message("decoding {} ({}x{}x{} pixels)", what, image.width, image.height,
                                         image.channels));
  }
  if (!decoded && message[0] == 0) {
    fail(format_message("{}: the JPEG header claims {}x{} = {} pixels, more than the {} allowed "
                        "([data] max_image_pixels)",
                        what, image.width, image.height, static_cast<int64_t>(image.width) * image.height,
                        max_pixels));
  }
  if (!decoded) fail(format_message("{} is not a readable JPEG: {}", what, message));
  KILN_CHECK(image.channels == 3 && image.width > 0 && image.height > 0,
             "{}: decoded to an unexpected {}x{}x{} image", what, image.width, image.height, image.channels);
  return image;
}

Image read_jpeg(const std::string& path, int min_short_side, int64_t max_pixels) {
  const std::vector<uint8_t> bytes = read_file(path);
  return decode_jpeg(bytes.data(), bytes.size(), path, min_short_side, max_pixels);
}

namespace {
bool encode_raw(std::FILE* file, const Image& image, int quality, char* message) {
  jpeg_compress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  if (setjmp(err.jump)) {
    std::memcpy(message, err.message, JMSG_LENGTH_MAX);
    jpeg_destroy_compress(&cinfo);
    return false;
  }
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, file);
  cinfo.image_width = static_cast<JDIMENSION>(image.width);
  cinfo.image_height = static_cast<JDIMENSION>(image.height);
  cinfo.input_components = image.channels;
  cinfo.in_color_space = image.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const size_t stride = static_cast<size_t>(image.width) * image.channels;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(image.pixels.data()) + cinfo.next_scanline * stride;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return true;
}
}  // namespace

void write_jpeg(const std::string& path, const Image& image, int quality) {
  KILN_CHECK(image.channels == 1 || image.channels == 3, "write_jpeg {}: {} channels (1 or 3 supported)",
             path, image.channels);
  KILN_CHECK(image.width > 0 && image.height > 0 &&
                 image.pixels.size() == static_cast<size_t>(image.width) * image.height * image.channels,
             "write_jpeg {}: {}x{}x{} image with {} bytes", path, image.width, image.height,
             image.channels, image.pixels.size());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) fail(format_message("cannot create {}: {}", path, std::strerror(errno)));
  char message[JMSG_LENGTH_MAX] = {0};
  const bool ok = encode_raw(f, image, quality, message);
  const bool closed = std::fclose(f) == 0;
  if (!ok) fail(format_message("cannot write JPEG {}: {}", path, message));
  KILN_CHECK(closed, "cannot write {}", path);
}

Image resize(const Image& in, int width, int height) {
  KILN_CHECK(width > 0 && height > 0, "resize to {}x{}", width, height);
  if (width == in.width && height == in.height) return in;
  Image out;
  out.width = width;
  out.height = height;
  out.channels = in.channels;
  out.pixels.resize(static_cast<size_t>(width) * height * in.channels);
  const int C = in.channels;
  // Pixel centres aligned (half-pixel convention, as OpenCV / PIL bilinear).
  auto axis = [](int out_n, int in_n, std::vector<int>& i0, std::vector<float>& f) {
    i0.resize(out_n);
    f.resize(out_n);
    const double scale = static_cast<double>(in_n) / out_n;
    for (int o = 0; o < out_n; ++o) {
      double s = (o + 0.5) * scale - 0.5;
      s = std::clamp(s, 0.0, static_cast<double>(in_n - 1));
      int i = static_cast<int>(s);
      if (i >= in_n - 1) i = std::max(in_n - 2, 0);
      i0[o] = i;
      f[o] = in_n > 1 ? static_cast<float>(s - i) : 0.0f;
    }
  };
  std::vector<int> x0, y0;
  std::vector<float> fx, fy;
  axis(width, in.width, x0, fx);
  axis(height, in.height, y0, fy);
  const size_t in_stride = static_cast<size_t>(in.width) * C;
  const int xstep = in.width > 1 ? C : 0;
  std::vector<float> row0(static_cast<size_t>(width) * C), row1(static_cast<size_t>(width) * C);
  auto horizontal = [&](int y, std::vector<float>& row) {
    const uint8_t* src = in.pixels.data() + y * in_stride;
    for (int x = 0; x < width; ++x) {
      const uint8_t* p = src + static_cast<size_t>(x0[x]) * C;
      for (int c = 0; c < C; ++c)
        row[x * C + c] = p[c] + fx[x] * (static_cast<float>(p[c + xstep]) - p[c]);
    }
  };
  int have0 = -1, have1 = -1;  // source rows now in row0 / row1 (reused across output rows)
  for (int y = 0; y < height; ++y) {
    const int ya = y0[y], yb = in.height > 1 ? ya + 1 : ya;
    if (have0 != ya) {
      if (have1 == ya) {
        std::swap(row0, row1);
        std::swap(have0, have1);
      } else {
        horizontal(ya, row0);
        have0 = ya;
      }
    }
    if (have1 != yb) {
      horizontal(yb, row1);
      have1 = yb;
    }
    uint8_t* dst = out.pixels.data() + static_cast<size_t>(y) * width * C;
    for (size_t i = 0; i < row0.size(); ++i) {
      const float v = row0[i] + fy[y] * (row1[i] - row0[i]);
      dst[i] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
    }
  }
  return out;
}

Image resize_shorter_side(const Image& in, int short_side, int64_t max_pixels, const std::string& what) {
  KILN_CHECK(short_side > 0, "resize: shorter side {} must be positive", short_side);
  double w, h;  // in double: a long thin image must not overflow int before the check
  if (in.width <= in.height) {
    w = short_side;
    h = std::round(static_cast<double>(in.height) * short_side / in.width);
  } else {
    h = short_side;
    w = std::round(static_cast<double>(in.width) * short_side / in.height);
  }
  w = std::max(w, 1.0);
  h = std::max(h, 1.0);
  KILN_CHECK(w * h <= static_cast<double>(max_pixels),
             "{}: resize = {} makes this {}x{} image {}x{} = {} pixels, more than the {} allowed ([data] "
             "max_image_pixels)",
             what, short_side, in.width, in.height, static_cast<int64_t>(w), static_cast<int64_t>(h),
             static_cast<int64_t>(w * h), max_pixels);
  return resize(in, static_cast<int>(w), static_cast<int>(h));
}

}  // namespace kiln::data
