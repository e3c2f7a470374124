// kiln::data::DataLoader: mini-batches of a Dataset as host tensors, shuffled by seed, built on
// worker threads ahead of the training step, resumable at an exact position.
//
// Batches. Epoch e visits the samples in order(e): 0, 1, ... without shuffling, else a Philox
// Fisher-Yates permutation keyed by (seed, e), identical on every machine. Batch b of epoch e
// holds order(e)[b*B, (b+1)*B); the last one is smaller unless drop_last (but see "Planned
// batches" and "Stream data" below). A batch is
//   x       (N, C, H, W) or (N, F) float32, or (N, T) int32 for token data (Dataset::input_dtype)
//   labels  (N) int32             (classification; (N, L) when the dataset has L > 1 labels per
//                                  sample, e.g. the next-token targets of a sequence)
//   targets (N, T) float32        (regression)
// and depends on nothing but (dataset, options, epoch, b): not on the worker count, not on which
// thread built it, not on what was read before (augmentation is keyed by (seed, epoch, sample)).
//
// Planned batches (length bucketing). A dataset whose Dataset::batch_plan() is not empty chooses
// its batches itself: batch b of epoch e is its plan's b-th list (the plan depends only on (seed,
// e, shuffle), so positions stay exact). With drop_last the plan's one short batch is left out.
// A planned batch of token sequences (I32 samples (T), one label per position) is trimmed to its
// longest sample: x and labels (N, T_b) with T_b = max Dataset::sequence_length() <= T, so a
// recurrent net runs T_b steps; the positions cut off must be padding (kIgnoreLabel labels). The
// net sees a new input shape from batch to batch (kiln::Net re-infers its shapes).
//
// Sequence-to-sequence pairs (Dataset::decoder_length() > 0, core/data/pairs.h). A batch holds x (N,
// S_b) the source ids, decoder_input and labels (N, Y_b), trimmed to the batch's longest source
// (its last S_b positions: sources are left-padded) and longest target (the first Y_b), planned
// or not; a shard is trimmed to its own longest.
//
// Stream data (Dataset::streams() = S > 0, truncated back-propagation through time). The samples
// continue each other across batches, so the loader draws them in index order whatever
// LoaderOptions::shuffle says (options() reports shuffle = false) and the batch size must be S:
// batch b holds samples b*S .. b*S+S-1, row s continuing row s of batch b - 1 (size() is a
// multiple of S, so no batch is partial).
//
// Position. next() returns the batch at position() = (epoch, batch) and advances, rolling over
// to (epoch + 1, 0) after the last batch of an epoch. Save position() with a checkpoint and
// seek() to it on resume: the resumed run sees exactly the batches the uninterrupted one would.
//
// Shards (data-parallel training). With shards = R, every rank draws the same batches (same seed,
// same order) and rank r keeps rows [r*n/R, (r+1)*n/R) of each n-row batch, so the R shards of a
// batch are exactly the rows a single process would see, whatever R. A planned token batch is
// trimmed to the longest sample of the shard.
//
// Threads. With workers > 0, that many threads build batches in order, at most `prefetch` ahead
// of the consumer (a bounded queue); next() waits for the one it needs. A worker's exception
// (a corrupt JPEG) is rethrown by next() when its batch is due, and the position stays on that
// batch. With workers = 0, next() builds the batch on the calling thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/data/dataset.h"
#include "core/tensor.h"

namespace kiln::data {

struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;  // shuffling and augmentation
  bool train = true;  // random augmentation; false for evaluation (centre crops, no flips)
  int workers = 0;    // threads building batches ahead; 0: built in next() on the calling thread
  int prefetch = 4;   // batches built ahead of the consumer (with workers > 0), >= 1
  // Data-parallel training: this process is rank `shard` of `shards` and builds only its rows of
  // every batch (see "Shards" above). batch_size stays the global batch.
  int shard = 0;
  int shards = 1;
};

struct Position {
  int64_t epoch = 0;
  int64_t batch = 0;  // index of the batch within the epoch
  friend bool operator==(const Position&, const Position&) = default;
};

struct Batch {
  Tensor x;        // (N, sample shape...) float32 (int32 ids for token data), host
  Tensor labels;   // (N) or (N, L) int32 for classification; undefined for regression
  Tensor targets;  // (N, T) float32 for regression; undefined for classification
  Tensor decoder_input;  // (N, Y) int32 for sequence-to-sequence pairs (teacher forcing); else undefined
  Position position;
  bool last_in_epoch = false;
  // The rows of the whole (global) batch this one holds: [first_sample, first_sample + size())
  // of global_size (first_sample = 0, global_size = size() without shards).
  int64_t first_sample = 0;
  int64_t global_size = 0;
  int64_t size() const { return x.defined() ? x.dim(0) : 0; }
};

// The sample order of one epoch: a permutation of 0..n-1 from Philox keyed by (seed, epoch).
std::vector<int64_t> shuffled_order(int64_t n, uint64_t seed, int64_t epoch);
// 0, 1, ..., n-1: the order without shuffling.
std::vector<int64_t> identity_order(int64_t n);

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  const Dataset& dataset() const { return *dataset_; }
  // The options in effect (shuffle is false for stream data).
  const LoaderOptions& options() const { return options_; }
  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  // Samples seen per epoch (size() unless drop_last drops a partial batch).
  int64_t samples_per_epoch() const;

  // The batch next() returns next.
  Position position() const;
  // Makes next() continue from `position` (discarding batches built ahead).
  void seek(Position position);
  // The batch at position(); advances the position.
  Batch next();
  // Any batch, built on the calling thread (what next() would return at that position).
  Batch load(Position position) const;
  // The sample indices of epoch `epoch`, in visiting order (a dropped last batch left out only
  // for planned batches).
  std::vector<int64_t> order(int64_t epoch) const;

 private:
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };
  // One epoch's drawing order.
  struct EpochOrder {
    std::vector<int64_t> samples;  // sample indices in visiting order
    std::vector<int64_t> begins;   // batch b = samples[begins[b], begins[b + 1])
    bool planned = false;          // from Dataset::batch_plan: token batches are trimmed
  };
  std::shared_ptr<const EpochOrder> cached_order(int64_t epoch) const;
  std::shared_ptr<const EpochOrder> make_order(int64_t epoch) const;  // OutOfMemory names the data
  std::shared_ptr<const EpochOrder> make_order_unchecked(int64_t epoch) const;
  // The trimmed length of a planned token batch (its longest sample); 0: not trimmed.
  int64_t trimmed_length(const EpochOrder& order, int64_t begin, int64_t end) const;
  // The rows [begin, begin + n) of `order` as a pairs batch (source, decoder inputs, labels).
  void load_pairs(const EpochOrder& order, int64_t begin, int64_t n, Batch& b) const;
  Position position_of(int64_t seq) const;
  void start_workers();
  void stop_workers();
  void worker_loop();

  std::shared_ptr<const Dataset> dataset_;
  LoaderOptions options_;
  int64_t batches_per_epoch_ = 0;

  // Permutations of the last epochs used (workers straddle an epoch boundary).
  mutable std::mutex order_mutex_;
  mutable std::map<int64_t, std::shared_ptr<const EpochOrder>> orders_;

  // The prefetch queue. Batches are numbered by seq = epoch * batches_per_epoch + batch.
  mutable std::mutex mutex_;
  std::condition_variable work_cv_, ready_cv_;
  int64_t consume_ = 0;  // seq of the batch next() returns
  int64_t produce_ = 0;  // seq of the next batch a worker takes
  std::map<int64_t, Slot> ready_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace kiln::data
