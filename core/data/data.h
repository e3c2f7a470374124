// kiln's data sources in one include: datasets (IDX, CIFAR, image folder, CSV, synthetic) and
// the DataLoader. See dataset.h and loader.h for the contracts.
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
