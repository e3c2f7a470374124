#include "core/data/loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <system_error>

#include "core/allocator.h"
#include "core/error.h"

namespace kiln::data {

namespace {
constexpr uint32_t kShuffleTag = 0x73687566u;  // "shuf": word 3 of the shuffling counter

// A dataset's batch plan must keep the loader's contract: every sample once, batches of 1 to
// `batch`, as many as the loader cuts without one (so batches_per_epoch() holds for every epoch).
void check_plan(const std::vector<std::vector<int64_t>>& plan, const Dataset& dataset, int64_t batch) {
  const int64_t n = dataset.size();
  KILN_CHECK(static_cast<int64_t>(plan.size()) == (n + batch - 1) / batch,
             "DataLoader: {} planned {} batches of {} samples for {} samples", dataset.describe(), plan.size(), batch, n);
  std::vector<bool> seen(static_cast<size_t>(n), false);
  for (const std::vector<int64_t>& b : plan) {
    KILN_CHECK(!b.empty() && static_cast<int64_t>(b.size()) <= batch, "DataLoader: {} planned a batch of {} (batch {})",
               dataset.describe(), b.size(), batch);
    for (int64_t i : b) {
      KILN_CHECK(i >= 0 && i < n && !seen[static_cast<size_t>(i)],
                 "DataLoader: {} planned sample {} twice or out of range", dataset.describe(), i);
      seen[static_cast<size_t>(i)] = true;
    }
  }
}
}  // namespace

std::vector<int64_t> shuffled_order(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  const uint64_t e = static_cast<uint64_t>(epoch);
  const uint32_t e_word = static_cast<uint32_t>(e) ^ (static_cast<uint32_t>(e >> 32) * 0x9E3779B9u);
  // Fisher-Yates from the back; j uniform in [0, i] by a 64x64->128 multiply (bias < 2^-40).
  for (int64_t i = n - 1; i > 0; --i) {
    const uint64_t u = static_cast<uint64_t>(i);
    const Philox4x32 r = philox4x32_10(
        Philox4x32{{static_cast<uint32_t>(u), static_cast<uint32_t>(u >> 32), e_word, kShuffleTag}},
        static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
    const uint64_t bits = (static_cast<uint64_t>(r.v[1]) << 32) | r.v[0];
    const uint64_t j = static_cast<uint64_t>((static_cast<unsigned __int128>(bits) * (u + 1)) >> 64);
    std::swap(order[i], order[j]);
  }
  return order;
}

std::vector<int64_t> identity_order(int64_t n) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  return order;
}

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  KILN_CHECK(dataset_ != nullptr, "DataLoader: no dataset");
  KILN_CHECK(options_.batch_size > 0, "DataLoader: batch size {} must be positive", options_.batch_size);
  KILN_CHECK(options_.workers >= 0 && options_.workers <= 256, "DataLoader: {} workers (0 to 256)",
             options_.workers);
  KILN_CHECK(options_.prefetch >= 1, "DataLoader: prefetch {} must be at least 1", options_.prefetch);
  KILN_CHECK(options_.shards >= 1 && options_.shard >= 0 && options_.shard < options_.shards,
             "DataLoader: shard {} of {} (0 <= shard < shards)", options_.shard, options_.shards);
  const int64_t n = dataset_->size();
  KILN_CHECK(n > 0, "DataLoader: {} has no samples", dataset_->describe());
  if (const int64_t streams = dataset_->streams(); streams > 0) {
    KILN_CHECK(options_.batch_size == streams && n % streams == 0,
               "DataLoader: {} is laid out in {} streams: its batch size must be {}, not {}", dataset_->describe(),
               streams, streams, options_.batch_size);
    options_.shuffle = false;  // the samples continue each other in index order
  }
  batches_per_epoch_ = options_.drop_last ? n / options_.batch_size
                                          : (n + options_.batch_size - 1) / options_.batch_size;
  KILN_CHECK(batches_per_epoch_ > 0,
             "DataLoader: {} has {} samples, fewer than one batch of {} (with drop_last)",
             dataset_->describe(), n, options_.batch_size);
  const Shape shape = dataset_->sample_shape();
  KILN_CHECK(shape.rank() >= 1 && shape.rank() < Shape::kMaxRank, "DataLoader: sample shape {} of {}",
             shape.str(), dataset_->describe());
  KILN_CHECK(dataset_->input_dtype() == DType::F32 ||
                 (dataset_->task() == Task::Classification && dataset_->labels_per_sample() >= 1),
             "DataLoader: token dataset {} must be a classification one", dataset_->describe());
  KILN_CHECK(dataset_->task() == Task::Classification || dataset_->target_dim() > 0,
             "DataLoader: regression dataset {} has no targets", dataset_->describe());
}

DataLoader::~DataLoader() { stop_workers(); }

int64_t DataLoader::samples_per_epoch() const {
  return options_.drop_last ? batches_per_epoch_ * options_.batch_size : dataset_->size();
}

Position DataLoader::position_of(int64_t seq) const {
  return Position{seq / batches_per_epoch_, seq % batches_per_epoch_};
}

Position DataLoader::position() const {
  std::lock_guard lock(mutex_);
  return position_of(consume_);
}

std::vector<int64_t> DataLoader::order(int64_t epoch) const { return cached_order(epoch)->samples; }

std::shared_ptr<const DataLoader::EpochOrder> DataLoader::cached_order(int64_t epoch) const {
  std::lock_guard lock(order_mutex_);
  auto it = orders_.find(epoch);
  if (it != orders_.end()) return it->second;
  std::shared_ptr<const EpochOrder> order = make_order(epoch);
  if (orders_.size() >= 3) orders_.erase(orders_.begin());  // keep the latest few epochs
  orders_[epoch] = order;
  return order;
}

std::shared_ptr<const DataLoader::EpochOrder> DataLoader::make_order(int64_t epoch) const {
  try {
    return make_order_unchecked(epoch);
  } catch (...) {  // out of memory: say for which data (other errors pass unchanged)
    const int64_t n = dataset_->size();
    rethrow_out_of_memory(fmt::format("making the sample order of epoch {} of {} ({} samples, {})", epoch,
                                      dataset_->describe(), n, format_bytes(static_cast<uint64_t>(n) * 8)));
  }
}

std::shared_ptr<const DataLoader::EpochOrder> DataLoader::make_order_unchecked(int64_t epoch) const {
  auto e = std::make_shared<EpochOrder>();
  const int64_t n = dataset_->size(), batch = options_.batch_size;
  const std::vector<std::vector<int64_t>> plan = dataset_->batch_plan(batch, options_.seed, epoch, options_.shuffle);
  if (plan.empty()) {
    e->samples = options_.shuffle ? shuffled_order(n, options_.seed, epoch) : identity_order(n);
    for (int64_t b = 0; b <= batches_per_epoch_; ++b) e->begins.push_back(std::min(b * batch, n));
    return e;
  }
  check_plan(plan, *dataset_, batch);
  e->planned = true;
  e->begins.push_back(0);
  for (const std::vector<int64_t>& b : plan) {
    if (options_.drop_last && static_cast<int64_t>(b.size()) < batch) continue;
    e->samples.insert(e->samples.end(), b.begin(), b.end());
    e->begins.push_back(static_cast<int64_t>(e->samples.size()));
  }
  KILN_CHECK(static_cast<int64_t>(e->begins.size()) == batches_per_epoch_ + 1,
             "DataLoader: {} planned more than one batch smaller than {}", dataset_->describe(), batch);
  return e;
}

int64_t DataLoader::trimmed_length(const EpochOrder& order, int64_t begin, int64_t end) const {
  const Shape sample = dataset_->sample_shape();
  if (!order.planned || dataset_->input_dtype() != DType::I32 || sample.rank() != 1 ||
      dataset_->labels_per_sample() != sample[0]) {
    return 0;
  }
  int64_t longest = 1;
  for (int64_t k = begin; k < end; ++k) {
    const int64_t index = order.samples[static_cast<size_t>(k)];
    const int64_t len = dataset_->sequence_length(index);
    KILN_CHECK(len >= 1 && len <= sample[0], "{}: sample {} has sequence length {}, outside 1..{}",
               dataset_->describe(), index, len, sample[0]);
    longest = std::max(longest, len);
  }
  return longest;
}

Batch DataLoader::load(Position position) const {
  KILN_CHECK(position.epoch >= 0 && position.batch >= 0 && position.batch < batches_per_epoch_,
             "DataLoader: position (epoch {}, batch {}) is out of range ({} batches per epoch)",
             position.epoch, position.batch, batches_per_epoch_);
  const std::shared_ptr<const EpochOrder> order = cached_order(position.epoch);
  const int64_t global_begin = order->begins[static_cast<size_t>(position.batch)];
  const int64_t global_n = order->begins[static_cast<size_t>(position.batch) + 1] - global_begin;
  const int64_t first = global_n * options_.shard / options_.shards;
  const int64_t begin = global_begin + first;
  const int64_t n = global_n * (options_.shard + 1) / options_.shards - first;

  if (dataset_->decoder_length() > 0) {
    Batch b;
    b.position = position;
    b.last_in_epoch = position.batch + 1 == batches_per_epoch_;
    b.first_sample = first;
    b.global_size = global_n;
    load_pairs(*order, begin, n, b);
    return b;
  }
  const Shape sample = dataset_->sample_shape();
  const int64_t per = sample.numel();
  const bool regression = dataset_->task() == Task::Regression;
  const int64_t t = dataset_->target_dim();

  const bool tokens = dataset_->input_dtype() == DType::I32;
  const int64_t per_label = regression ? 0 : dataset_->labels_per_sample();
  // A trimmed batch keeps the first `steps` positions of each sequence; rows built full length.
  const int64_t steps = trimmed_length(*order, begin, begin + n);
  const int64_t row = steps > 0 ? steps : per, label_row = steps > 0 ? steps : per_label;
  Shape xs{n};
  for (int64_t d : steps > 0 ? Shape{steps} : sample) xs.push_back(d);

  Batch b;
  b.position = position;
  b.last_in_epoch = position.batch + 1 == batches_per_epoch_;
  b.first_sample = first;
  b.global_size = global_n;
  std::vector<int32_t> full_x, full_y;
  try {
    b.x = Tensor::empty(xs, Device::cpu(), tokens ? DType::I32 : DType::F32);
    if (regression) {
      b.targets = Tensor::empty(Shape{n, t}, Device::cpu(), DType::F32);
    } else {
      b.labels = Tensor::empty(steps == 0 && per_label == 1 ? Shape{n} : Shape{n, label_row}, Device::cpu(), DType::I32);
    }
    full_x.resize(steps > 0 ? per : 0);
    full_y.resize(steps > 0 ? per : 0);
  } catch (...) {  // out of memory: say for which batch of which data (other errors pass unchanged)
    rethrow_out_of_memory(fmt::format("allocating a batch of {} samples x {} ({}) for {}", n, sample.str(),
                                      format_bytes(static_cast<uint64_t>(std::max<int64_t>(n * per, 0)) * 4),
                                      dataset_->describe()));
  }
  float* x = tokens ? nullptr : b.x.data<float>();
  int32_t* ids = tokens ? b.x.data<int32_t>() : nullptr;
  int32_t* labels = regression ? nullptr : b.labels.data<int32_t>();
  float* targets = regression ? b.targets.data<float>() : nullptr;
  const SampleContext ctx{options_.seed, position.epoch, options_.train};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t index = order->samples[static_cast<size_t>(begin + i)];
    if (steps > 0) {
      dataset_->get_tokens(index, ctx, full_x.data(), full_y.data());
      KILN_CHECK(std::all_of(full_y.begin() + steps, full_y.end(), [](int32_t y) { return y == kIgnoreLabel; }),
                 "{}: sample {} has labels past its sequence length {}", dataset_->describe(), index,
                 dataset_->sequence_length(index));
      std::copy(full_x.begin(), full_x.begin() + steps, ids + i * row);
      std::copy(full_y.begin(), full_y.begin() + steps, labels + i * label_row);
    } else if (tokens) {
      dataset_->get_tokens(index, ctx, ids + i * per, labels + i * per_label);
    } else {
      dataset_->get(index, ctx, x + i * per, labels ? labels + i : nullptr, targets ? targets + i * t : nullptr);
    }
    for (int64_t j = 0; labels && j < label_row; ++j) {
      const int32_t label = labels[i * label_row + j];
      if (tokens && label == kIgnoreLabel) continue;  // a padded position
      KILN_CHECK(label >= 0 && label < dataset_->num_classes(), "{}: sample {} has label {}, outside 0..{}",
                 dataset_->describe(), index, label, dataset_->num_classes() - 1);
    }
  }
  return b;
}

void DataLoader::load_pairs(const EpochOrder& order, int64_t begin, int64_t n, Batch& b) const {
  const int64_t S = dataset_->sample_shape().numel(), Y = dataset_->decoder_length();
  int64_t s_b = 1, y_b = 1;
  for (int64_t k = begin; k < begin + n; ++k) {
    const int64_t index = order.samples[static_cast<size_t>(k)];
    const int64_t s = dataset_->sequence_length(index), y = dataset_->target_length(index);
    KILN_CHECK(s >= 1 && s <= S && y >= 1 && y <= Y, "{}: sample {} has lengths {} and {}, outside 1..{} and 1..{}",
               dataset_->describe(), index, s, y, S, Y);
    s_b = std::max(s_b, s);
    y_b = std::max(y_b, y);
  }
  b.x = Tensor::empty(Shape{n, s_b}, Device::cpu(), DType::I32);
  b.decoder_input = Tensor::empty(Shape{n, y_b}, Device::cpu(), DType::I32);
  b.labels = Tensor::empty(Shape{n, y_b}, Device::cpu(), DType::I32);
  std::vector<int32_t> source(static_cast<size_t>(S)), decoder(static_cast<size_t>(Y)), labels(static_cast<size_t>(Y));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t index = order.samples[static_cast<size_t>(begin + i)];
    dataset_->get_pair(index, source.data(), decoder.data(), labels.data());
    KILN_CHECK(std::all_of(labels.begin() + y_b, labels.end(), [](int32_t y) { return y == kIgnoreLabel; }),
               "{}: sample {} has labels past its target length {}", dataset_->describe(), index,
               dataset_->target_length(index));
    for (int64_t t = 0; t < y_b; ++t) {
      const int32_t label = labels[static_cast<size_t>(t)];
      KILN_CHECK(label == kIgnoreLabel || (label >= 0 && label < dataset_->num_classes()),
                 "{}: sample {} has label {}, outside 0..{}", dataset_->describe(), index, label,
                 dataset_->num_classes() - 1);
    }
    std::copy(source.end() - s_b, source.end(), b.x.data<int32_t>() + i * s_b);  // left-padded: keep the end
    std::copy_n(decoder.begin(), y_b, b.decoder_input.data<int32_t>() + i * y_b);
    std::copy_n(labels.begin(), y_b, b.labels.data<int32_t>() + i * y_b);
  }
}

void DataLoader::seek(Position position) {
  KILN_CHECK(position.epoch >= 0 && position.batch >= 0 && position.batch < batches_per_epoch_,
             "DataLoader: cannot seek to (epoch {}, batch {}): {} batches per epoch", position.epoch,
             position.batch, batches_per_epoch_);
  stop_workers();
  std::lock_guard lock(mutex_);
  ready_.clear();
  consume_ = produce_ = position.epoch * batches_per_epoch_ + position.batch;
}

Batch DataLoader::next() {
  if (options_.workers == 0) {
    Batch b = load(position_of(consume_));
    ++consume_;
    return b;
  }
  if (threads_.empty()) start_workers();
  Slot slot;
  {
    std::unique_lock lock(mutex_);
    ready_cv_.wait(lock, [&] { return ready_.count(consume_) != 0; });
    auto it = ready_.find(consume_);
    slot = std::move(it->second);
    ready_.erase(it);
    if (!slot.error) ++consume_;
  }
  if (slot.error) {
    // Stay on the failed batch: drop what was built ahead, so a retry rebuilds from here.
    seek(position_of(consume_));
    std::rethrow_exception(slot.error);
  }
  work_cv_.notify_one();
  return std::move(slot.batch);
}

void DataLoader::start_workers() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
    produce_ = consume_;
    ready_.clear();
  }
  for (int i = 0; i < options_.workers; ++i) {
    try {
      threads_.emplace_back([this] { worker_loop(); });
    } catch (const std::system_error& e) {
      // The system refused a thread (ulimit -u, memory): stop those started, say what failed.
      stop_workers();
      fail(fmt::format("the data loader could not start worker thread {} of {} ({}): set fewer [data] workers "
                       "(0 loads batches on the training thread)", i + 1, options_.workers, e.code().message()));
    }
  }
}

void DataLoader::stop_workers() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  std::lock_guard lock(mutex_);
  stopping_ = false;
}

void DataLoader::worker_loop() {
  for (;;) {
    int64_t seq;
    {
      std::unique_lock lock(mutex_);
      work_cv_.wait(lock, [&] { return stopping_ || produce_ < consume_ + options_.prefetch; });
      if (stopping_) return;
      seq = produce_++;
    }
    Slot slot;
    try {
      slot.batch = load(position_of(seq));
    } catch (...) {
      slot.error = std::current_exception();
    }
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      ready_.emplace(seq, std::move(slot));
    }
    ready_cv_.notify_all();
  }
}

}  // namespace kiln::data
