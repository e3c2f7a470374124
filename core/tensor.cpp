#include "core/tensor.h"

#include <fmt/format.h>

#include <cstring>

#include "core/allocator.h"
#include "core/error.h"
#include "core/stream.h"

#if KILN_WITH_DEVICE
#include "core/cuda_check.h"
#endif

namespace kiln {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::I32: return 4;
    case DType::BF16: return 2;
    case DType::F16: return 2;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "f32";
    case DType::I32: return "i32";
    case DType::BF16: return "bf16";
    case DType::F16: return "f16";
  }
  return "?";
}

Storage::Storage(Device device, size_t bytes)
    : device_(device), bytes_(bytes), data_(allocator_for(device).allocate(bytes)) {}

Storage::Storage(const Stream& stream, size_t bytes)
    : device_(stream.device()), bytes_(bytes), data_(allocator_for(device_).allocate(bytes, stream)) {}

Storage::~Storage() { allocator_for(device_).deallocate(data_); }

Tensor Tensor::empty(const Shape& shape, Device device, DType dtype) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>(device, static_cast<size_t>(shape.numel()) * dtype_size(dtype));
  return t;
}

Tensor Tensor::zeros(const Shape& shape, Device device, DType dtype) {
  Tensor t = empty(shape, device, dtype);
  t.fill_zero();
  return t;
}

Tensor Tensor::empty(const Shape& shape, const Stream& stream, DType dtype) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>(stream, static_cast<size_t>(shape.numel()) * dtype_size(dtype));
  return t;
}

Tensor Tensor::zeros(const Shape& shape, const Stream& stream, DType dtype) {
  Tensor t = empty(shape, stream, dtype);
  t.fill_zero(stream);
  return t;
}

void Tensor::record_stream(const Stream& stream) const {
  KILN_CHECK(stream.device() == device(), "record_stream: a stream of {} for tensor {}", stream.device().str(), str());
  if (storage_) allocator_for(device()).record_stream(storage_->data(), stream);
}

namespace {
template <class T>
Tensor tensor_from_host(std::span<const T> values, const Shape& shape, Device device) {
  KILN_CHECK(static_cast<int64_t>(values.size()) == shape.numel(),
             "from_host: {} values given for shape {} ({} elements)", values.size(), shape.str(),
             shape.numel());
  Tensor t = Tensor::empty(shape, device, dtype_of<T>());
  copy_bytes(t.raw_data(), device, values.data(), Device::cpu(), t.nbytes());
  return t;
}
}  // namespace

Tensor Tensor::from_host(std::span<const float> values, const Shape& shape, Device device) {
  return tensor_from_host(values, shape, device);
}
Tensor Tensor::from_host(std::span<const int32_t> values, const Shape& shape, Device device) {
  return tensor_from_host(values, shape, device);
}

Device Tensor::device() const { return storage_ ? storage_->device() : Device::cpu(); }

void* Tensor::raw_data() const {
  if (!storage_) return nullptr;
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

void Tensor::check_dtype(DType wanted) const {
  KILN_CHECK(dtype_ == wanted, "tensor {} holds {}, not {}", str(), dtype_name(dtype_), dtype_name(wanted));
}

Tensor Tensor::view() const {
  Tensor t;
  t.storage_ = storage_;
  t.shape_ = shape_;
  t.dtype_ = dtype_;
  t.offset_ = offset_;
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
  KILN_CHECK(shape.numel() == numel(), "cannot reshape {} ({} elements) to {} ({} elements)",
             shape_.str(), numel(), shape.str(), shape.numel());
  Tensor t = view();
  t.shape_ = shape;
  return t;
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  KILN_CHECK(rank() >= 1, "cannot slice the scalar tensor {}", str());
  KILN_CHECK(0 <= begin && begin <= end && end <= shape_[0],
             "slice [{}, {}) is out of range for dimension 0 of {}", begin, end, shape_.str());
  const int64_t row = shape_[0] == 0 ? 0 : numel() / shape_[0];
  Tensor t = view();
  Shape s{end - begin};
  for (int a = 1; a < rank(); ++a) s.push_back(shape_[a]);
  t.shape_ = s;
  t.offset_ = offset_ + begin * row;
  return t;
}

Tensor Tensor::clone() const { return to(device()); }

Tensor Tensor::to(Device device) const {
  Tensor t = empty(shape_, device, dtype_);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& source, const Stream& stream) {
  KILN_CHECK(source.dtype_ == dtype_ && source.numel() == numel(),
             "copy_from: source {} does not match destination {}", source.str(), str());
  copy_bytes(raw_data(), device(), source.raw_data(), source.device(), nbytes(), stream);
}

void Tensor::copy_from(const Tensor& source) {
  const Stream stream = Stream::default_for(device().is_cuda() ? device() : source.device());
  copy_from(source, stream);
  stream.synchronize();
}

void Tensor::fill_zero([[maybe_unused]] const Stream& stream) {
  if (nbytes() == 0) return;
  if (device().is_cpu()) {
    std::memset(raw_data(), 0, nbytes());
    return;
  }
#if KILN_WITH_DEVICE
  set_current_device(device());
  KILN_CUDA_CHECK(cudaMemsetAsync(raw_data(), 0, nbytes(), static_cast<cudaStream_t>(stream.native())));
#endif
}

void Tensor::fill_zero() {
  const Stream stream = Stream::default_for(device());
  fill_zero(stream);
  stream.synchronize();
}

std::vector<float> Tensor::to_host() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  check_dtype(DType::F32);
  copy_bytes(out.data(), Device::cpu(), raw_data(), device(), nbytes());
  return out;
}

std::vector<int32_t> Tensor::to_host_i32() const {
  std::vector<int32_t> out(static_cast<size_t>(numel()));
  check_dtype(DType::I32);
  copy_bytes(out.data(), Device::cpu(), raw_data(), device(), nbytes());
  return out;
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  return fmt::format("Tensor({}, {}, {})", dtype_name(dtype_), shape_.str(), device().str());
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes,
                [[maybe_unused]] const Stream& stream) {
  if (bytes == 0 || dst == src) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if KILN_WITH_DEVICE
  const cudaMemcpyKind kind = src_device.is_cpu()   ? cudaMemcpyHostToDevice
                              : dst_device.is_cpu() ? cudaMemcpyDeviceToHost
                                                    : cudaMemcpyDeviceToDevice;
  set_current_device(dst_device.is_cuda() ? dst_device : src_device);
  auto handle = static_cast<cudaStream_t>(stream.native());
  KILN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, handle));
  // Host memory handed to us is pageable (kiln's CPU allocator is malloc). From pageable memory
  // the runtime stages the bytes before cudaMemcpyAsync returns, so the caller may reuse the
  // source at once and the upload need not wait; into pageable memory the bytes land only when
  // the stream gets there, so a download waits before the caller reads them.
  if (kind == cudaMemcpyDeviceToHost) KILN_CUDA_CHECK(cudaStreamSynchronize(handle));
#else
  fail(fmt::format("cannot copy between {} and {}: this kiln was built without GPU support",
                   src_device.str(), dst_device.str()));
#endif
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  const Stream stream = Stream::default_for(dst_device.is_cuda() ? dst_device : src_device);
  copy_bytes(dst, dst_device, src, src_device, bytes, stream);
  stream.synchronize();
}

void copy_2d(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t row_bytes, size_t rows,
             Device device, [[maybe_unused]] const Stream& stream) {
  KILN_CHECK(row_bytes <= dst_pitch && row_bytes <= src_pitch, "copy_2d: rows of {} bytes exceed a pitch ({}, {})",
             row_bytes, dst_pitch, src_pitch);
  if (rows == 0 || row_bytes == 0) return;
  if (device.is_cpu()) {
    for (size_t r = 0; r < rows; ++r)
      std::memcpy(static_cast<char*>(dst) + r * dst_pitch, static_cast<const char*>(src) + r * src_pitch, row_bytes);
    return;
  }
#if KILN_WITH_DEVICE
  set_current_device(device);
  KILN_CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, row_bytes, rows, cudaMemcpyDeviceToDevice,
                                    static_cast<cudaStream_t>(stream.native())));
#else
  fail(fmt::format("cannot copy on {}: this kiln was built without GPU support", device.str()));
#endif
}

}  // namespace kiln
