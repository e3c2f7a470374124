// What this kiln is: its version, build flavour and the versions of the libraries it runs with.
#pragma once

#include <string>
#include <vector>

namespace kiln {

const char* version();
// "cuda", "emulate" or "off": how kernels/ was built.
const char* gpu_flavour();

struct ComponentVersion {
  std::string name;
  std::string version;  // "not used in this build", or why it is unknown
};
// CUDA runtime, driver, cuBLAS, cuDNN and OpenBLAS as far as this build uses them.
std::vector<ComponentVersion> component_versions();

}  // namespace kiln
