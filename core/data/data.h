// kiln's data sources in one include: datasets (IDX, CIFAR, image folder, CSV, synthetic, text) and
// the DataLoader. See dataset.h and loader.h for the contracts.
//
//   using namespace kiln::data;
//   auto train = std::make_shared<IdxDataset>("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
//                                             IdxOptions{.normalize = {{0.2860f}, {0.3530f}}});
//   DataLoader loader(train, LoaderOptions{.batch_size = 64, .seed = 1, .workers = 2});
//   loader.seek(saved_position);                 // on resume: exactly the batches of the first run
//   for (int64_t step = 0; step < steps; ++step) {
//     Position here = loader.position();         // save this with a checkpoint
//     Batch b = loader.next();                   // b.x (64, 1, 28, 28) f32, b.labels (64) i32
//     ...
//   }
#pragma once

#include "core/data/cifar.h"
#include "core/data/csv.h"
#include "core/data/dataset.h"
#include "core/data/idx.h"
#include "core/data/image_folder.h"
#include "core/data/io.h"
#include "core/data/jpeg.h"
#include "core/data/loader.h"
#include "core/data/synthetic.h"
#include "core/data/text.h"
