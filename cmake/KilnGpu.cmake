# Chooses how kernels/*.cu are built. One cache option, KILN_GPU:
#   cuda     nvcc for real GPUs (CMAKE_CUDA_ARCHITECTURES, default 75;80;86;89;90 + PTX of the newest)
#   emulate  the same .cu files compiled as C++ by the host compiler against kiln's CUDA emulator
#            (kernels/emu/), so every kernel runs on the CPU in the tests
#   off      CPU only; no CUDA toolkit needed
#   auto     cuda where nvcc and the toolkit are found, else off
set(KILN_GPU auto CACHE STRING "How GPU code is built: auto | cuda | emulate | off")
set_property(CACHE KILN_GPU PROPERTY STRINGS auto cuda emulate off)

set(_kiln_default_archs 75 80 86 89 90)

if(NOT KILN_GPU MATCHES "^(auto|cuda|emulate|off)$")
  message(FATAL_ERROR "KILN_GPU=${KILN_GPU} is not one of: auto, cuda, emulate, off")
endif()

include(CheckLanguage)
set(KILN_GPU_FLAVOUR ${KILN_GPU})
if(KILN_GPU STREQUAL "auto")
  check_language(CUDA)
  find_package(CUDAToolkit QUIET)
  if(CMAKE_CUDA_COMPILER AND CUDAToolkit_FOUND)
    set(KILN_GPU_FLAVOUR cuda)
  else()
    set(KILN_GPU_FLAVOUR off)
  endif()
endif()

if(KILN_GPU_FLAVOUR STREQUAL "cuda")
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    message(FATAL_ERROR
      "KILN_GPU=cuda but no CUDA compiler (nvcc) was found. Install the CUDA toolkit and put nvcc "
      "on PATH (e.g. export PATH=/usr/local/cuda/bin:$PATH), or pass "
      "-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc; use -DKILN_GPU=off for a CPU-only build.")
  endif()
  # Architectures: the user's choice, else our defaults; either way clamped to what nvcc knows.
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
    set(_kiln_requested ${_kiln_default_archs})
    set(_kiln_default_ptx ON)
  else()
    set(_kiln_requested ${CMAKE_CUDA_ARCHITECTURES})
    set(_kiln_default_ptx OFF)
  endif()
  execute_process(COMMAND ${CMAKE_CUDA_COMPILER} --list-gpu-arch
                  OUTPUT_VARIABLE _kiln_nvcc_archs ERROR_QUIET)
  string(REGEX MATCHALL "compute_[0-9]+" _kiln_nvcc_archs "${_kiln_nvcc_archs}")
  string(REPLACE "compute_" "" _kiln_nvcc_archs "${_kiln_nvcc_archs}")
  set(_kiln_archs "")
  set(_kiln_dropped "")
  foreach(a IN LISTS _kiln_requested)
    string(REGEX REPLACE "-(real|virtual)$" "" _num "${a}")
    if(_kiln_nvcc_archs AND NOT _num IN_LIST _kiln_nvcc_archs)
      list(APPEND _kiln_dropped ${a})
    else()
      list(APPEND _kiln_archs ${a})
    endif()
  endforeach()
  if(_kiln_dropped)
    message(WARNING "kiln: nvcc ${CMAKE_CUDA_COMPILER_VERSION} cannot build for ${_kiln_dropped}; dropped")
  endif()
  if(NOT _kiln_archs)
    message(FATAL_ERROR "kiln: none of the CUDA architectures ${_kiln_requested} is supported by this nvcc "
                        "(it knows: ${_kiln_nvcc_archs}). Set CMAKE_CUDA_ARCHITECTURES to one of those.")
  endif()
  if(_kiln_default_ptx)
    # SASS for every default architecture, plus PTX for the newest so future GPUs can JIT it.
    set(_kiln_final "")
    list(GET _kiln_archs -1 _newest)
    foreach(a IN LISTS _kiln_archs)
      if(a STREQUAL _newest)
        list(APPEND _kiln_final ${a})
      else()
        list(APPEND _kiln_final ${a}-real)
      endif()
    endforeach()
    set(_kiln_archs ${_kiln_final})
  endif()
  set(CMAKE_CUDA_ARCHITECTURES ${_kiln_archs} CACHE STRING "CUDA architectures" FORCE)
  enable_language(CUDA)
  # CMake 3.25 knows no C++20 flag for nvcc (only for clang as CUDA compiler); nvcc 12+ takes
  # -std=c++20, so teach CMake the flag instead of passing it by hand.
  if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  endif()
  set(CMAKE_CUDA_STANDARD 20)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  find_package(CUDAToolkit REQUIRED)
elseif(KILN_GPU_FLAVOUR STREQUAL "emulate")
  # The emulator needs only the toolkit's headers (dim3, float4, __half, the runtime API's types).
  find_package(CUDAToolkit QUIET)
  if(NOT CUDAToolkit_FOUND)
    message(FATAL_ERROR "KILN_GPU=emulate needs the CUDA toolkit's headers (cuda_runtime.h); none "
                        "found. Install the toolkit or set CUDAToolkit_ROOT=/usr/local/cuda.")
  endif()
endif()

# KILN_HAS_DEVICE: there is a "cuda" device type in this build (real or emulated).
set(KILN_HAS_DEVICE OFF)
if(KILN_GPU_FLAVOUR STREQUAL "cuda" OR KILN_GPU_FLAVOUR STREQUAL "emulate")
  set(KILN_HAS_DEVICE ON)
endif()

# KILN_EMU_ACCESS: the emulate build that counts the kernels' memory accesses (sectors per request,
# bank conflicts: kernels/emu/README.md, "Access counting"). Needs GCC (its kernel-address
# instrumentation calls a function before every load and store) and no sanitizer; every other
# build is unchanged.
option(KILN_EMU_ACCESS "Emulate build that counts kernel memory accesses (GCC)" OFF)
if(KILN_EMU_ACCESS)
  if(NOT KILN_GPU_FLAVOUR STREQUAL "emulate")
    message(FATAL_ERROR "KILN_EMU_ACCESS=ON needs KILN_GPU=emulate")
  endif()
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    message(FATAL_ERROR "KILN_EMU_ACCESS=ON needs GCC (-fsanitize=kernel-address with out-of-line "
                        "checks); this is ${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}")
  endif()
  if(NOT KILN_SANITIZE MATCHES "^(OFF|off|0|)$")
    message(FATAL_ERROR "KILN_EMU_ACCESS=ON does not combine with KILN_SANITIZE=${KILN_SANITIZE}")
  endif()
  add_compile_definitions(KILN_EMU_ACCESS_COUNT=1)
endif()

if(KILN_GPU_FLAVOUR STREQUAL "emulate")
  find_package(Python3 REQUIRED COMPONENTS Interpreter)  # kernels/emu/emu_source.py
  set(KILN_EMU_PYTHON "${Python3_EXECUTABLE}")
endif()

# Adds kernels/*.cu sources to a target so that they build in the chosen flavour: as CUDA for nvcc,
# or as C++ with the emulator header force-included. Under `off` the sources are not built at all.
function(kiln_gpu_sources target)
  if(KILN_GPU_FLAVOUR STREQUAL "cuda")
    target_sources(${target} PRIVATE ${ARGN})
  elseif(KILN_GPU_FLAVOUR STREQUAL "emulate")
    # The emulator compiles each source as rewritten by kernels/emu/emu_source.py (fresh shared
    # memory per block, __launch_bounds__ enforced; same line numbers and file names) under
    # ${CMAKE_BINARY_DIR}/emu_src, whose copies of kernels/*.cuh come first on the include path.
    kiln_emu_headers()
    set(generated)
    foreach(src IN LISTS ARGN)
      get_filename_component(abs "${src}" ABSOLUTE)
      kiln_emu_view("${abs}" out)
      list(APPEND generated "${out}")
    endforeach()
    set(_kiln_emu_flags "-xc++;-include;${PROJECT_SOURCE_DIR}/kernels/emu/emu.h")
    if(KILN_EMU_ACCESS)
      # Access counting (kernels/emu/README.md): every load and store of the GPU code calls
      # kernels/emu/access_count.cpp (GCC's address-sanitizer instrumentation in its kernel form:
      # out-of-line checks, no shadow memory, no runtime; not ASan, so __SANITIZE_ADDRESS__ goes).
      # The CPU code keeps the accesses the source makes: no vectorisers (no scalar loads turned
      # into vector ones), no scalar replacement of aggregates (a float4 copy stays one 16-byte
      # load). Debug info names the sites, inlined frames included.
      list(APPEND _kiln_emu_flags -fsanitize=kernel-address -U__SANITIZE_ADDRESS__
           --param=asan-instrumentation-with-call-threshold=0 --param=asan-stack=0
           --param=asan-globals=0 --param=asan-use-after-return=0
           -fno-tree-vectorize -fno-tree-slp-vectorize -fno-tree-sra -fno-ipa-sra -g)
    endif()
    set_source_files_properties(${generated} TARGET_DIRECTORY ${target} PROPERTIES
      LANGUAGE CXX
      COMPILE_OPTIONS "${_kiln_emu_flags}")
    target_sources(${target} PRIVATE ${generated})
    target_include_directories(${target} BEFORE PRIVATE "${CMAKE_BINARY_DIR}/emu_src")
    add_dependencies(${target} kiln_emu_headers)
  endif()
endfunction()

# The emulator's view of kernels/*.cuh (see kiln_gpu_sources), made once per build tree.
function(kiln_emu_headers)
  if(TARGET kiln_emu_headers)
    return()
  endif()
  file(GLOB headers CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/kernels/*.cuh")
  set(outs)
  foreach(abs IN LISTS headers)
    kiln_emu_view("${abs}" out)
    list(APPEND outs "${out}")
  endforeach()
  add_custom_target(kiln_emu_headers DEPENDS ${outs})
endfunction()

# The rule that writes the emulator's view of the source file `abs` (an absolute path in the
# project) to ${CMAKE_BINARY_DIR}/emu_src/<same relative path>; that path is returned in `out_var`.
function(kiln_emu_view abs out_var)
  file(RELATIVE_PATH rel "${PROJECT_SOURCE_DIR}" "${abs}")
  set(out "${CMAKE_BINARY_DIR}/emu_src/${rel}")
  add_custom_command(OUTPUT "${out}"
    COMMAND "${KILN_EMU_PYTHON}" "${PROJECT_SOURCE_DIR}/kernels/emu/emu_source.py" "${abs}" "${out}"
    DEPENDS "${abs}" "${PROJECT_SOURCE_DIR}/kernels/emu/emu_source.py"
    COMMENT "emulator view of ${rel}" VERBATIM)
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()
