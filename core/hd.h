// KILN_HD marks small functions that run both on the host and in kernels (nvcc or the emulator).
#pragma once

#if defined(__CUDACC__)
#define KILN_HD __host__ __device__ __forceinline__
#else
#define KILN_HD inline
#endif
