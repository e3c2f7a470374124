// Parameter initialisation through Philox (core/philox.h): a parameter's values depend only on
// (seed, offset), and the CPU and GPU fills (cpu::fill_*, gpu::fill_*) are bit-identical, so a net
// initialised on either device starts from the same weights.
//
// The Philox offset of a parameter is derived from its full name ("conv1.weight"): the top 32 bits
// of the 64-bit block counter are a hash of the name, so one parameter's values do not change when
// layers are added to or removed from the net (each parameter may use up to 2^32 blocks = 2^34
// values).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "layers/layer_interface.h"

namespace kiln {

// "pytorch_default", "kaiming_normal", ... ; throws for an unknown name, listing the known ones.
InitKind parse_init_kind(std::string_view name);
const char* init_kind_name(InitKind kind);

// The Philox offset of the parameter called `full_name`.
uint64_t init_offset(std::string_view full_name);

// Fills p.value according to p.init (and p.fan_in / p.fan_out) with Philox (seed, offset).
void init_parameter(Parameter& p, uint64_t seed, uint64_t offset, const Stream& stream);

}  // namespace kiln
