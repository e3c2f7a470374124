// The datasets a run's [data] section describes (core/config/config.h):
//   source = "idx"        train_images, train_labels, test_images, test_labels, mean, std
//   source = "cifar"      train_files = [...], test_files = [...], kind = "cifar10" | "cifar100" |
//                         "cifar100_coarse", mean, std, pad, crop, hflip
//   source = "folder"     train_dir, test_dir, resize, crop, hflip, mean, std (JPEG, a sub-folder per class),
//                         max_image_pixels (100000000: an image whose header claims more pixels, or
//                         that resize would make larger, is refused naming the file)
//   source = "csv"        train_file, test_file, label_column | label_name, task = "classification" |
//                         "regression" (float targets: the "label" input is F32 (N, T), the
//                         metrics RMSE and R²), target_columns (default: the last), standardize
//                         (the test file with the training file's mean and std)
//   source = "synthetic"  size, test_size, seed (shape and classes from [model])
//   source = "text"       files = [...] (UTF-8 files or folders of them), validation (fraction, 0.05),
//                         max_vocab (default [model] classes), max_chars, streams (false);
//                         [model] input = [T]: sequences of T characters with next-character
//                         labels (core/data/text.h). streams = true: the training split cut into
//                         `batch` contiguous streams (the validation split into eval_batch), so
//                         row s of each batch continues row s of the one before (truncated
//                         back-propagation through time with a stateful LSTM); drawn in order,
//                         never shuffled, and a batch too big for the split is an error
//   source = "words"      files = [...], validation (fraction of the sequences, 0.05), max_vocab
//                         (default [model] classes: the top words + <pad> <unk> <eos>), max_words,
//                         lower_case (true), split = "lines" | "sentences", bucket (true);
//                         [model] input = [T]: one line or sentence per sample, padded to T,
//                         next-word labels, -100 past the end (core/data/words.h). bucket = true:
//                         batches of lines of similar length, each trimmed to its longest (N, T_b)
//   source = "pairs"      train_file (a TSV of source<TAB>target lines), test_file (else the last
//                         `validation` fraction, 0.1, tests), tokens = "characters" | "words",
//                         lower_case (false), shared_vocabulary (true), max_vocab (default [model]
//                         classes), reverse_source (false), bucket (true); [model] input = [L]: the
//                         longest side in tokens (longer pairs left out). Feeds "data" (N, S_b)
//                         source ids, "decoder_input" (N, Y_b) <bos> y1..yn and "label" (N, Y_b)
//                         y1..yn <eos>, padding -100 (core/data/pairs.h)
// plus, for every source, workers (threads decoding ahead, default 2); and for idx, cifar, folder
// and csv, target = "label" (default) | "input": autoencoders, the input is also the float target
// (N, C*H*W) (the pixels in [0, 1] before mean/std; a CSV's features as the net sees them),
// regression metrics (core/data/reconstruction.h).
#pragma once

#include <cstdint>
#include <memory>

#include "core/config/config.h"
#include "core/data/dataset.h"

namespace kiln {

struct DataSplits {
  std::shared_ptr<const data::Dataset> train, test;  // test may be null (no evaluation)
  int workers = 2;
};

// Opens the datasets; errors name the config file, line and key, or the data file and the problem.
// `batch` and `eval_batch` are the training and evaluation batch sizes in effect (0: the config's
// [train] batch and eval_batch, eval_batch defaulting to batch); only stream data (text with
// streams = true) depends on them.
DataSplits make_datasets(const RunConfig& config, int64_t batch = 0, int64_t eval_batch = 0);

// Whether the data's targets are floats (the net's "label" input F32): task = "regression", or
// target = "input" on an image or CSV source.
bool float_targets(const RunConfig& config);

}  // namespace kiln
