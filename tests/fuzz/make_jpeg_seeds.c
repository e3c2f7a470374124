// Writes the JPEG seeds of tests/fuzz/corpus/jpeg/ (RGB 4:4:4 and 4:2:0, grayscale, progressive,
// restart markers) with libjpeg; truncated.jpg is the first 120 bytes of rgb_444.jpg. Run in that folder:
//   cc tests/fuzz/make_jpeg_seeds.c -o /tmp/gen -ljpeg && (cd tests/fuzz/corpus/jpeg && /tmp/gen)
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
static void w(const char* path, int W, int H, int C, int progressive, int quality, int restart, int h0, int v0) {
  FILE* f = fopen(path, "wb");
  struct jpeg_compress_struct c; struct jpeg_error_mgr e;
  c.err = jpeg_std_error(&e); jpeg_create_compress(&c); jpeg_stdio_dest(&c, f);
  c.image_width = W; c.image_height = H; c.input_components = C; c.in_color_space = C == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&c); jpeg_set_quality(&c, quality, TRUE);
  if (C == 3) { c.comp_info[0].h_samp_factor = h0; c.comp_info[0].v_samp_factor = v0; }
  if (progressive) jpeg_simple_progression(&c);
  c.restart_interval = restart;
  jpeg_start_compress(&c, TRUE);
  unsigned char* row = malloc(W * C);
  while (c.next_scanline < c.image_height) {
    for (int x = 0; x < W * C; ++x) row[x] = (unsigned char)(x * 37 + c.next_scanline * 11);
    JSAMPROW r = row; jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c); jpeg_destroy_compress(&c); fclose(f); free(row);
}
int main(void) {
  w("rgb_444.jpg", 8, 6, 3, 0, 90, 0, 1, 1);
  w("rgb_420.jpg", 9, 9, 3, 0, 50, 0, 2, 2);
  w("gray.jpg", 5, 7, 1, 0, 80, 0, 1, 1);
  w("progressive.jpg", 16, 12, 3, 1, 75, 0, 2, 1);
  w("restart.jpg", 24, 16, 3, 0, 60, 1, 2, 2);
  return 0;
}
