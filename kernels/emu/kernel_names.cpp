// Kernels named in the emulator's messages: "foo(float*, int)" from the address of the kernel's
// function, found in the dynamic symbol table (dladdr) or else in the ELF file's static one, then
// demangled; and the launch configuration formatted alike.
#include <fmt/format.h>
#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "core/error.h"
#include "kernels/emu/emu_api.h"
#include "kernels/emu/internal.h"

namespace kiln::emu {

namespace {
// The name of the function at `address` from the static symbol table (.symtab) of the ELF file
// that holds it: kernels in anonymous namespaces or with internal linkage are not in the dynamic
// symbol table that dladdr reads. Runs only when an error message is built.
std::string symtab_lookup(const char* file, const void* load_base, const void* address) {
  std::string result;
  const int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return result;
  struct stat st {};
  void* map = MAP_FAILED;
  if (fstat(fd, &st) == 0 && st.st_size > static_cast<off_t>(sizeof(Elf64_Ehdr)))
    map = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return result;
  const auto* base = static_cast<const unsigned char*>(map);
  const size_t bytes = static_cast<size_t>(st.st_size);
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
  if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
      eh->e_shoff + uint64_t{eh->e_shnum} * sizeof(Elf64_Shdr) <= bytes) {
    const auto* sh = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff);
    const uintptr_t bias = eh->e_type == ET_DYN ? reinterpret_cast<uintptr_t>(load_base) : 0;
    const uintptr_t want = reinterpret_cast<uintptr_t>(address);
    for (unsigned s = 0; s < eh->e_shnum && result.empty(); ++s) {
      if (sh[s].sh_type != SHT_SYMTAB || sh[s].sh_link >= eh->e_shnum) continue;
      const Elf64_Shdr& strs = sh[sh[s].sh_link];
      if (sh[s].sh_offset + sh[s].sh_size > bytes || strs.sh_offset + strs.sh_size > bytes) continue;
      const auto* syms = reinterpret_cast<const Elf64_Sym*>(base + sh[s].sh_offset);
      const size_t count = sh[s].sh_size / sizeof(Elf64_Sym);
      for (size_t i = 0; i < count; ++i) {
        if (ELF64_ST_TYPE(syms[i].st_info) != STT_FUNC || syms[i].st_value + bias != want) continue;
        if (syms[i].st_name < strs.sh_size) {
          const char* name = reinterpret_cast<const char*>(base + strs.sh_offset + syms[i].st_name);
          result.assign(name, strnlen(name, strs.sh_size - syms[i].st_name));
        }
        break;
      }
    }
  }
  munmap(map, bytes);
  return result;
}
}  // namespace

const char* symbol_name(const void* address, char* buffer, size_t size) {
  Dl_info info{};
  std::string mangled;
  if (address && dladdr(address, &info)) {
    if (info.dli_sname && info.dli_saddr == address) {
      mangled = info.dli_sname;
    } else if (info.dli_fbase) {
      const char* file = info.dli_fname && *info.dli_fname ? info.dli_fname : "/proc/self/exe";
      mangled = symtab_lookup(file, info.dli_fbase, address);
      if (mangled.empty() && file != std::string_view("/proc/self/exe"))
        mangled = symtab_lookup("/proc/self/exe", info.dli_fbase, address);
    }
  }
  if (!mangled.empty()) {
    int status = 0;
    char* d = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
    std::snprintf(buffer, size, "%s", status == 0 && d ? d : mangled.c_str());
    std::free(d);
  } else {
    std::snprintf(buffer, size, "at %p", address);
  }
  return buffer;
}

namespace internal {

std::string dim_str(unsigned x, unsigned y, unsigned z) { return fmt::format("({},{},{})", x, y, z); }

std::string kernel_str(const LaunchSpec& spec) {
  char name[1024];
  return fmt::format("{} (launched at {})", symbol_name(spec.kernel, name, sizeof name),
                     short_location(spec.site));
}

}  // namespace internal
}  // namespace kiln::emu
