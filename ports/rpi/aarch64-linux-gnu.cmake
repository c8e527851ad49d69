# Raspberry Pi 3/4/5 with a 64-bit OS (and any aarch64 Linux), Debian cross compiler:
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=ports/rpi/aarch64-linux-gnu.cmake
# Plain armv8-a baseline: Highway compiles NEON, SVE and SVE2 code paths and picks one at
# run time, so one binary serves the Cortex-A53 (Pi 3) up to the Cortex-A76 (Pi 5).
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(QLITE_CROSS_TRIPLE aarch64-linux-gnu)
set(QLITE_CROSS_ARCH_FLAGS "")
set(QLITE_CROSS_LOADER ld-linux-aarch64.so.1)
set(QLITE_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
