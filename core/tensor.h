// kiln::Tensor: a dense row-major array on one device.
//
// Ownership is RAII and explicit: a Tensor is move-only, so nothing is ever deep-copied by
// accident. view() and reshape() make another handle to the same memory (zero-copy; the memory
// lives while any handle does); clone() and to(device) are the explicit copies. Memory comes
// from the device's caching allocator, on the stream the tensor is made for (the device's default
// stream unless one is given); a tensor whose memory other streams use must say so with
// record_stream(), so that freeing it waits for their work (core/allocator.h). Element counts are
// 64-bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/half.h"
#include "core/shape.h"

namespace kiln {

class Stream;

// BF16 and F16 hold kiln::bf16 / kiln::f16 (core/half.h), bit-compatible with __nv_bfloat16 and
// __half.
enum class DType : uint8_t { F32, I32, BF16, F16 };
size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<bf16>() { return DType::BF16; }
template <> constexpr DType dtype_of<f16>() { return DType::F16; }

// The bytes behind one or more tensors; returned to the allocator when the last handle goes.
class Storage {
 public:
  Storage(Device device, size_t bytes);            // on the device's default stream
  Storage(const Stream& stream, size_t bytes);      // for work on `stream`
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  Device device_;
  size_t bytes_;
  void* data_;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: no storage
  // Uninitialised memory of the given shape.
  static Tensor empty(const Shape& shape, Device device = Device::cpu(), DType dtype = DType::F32);
  static Tensor zeros(const Shape& shape, Device device = Device::cpu(), DType dtype = DType::F32);
  // The same for work on `stream` (its device); zeros() fills on the stream without waiting.
  static Tensor empty(const Shape& shape, const Stream& stream, DType dtype = DType::F32);
  static Tensor zeros(const Shape& shape, const Stream& stream, DType dtype = DType::F32);
  // A tensor holding `values` (host data copied to `device`); values.size() must equal numel.
  static Tensor from_host(std::span<const float> values, const Shape& shape, Device device = Device::cpu());
  static Tensor from_host(std::span<const int32_t> values, const Shape& shape, Device device = Device::cpu());

  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t dim(int axis) const { return shape_[axis]; }
  int64_t numel() const { return shape_.numel(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const;

  // Typed pointer to the first element; throws if T does not match the dtype.
  template <class T> T* data() const {
    check_dtype(dtype_of<T>());
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;

  // Zero-copy handles to the same memory.
  Tensor view() const;
  Tensor reshape(const Shape& shape) const;        // numel must match
  Tensor slice(int64_t begin, int64_t end) const;  // rows [begin, end) of dimension 0
  bool shares_memory_with(const Tensor& other) const { return storage_ && storage_ == other.storage_; }
  // Declares that work queued on `stream` uses this tensor's memory; when the last handle goes,
  // the memory is reused by other streams only after that work (CachingAllocator::record_stream).
  // Needed for every stream but the one the tensor was made for.
  void record_stream(const Stream& stream) const;

  // Explicit copies. Those given a stream are ordered on it (one to or from host memory is also
  // finished when the call returns: host memory handed to kiln is pageable); those without one
  // are finished when the call returns.
  Tensor clone() const;
  Tensor to(Device device) const;
  void copy_from(const Tensor& source, const Stream& stream);
  void copy_from(const Tensor& source);
  void fill_zero(const Stream& stream);
  void fill_zero();
  // Element values on the host (copies from a device).
  std::vector<float> to_host() const;
  std::vector<int32_t> to_host_i32() const;

  // "Tensor(f32, (2, 3), cuda:0)"
  std::string str() const;

 private:
  void check_dtype(DType wanted) const;
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  DType dtype_ = DType::F32;
  int64_t offset_ = 0;  // in elements
};

// Copies `bytes` between any two devices, ordered on `stream`; waited for unless the copy is
// device-to-device.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes,
                const Stream& stream);
// The same, finished when the call returns (on the default stream of the GPU side, if any).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

// Copies `rows` rows of `row_bytes` bytes whose starts are `src_pitch` / `dst_pitch` bytes apart,
// on one device (cudaMemcpy2DAsync: one call however many rows, e.g. gathering the (T*N, H)
// halves of a bidirectional layer's (T*N, 2H) output), ordered on `stream`.
void copy_2d(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t row_bytes, size_t rows,
             Device device, const Stream& stream);

}  // namespace kiln
