# Opt-in path for platforms without packages (Android NDK, bare cross sysroots):
# builds the three runtime libraries from pinned upstream release tarballs.
# Tags are pinned; verify the tarballs' SHA256 for your release process and add URL_HASH.
# Never used by the default build or CI (nothing is downloaded at build time unless
# QLITE_FETCH_DEPS=ON is given explicitly). A host `flatc` of the same version is
# still needed to compile the schema; pass -DQLITE_FLATC=/path/to/flatc.
include(FetchContent)
set(FETCHCONTENT_QUIET ON)

FetchContent_Declare(hwy
  URL https://github.com/google/highway/archive/refs/tags/1.0.3.tar.gz)
set(HWY_ENABLE_TESTS OFF CACHE BOOL "" FORCE)
set(HWY_ENABLE_EXAMPLES OFF CACHE BOOL "" FORCE)
set(HWY_ENABLE_CONTRIB OFF CACHE BOOL "" FORCE)
set(HWY_ENABLE_INSTALL OFF CACHE BOOL "" FORCE)

FetchContent_Declare(flatbuffers
  URL https://github.com/google/flatbuffers/archive/refs/tags/v2.0.8.tar.gz)
set(FLATBUFFERS_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(FLATBUFFERS_BUILD_FLATC OFF CACHE BOOL "" FORCE)
set(FLATBUFFERS_BUILD_FLATHASH OFF CACHE BOOL "" FORCE)

FetchContent_Declare(mimalloc
  URL https://github.com/microsoft/mimalloc/archive/refs/tags/v2.0.9.tar.gz)
# Static and without MI_OVERRIDE, so an app's own malloc is never replaced.
set(MI_OVERRIDE OFF CACHE BOOL "" FORCE)
set(MI_BUILD_SHARED OFF CACHE BOOL "" FORCE)
set(MI_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(MI_BUILD_OBJECT OFF CACHE BOOL "" FORCE)

FetchContent_MakeAvailable(hwy flatbuffers mimalloc)
if(NOT TARGET hwy::hwy)
  add_library(hwy::hwy ALIAS hwy)
endif()
set(QLITE_FLATBUFFERS_TARGET flatbuffers)
if(NOT TARGET mimalloc)
  add_library(mimalloc ALIAS mimalloc-static)
endif()
if(NOT QLITE_FLATC)
  find_program(QLITE_FLATC flatc REQUIRED)
endif()
