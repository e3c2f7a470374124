// Test fixtures for the data sources: writers of small IDX, CIFAR, JPEG-folder and CSV files (and
// the shared temporary directory, tests/common/temp_dir.h).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/data/data.h"
#include "core/error.h"
#include "tests/common/error_of.h"
#include "tests/common/temp_dir.h"

namespace kiln::data::test {

using kiln::testing::TempDir;

// IDX bytes: magic 0x0000 08 <ndim>, big-endian dimensions, data.
std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data);
// Pixel p of image i in the fixture images: (i * 7 + p * 3) % 256.
uint8_t fixture_pixel(int64_t i, int64_t p);
// n images of h x w with fixture_pixel values, and labels i % classes.
std::vector<uint8_t> fixture_images(int n, int h, int w);
std::vector<uint8_t> fixture_labels(int n, int classes);

void write_text(const std::string& path, const std::string& text);

using kiln::testing::error_of;

}  // namespace kiln::data::test
