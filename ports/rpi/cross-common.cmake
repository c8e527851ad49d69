# Shared part of the Debian cross toolchains (included by the per-triple files, which set
# QLITE_CROSS_TRIPLE, QLITE_CROSS_LOADER, CMAKE_SYSTEM_PROCESSOR and QLITE_QEMU first).
#
# Debian multiarch puts the target's libraries in /usr/lib/<triple> (packages like
# libhwy-dev:arm64) and shares the architecture-independent headers in /usr/include,
# while the cross compiler's own C library lives in /usr/<triple>.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${QLITE_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${QLITE_CROSS_TRIPLE}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${QLITE_CROSS_TRIPLE})

set(CMAKE_FIND_ROOT_PATH /usr/${QLITE_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)  # flatc and friends run on the host
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)   # sysroot and /usr/lib/<triple>
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# /usr/include (Highway, FlatBuffers, mimalloc, GoogleTest headers) is searched only after
# the cross compiler's own headers: as a plain -isystem it would shadow them with the
# host's C library headers and break libstdc++'s #include_next chain. Because the flag
# makes /usr/include an implicit directory, CMake drops the -isystem the imported
# targets ask for.
set(_qlite_cross_flags "-idirafter /usr/include ${QLITE_CROSS_ARCH_FLAGS}")
set(CMAKE_C_FLAGS_INIT "${_qlite_cross_flags}")
set(CMAKE_CXX_FLAGS_INIT "${_qlite_cross_flags}")
# Shared libraries pulled in indirectly (libhwy -> libstdc++) are resolved at link time.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,/usr/lib/${QLITE_CROSS_TRIPLE}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,/usr/lib/${QLITE_CROSS_TRIPLE}")

# ctest (and try_run) run target programs through qemu-user. The CPU is chosen with the
# QEMU_CPU environment variable at test time (scripts/test.d/cross.sh runs the suite once
# per CPU).
# The dynamic loader and libc must come from the same glibc build. The :arm64/:armhf
# library packages pull in the target's own libc6 (multiarch, /lib/<triple>), which the
# loader finds first through the host's ld.so.cache; so qemu must start that libc's loader
# (/lib/ld-linux-*.so.*, no -L), not the cross sysroot's: mixing the two glibc builds hangs
# in pthread_create. -L /usr/<triple> is only for hosts without the multiarch libc6.
find_program(QLITE_QEMU_PROGRAM NAMES ${QLITE_QEMU}-static ${QLITE_QEMU})
if(QLITE_QEMU_PROGRAM)
  if(EXISTS /lib/${QLITE_CROSS_LOADER})
    set(CMAKE_CROSSCOMPILING_EMULATOR ${QLITE_QEMU_PROGRAM})
  else()
    set(CMAKE_CROSSCOMPILING_EMULATOR ${QLITE_QEMU_PROGRAM} -L /usr/${QLITE_CROSS_TRIPLE})
  endif()
endif()
# List GoogleTest cases when ctest runs, not after each link: the build stays independent
# of qemu and the listing happens under the CPU being tested.
set(CMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE PRE_TEST)
