// Site keys to "file:line" for access counting (access_site.h).
#include "kernels/emu/access_site.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace kiln::emu::access {
namespace {

// The path below the source tree ("kernels/gemm.cu"), else the path as it is.
std::string relative(const std::string& path) {
#ifdef KILN_SOURCE_DIR
  const std::string root = KILN_SOURCE_DIR "/";
  if (path.rfind(root, 0) == 0) return path.substr(root.size());
#endif
  return path;
}

bool emulator_frame(const std::string& path) { return path.find("kernels/emu/") != std::string::npos; }

std::string file_of(const std::string& file_line) { return file_line.substr(0, file_line.rfind(':')); }

// The innermost frame outside the emulator; for a helper in a header (tile::load4), also the
// first frame outside that header, which tells its callers apart.
std::string choose(const std::vector<std::string>& frames) {
  size_t i = 0;
  while (i < frames.size() && emulator_frame(frames[i])) ++i;
  if (i == frames.size()) return frames.empty() ? "" : frames[0];
  const std::string file = file_of(frames[i]);
  if (!file.ends_with(".cuh") && !file.ends_with(".h")) return frames[i];
  for (size_t j = i + 1; j < frames.size(); ++j)
    if (file_of(frames[j]) != file && !emulator_frame(frames[j]))
      return frames[i] + " < " + frames[j];
  return frames[i];
}

// llvm-symbolizer over one module: offsets -> innermost frame outside the emulator, or "".
std::vector<std::string> symbolize(const std::string& module, const std::vector<uintptr_t>& offsets) {
  std::vector<std::string> out(offsets.size());
#ifdef KILN_LLVM_SYMBOLIZER
  char name[] = "/tmp/kiln_access_XXXXXX";
  const int fd = mkstemp(name);
  if (fd < 0) return out;
  close(fd);
  {
    std::ofstream f(name);
    for (uintptr_t o : offsets) f << fmt::format("{:#x}\n", o);
  }
  const std::string cmd = fmt::format("'{}' --obj='{}' --inlines --functions=none < '{}'",
                                      KILN_LLVM_SYMBOLIZER, module, name);
  if (FILE* p = popen(cmd.c_str(), "r")) {
    std::string text;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
    pclose(p);
    // One block of "file:line:column" frames (innermost first) per address, blank-line separated.
    std::istringstream in(text);
    std::string line;
    std::vector<std::string> frames;
    size_t i = 0;
    while (std::getline(in, line) && i < out.size()) {
      if (!line.empty()) {
        const size_t col = line.rfind(':');
        frames.push_back(relative(col == std::string::npos ? line : line.substr(0, col)));
        continue;
      }
      out[i++] = choose(frames);
      frames.clear();
    }
  }
  std::remove(name);
#else
  (void)module;
#endif
  return out;
}

}  // namespace

std::map<uint64_t, std::string> site_locations(const std::vector<uint64_t>& keys) {
  std::map<uint64_t, std::string> out;
  // Module -> (key, offset) of the PCs in it.
  std::map<std::string, std::vector<std::pair<uint64_t, uintptr_t>>> by_module;
  for (uint64_t key : keys) {
    if (key >> 63) {
      const auto* file = reinterpret_cast<const char*>(key & ((uint64_t{1} << 47) - 1));
      out[key] = fmt::format("{}:{}", relative(file), (key >> 47) & 0xffff);
      continue;
    }
    Dl_info info{};
    const auto pc = static_cast<uintptr_t>(key) - 1;  // inside the call, at its line
    if (!dladdr(reinterpret_cast<void*>(pc), &info) || !info.dli_fname) {
      out[key] = fmt::format("{:#x}", pc);
      continue;
    }
    std::string module = info.dli_fname;
    if (::access(module.c_str(), R_OK) != 0) module = "/proc/self/exe";
    by_module[module].emplace_back(key, pc - reinterpret_cast<uintptr_t>(info.dli_fbase));
  }
  for (const auto& [module, pcs] : by_module) {
    std::vector<uintptr_t> offsets;
    for (const auto& [key, off] : pcs) offsets.push_back(off);
    const std::vector<std::string> where = symbolize(module, offsets);
    for (size_t i = 0; i < pcs.size(); ++i)
      out[pcs[i].first] = !where[i].empty() && where[i] != "??:0"
                              ? where[i]
                              : fmt::format("{}+{:#x}", relative(module), pcs[i].second);
  }
  return out;
}

}  // namespace kiln::emu::access
