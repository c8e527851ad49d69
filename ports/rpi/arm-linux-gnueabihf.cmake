# 32-bit Raspberry Pi OS (Pi 2 v1.2 and later, or a 32-bit OS on Pi 3/4/5), Debian cross
# compiler:
#   cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=ports/rpi/arm-linux-gnueabihf.cmake
# Debian's armhf baseline has no NEON, and Highway on 32-bit Arm has no run-time dispatch,
# so NEON is enabled at compile time (every Pi from the Pi 2 v1.2 on has it).
# Highway's f16 code on armv7 needs the IEEE half-precision format selected explicitly;
# -Wno-psabi silences GCC's note about a 2017 ABI change (everything here is built by one GCC).
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(QLITE_CROSS_TRIPLE arm-linux-gnueabihf)
set(QLITE_CROSS_ARCH_FLAGS "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard -mfp16-format=ieee -Wno-psabi")
set(QLITE_QEMU qemu-arm)
include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
