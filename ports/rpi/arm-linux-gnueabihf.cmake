# 32-bit Raspberry Pi OS on a Pi 2/3/4/5 (not the ARMv6 Pi 1 / Zero), Debian cross compiler:
#   cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=ports/rpi/arm-linux-gnueabihf.cmake
# Debian's armhf baseline has no NEON, and Highway 1.0.3 cannot detect NEON at run time on
# 32-bit Arm (its SupportedTargets() reports only EMU128/SCALAR there), so NEON is the
# compile-time baseline; every Pi from the Pi 2 on has it.
# Highway's f16 code on armv7 needs the IEEE half-precision format selected explicitly;
# -Wno-psabi silences GCC's note about a 2017 ABI change (everything here is built by one GCC).
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(QLITE_CROSS_TRIPLE arm-linux-gnueabihf)
set(QLITE_CROSS_ARCH_FLAGS "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard -mfp16-format=ieee -Wno-psabi")
set(QLITE_CROSS_LOADER ld-linux-armhf.so.3)
set(QLITE_QEMU qemu-arm)
include(${CMAKE_CURRENT_LIST_DIR}/cross-common.cmake)
