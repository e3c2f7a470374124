# Third-party dependencies: Debian packages (kiln.sh installs them) and the CUDA toolkit.
# Nothing is downloaded at configure or build time.
find_package(Threads REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
find_path(KILN_CBLAS_INCLUDE cblas.h PATH_SUFFIXES openblas openblas-pthread REQUIRED)
if(KILN_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(KILN_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# OpenBLAS's version, for the configure summary and `kiln info`.
set(KILN_OPENBLAS_VERSION "unknown")
find_file(_kiln_openblas_config openblas_config.h PATHS ${KILN_CBLAS_INCLUDE} NO_DEFAULT_PATH)
if(_kiln_openblas_config)
  file(STRINGS ${_kiln_openblas_config} _v REGEX "OPENBLAS_VERSION")
  string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" KILN_OPENBLAS_VERSION "${_v}")
endif()

if(KILN_GPU_FLAVOUR STREQUAL "cuda")
  find_path(KILN_CUDNN_INCLUDE cudnn_version.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
  find_library(KILN_CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR})
  if(NOT KILN_CUDNN_INCLUDE OR NOT KILN_CUDNN_LIBRARY)
    message(FATAL_ERROR "KILN_GPU=cuda needs cuDNN (cudnn_version.h and libcudnn) next to the CUDA "
                        "toolkit; none found under ${CUDAToolkit_LIBRARY_DIR}. Install cuDNN 9 for CUDA.")
  endif()
  file(STRINGS ${KILN_CUDNN_INCLUDE}/cudnn_version.h _v REGEX "#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ")
  string(REGEX REPLACE ".*CUDNN_MAJOR ([0-9]+).*CUDNN_MINOR ([0-9]+).*CUDNN_PATCHLEVEL ([0-9]+).*"
         "\\1.\\2.\\3" KILN_CUDNN_VERSION "${_v}")
  add_library(kiln_cudnn INTERFACE)
  target_include_directories(kiln_cudnn INTERFACE ${KILN_CUDNN_INCLUDE})
  target_link_libraries(kiln_cudnn INTERFACE ${KILN_CUDNN_LIBRARY})
endif()

if(KILN_GPU_FLAVOUR STREQUAL "emulate")
  find_package(Boost 1.74 REQUIRED COMPONENTS context)
endif()

# Data-parallel runs (tools/dist): MPI launches and coordinates the ranks, NCCL reduces on GPUs.
# Both are optional: without MPI kiln runs single-process and refuses a run under mpirun, saying
# what to install. Only the C API is used (no deprecated C++ bindings).
set(MPI_CXX_SKIP_MPICXX ON)
find_package(MPI COMPONENTS CXX)
set(KILN_MPI_NOTE "not found (apt-get install libopenmpi-dev openmpi-bin)")
if(MPI_CXX_FOUND)
  set(KILN_MPI_NOTE "MPI ${MPI_CXX_VERSION} standard, launcher ${MPIEXEC_EXECUTABLE}")
endif()
set(KILN_NCCL_NOTE "not used in this build")
if(KILN_GPU_FLAVOUR STREQUAL "cuda")
  # NCCL ships with the CUDA toolkit here; a separate install (libnccl-dev) is found the same way.
  find_path(KILN_NCCL_INCLUDE nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
  find_library(KILN_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR})
  set(KILN_NCCL_NOTE "not found (install libnccl-dev, or NCCL beside the CUDA toolkit)")
  if(KILN_NCCL_INCLUDE AND KILN_NCCL_LIBRARY)
    file(STRINGS ${KILN_NCCL_INCLUDE}/nccl.h _v REGEX "#define NCCL_(MAJOR|MINOR|PATCH) ")
    string(REGEX REPLACE ".*NCCL_MAJOR ([0-9]+).*NCCL_MINOR ([0-9]+).*NCCL_PATCH ([0-9]+).*"
           "\\1.\\2.\\3" KILN_NCCL_VERSION "${_v}")
    set(KILN_NCCL_NOTE "${KILN_NCCL_VERSION} (${KILN_NCCL_LIBRARY})")
    add_library(kiln_nccl INTERFACE)
    target_include_directories(kiln_nccl SYSTEM INTERFACE ${KILN_NCCL_INCLUDE})
    target_link_libraries(kiln_nccl INTERFACE ${KILN_NCCL_LIBRARY})
  endif()
endif()
