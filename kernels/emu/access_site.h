// Access counting's sites (access_count.cpp): a load or store is known by the return address of
// its instrumentation call (a PC in the kernel's code), or, for what the emulator does on a kernel's
// behalf (ldmatrix, cp.async), by the kernel's source location. Both fit one 64-bit key; keys
// become "file:line" only when the figures are read (llvm-symbolizer, once per module).
#pragma once

#include <cstdint>
#include <map>
#include <source_location>
#include <string>
#include <vector>

namespace kiln::emu::access {

// A key for an explicit site: bit 63 set, the line in bits 47..62, the address of the file name
// (a string literal; user-space addresses fit 47 bits on x86-64 and AArch64 Linux) below.
inline uint64_t source_site(const std::source_location& where) {
  return uint64_t{1} << 63 | (uint64_t{where.line()} & 0xffff) << 47 |
         (reinterpret_cast<uintptr_t>(where.file_name()) & ((uint64_t{1} << 47) - 1));
}

// "kernels/gemm_tile.cuh:120" for every key: the innermost inlined frame outside kernels/emu/,
// relative to the source tree; "module+0x1234" where no line is known.
std::map<uint64_t, std::string> site_locations(const std::vector<uint64_t>& keys);

}  // namespace kiln::emu::access
