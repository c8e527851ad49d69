// QLITE_HOST_DEVICE marks the base layer's plain inline functions that CUDA device code
// calls too (the KV ring plan, the block layout).
#pragma once

#if defined(__CUDACC__)
#define QLITE_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define QLITE_HOST_DEVICE inline
#endif
