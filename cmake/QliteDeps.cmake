# Finds Highway, FlatBuffers and mimalloc from the system (Debian/Ubuntu packages
# libhwy-dev libflatbuffers-dev flatbuffers-compiler libmimalloc-dev), or, with
# QLITE_FETCH_DEPS=ON, builds them from pinned upstream releases (see FetchDeps.cmake).
if(QLITE_FETCH_DEPS)
  include(FetchDeps)
else()
  find_package(hwy REQUIRED)
  find_package(FlatBuffers REQUIRED)
  find_package(mimalloc REQUIRED)
  find_program(QLITE_FLATC flatc REQUIRED)
  if(NOT TARGET hwy::hwy)
    message(FATAL_ERROR "Highway found but hwy::hwy target missing")
  endif()
  if(TARGET flatbuffers::flatbuffers)
    set(QLITE_FLATBUFFERS_TARGET flatbuffers::flatbuffers)
  else()
    set(QLITE_FLATBUFFERS_TARGET flatbuffers::flatbuffers_shared)
  endif()
endif()

# Debian 12's Highway 1.0.3 only compiles the AVX3_DL target (VNNI) when asked.
add_compile_definitions(HWY_WANT_AVX3_DL=1)
