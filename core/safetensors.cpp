#include "core/safetensors.h"

#include "core/files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/half.h"

namespace kiln {
namespace {

constexpr uint64_t kMaxHeader = 100u << 20;  // as the reference implementation: 100 MB
constexpr uint64_t kMaxElements = uint64_t{1} << 60;  // so that elements × 4 bytes fits in 64 bits

// safetensors' name of a dtype kiln stores ("" for one it does not).
const char* file_dtype(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::BF16: return "BF16";
    case DType::F16: return "F16";
    default: return "";
  }
}

// A failed write(2): its errno, for the caller's message.
struct WriteError {
  int error;
};

void write_all(int fd, const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw WriteError{errno};
    p += n;
    bytes -= static_cast<size_t>(n);
  }
}

// A write goes to "<path>.tmp.<pid>", which its writer holds under an exclusive flock() from just
// after creating it until it is renamed over <path> or removed. A process killed mid-write (kill -9,
// OOM killer, power loss) leaves its temp behind, but the kernel drops the lock with the process, so
// the next write to the same <path> finds every unlocked "<path>.tmp.<digits>" stale and removes it:
// at most one leftover per destination, none after a write completes. A live writer's temp is never
// touched (it is locked), so two processes may still write the same destination at once. Temps of
// other destinations, and files that are not regular or not named exactly so, are left alone.
void remove_stale_temps(const std::filesystem::path& target) {
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || !name.starts_with(prefix)) continue;
    if (!std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    const std::string stale = it->path().string();
    const int fd = ::open(stale.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    // Locked: a writer is alive. Unlocked: remove it if the name still names the file we locked (a
    // writer that finished in between has renamed it away).
    struct stat held {}, named {};
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0 && ::fstat(fd, &held) == 0 && S_ISREG(held.st_mode) &&
        ::lstat(stale.c_str(), &named) == 0 && held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
      ::unlink(stale.c_str());
    }
    ::close(fd);
  }
}

// Creates (or truncates) `tmp` and locks it (see remove_stale_temps). A cleaner that removed it
// between the open and the lock leaves us an unlinked file (no links): then start over. Where the
// file system has no flock(), the write goes on unlocked (its leftovers are then never removed).
int open_locked_temp(const std::string& tmp) {
  for (int attempt = 0;; ++attempt) {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail(fmt::format("cannot create '{}': {}", tmp, std::strerror(errno)));
    if (::flock(fd, LOCK_EX) != 0) return fd;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_nlink > 0) return fd;
    ::close(fd);
    if (attempt == 100) fail(fmt::format("cannot create '{}': it keeps being removed", tmp));
  }
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const NamedTensor& t : tensors) {
    KILN_CHECK(*file_dtype(t.tensor->dtype()), "safetensors: '{}' is {}; kiln writes f32, bf16 and f16",
               t.name, dtype_name(t.tensor->dtype()));
    KILN_CHECK(!header.contains(t.name), "safetensors: two tensors named '{}'", t.name);
    const uint64_t bytes = t.tensor->nbytes();
    header[t.name] = {{"dtype", file_dtype(t.tensor->dtype())},
                      {"shape", std::vector<int64_t>(t.tensor->shape().begin(), t.tensor->shape().end())},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' ');  // align the data to 8 bytes, as the spec allows
  const uint64_t n = text.size();
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(n >> (8 * i));

  const std::filesystem::path target(path);
  remove_stale_temps(target);
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  const int fd = open_locked_temp(tmp);
  // On failure the temp is removed (while still locked) and `path` is as it was.
  const auto give_up = [&](const std::string& what, int error) {
    ::unlink(tmp.c_str());
    ::close(fd);
    std::error_code ec;
    const bool old = std::filesystem::exists(target, ec);
    fail(fmt::format("cannot {} '{}': {} (the new file was '{}', now removed; {})", what, path, std::strerror(error), tmp,
                     old ? fmt::format("'{}' is as it was before", path) : fmt::format("there is no '{}'", path)));
  };
  try {
    write_all(fd, length, 8);
    write_all(fd, text.data(), text.size());
    for (const NamedTensor& t : tensors) {
      if (t.tensor->dtype() == DType::F32) {
        const std::vector<float> values = t.tensor->to_host();
        write_all(fd, values.data(), values.size() * 4);
      } else {  // 16-bit: the bytes as they are
        std::vector<uint16_t> bits(static_cast<size_t>(t.tensor->numel()));
        copy_bytes(bits.data(), Device::cpu(), t.tensor->raw_data(), t.tensor->device(), t.tensor->nbytes());
        write_all(fd, bits.data(), bits.size() * 2);
      }
    }
  } catch (const WriteError& e) {
    give_up("write", e.error);
  } catch (...) {
    ::unlink(tmp.c_str());
    ::close(fd);
    throw;
  }
  if (::fsync(fd) != 0) give_up("flush", errno);
  // Renamed while still locked, so no cleaner can take it for a leftover; then unlocked.
  if (std::rename(tmp.c_str(), path.c_str()) != 0) give_up("rename into place", errno);
  ::close(fd);
  // Make the rename itself durable.
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

SafetensorsFile read_safetensors(const std::string& path) {
  require_regular_file(path, "checkpoint");  // a FIFO would block the open
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  in.seekg(0, std::ios::end);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  auto bad = [&](const std::string& problem) -> void {
    fail(fmt::format("'{}' is not a valid safetensors file: {}", path, problem));
  };
  if (size < 8) bad(fmt::format("it has {} bytes, fewer than the 8-byte header length", size));
  uint8_t length[8];
  in.read(reinterpret_cast<char*>(length), 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{length[i]} << (8 * i);
  if (n > kMaxHeader) bad(fmt::format("the header length {} is implausible (more than 100 MB)", n));
  if (8 + n > size) bad(fmt::format("truncated: the header needs {} bytes but the file has {}", 8 + n, size));
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    bad(fmt::format("its header is not valid JSON (damaged or not a safetensors file); the JSON parser says: {}",
                    e.what()));
  }
  if (!header.is_object()) bad("the header is not a JSON object");
  const uint64_t data_size = size - 8 - n;

  SafetensorsFile file;
  struct Span {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& e = it.value();
    if (name == "__metadata__") {
      if (!e.is_object()) bad("__metadata__ is not an object");
      for (auto m = e.begin(); m != e.end(); ++m) {
        if (!m.value().is_string()) bad(fmt::format("metadata '{}' is not a string", m.key()));
        file.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets")) {
      bad(fmt::format("tensor '{}' lacks dtype, shape or data_offsets", name));
    }
    DType dtype = DType::F32;
    if (e["dtype"] == "BF16") {
      dtype = DType::BF16;
    } else if (e["dtype"] == "F16") {
      dtype = DType::F16;
    } else if (e["dtype"] != "F32") {
      bad(fmt::format("tensor '{}' has dtype {}; kiln reads F32, BF16 and F16", name, e["dtype"].dump()));
    }
    const uint64_t element = dtype_size(dtype);
    Shape shape;
    if (!e["shape"].is_array() || e["shape"].size() > static_cast<size_t>(Shape::kMaxRank)) {
      bad(fmt::format("tensor '{}' has a bad shape {}", name, e["shape"].dump()));
    }
    // Each dimension a non-negative integer, and their product (in 64 bits) at most 2^60 elements:
    // nothing wraps to a negative or small size.
    uint64_t elements = 1;
    for (const auto& d : e["shape"]) {
      if (!d.is_number_unsigned()) {
        bad(fmt::format("tensor '{}' has a bad shape {}: dimensions must be integers >= 0", name, e["shape"].dump()));
      }
      const uint64_t dim = d.get<uint64_t>();
      if (dim > kMaxElements || (dim > 0 && elements > kMaxElements / dim)) {
        bad(fmt::format("tensor '{}' has an impossible shape {}: more than 2^60 elements", name, e["shape"].dump()));
      }
      elements *= dim;
      shape.push_back(static_cast<int64_t>(dim));
    }
    const auto& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
      bad(fmt::format("tensor '{}' has bad data_offsets {}", name, off.dump()));
    }
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (begin > end || end > data_size) {
      bad(fmt::format("tensor '{}' spans bytes [{}, {}) but the data has {} bytes (truncated?)", name, begin, end, data_size));
    }
    if (end - begin != static_cast<uint64_t>(shape.numel()) * element) {
      bad(fmt::format("tensor '{}' of shape {} and dtype {} needs {} bytes, its offsets give {}", name, shape.str(),
                      e["dtype"].get<std::string>(), shape.numel() * element, end - begin));
    }
    spans.push_back({begin, end, name});
    file.tensors[name].shape = shape;
    file.tensors[name].dtype = dtype;
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].begin < spans[i - 1].end) bad(fmt::format("tensors '{}' and '{}' overlap", spans[i - 1].name, spans[i].name));
  }
  for (const Span& s : spans) {
    SafetensorsFile::Entry& entry = file.tensors[s.name];
    in.seekg(static_cast<std::streamoff>(8 + n + s.begin));
    const auto bytes = static_cast<std::streamsize>(s.end - s.begin);
    if (entry.dtype == DType::F32) {
      entry.values.resize((s.end - s.begin) / 4);
      in.read(reinterpret_cast<char*>(entry.values.data()), bytes);
    } else {
      entry.bits16.resize((s.end - s.begin) / 2);
      in.read(reinterpret_cast<char*>(entry.bits16.data()), bytes);
      entry.values.resize(entry.bits16.size());
      for (size_t i = 0; i < entry.bits16.size(); ++i) {
        entry.values[i] = entry.dtype == DType::BF16 ? bf16_to_float(bf16{entry.bits16[i]})
                                                     : f16_to_float(f16{entry.bits16[i]});
      }
    }
    if (!in) bad(fmt::format("could not read the data of '{}'", s.name));
  }
  return file;
}

}  // namespace kiln
