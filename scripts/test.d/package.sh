#!/usr/bin/env bash
# The installed package as an app sees it: `cmake --install` of the main build into a scratch
# prefix; libqlite.so exports only qlite_* and carries its SONAME; tests/package (a C99
# project) builds with find_package(qlite) against the shared library and the archive, and
# consumer.c builds again with pkg-config (qlite.pc, qlite-static.pc); each binary runs
# stories260K. QLITE_SKIP_PACKAGE=1 skips.
set -euo pipefail
if [ "${QLITE_SKIP_PACKAGE:-0}" = 1 ]; then echo "package: skipped (QLITE_SKIP_PACKAGE=1)"; exit 0; fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${QLITE_BUILD_DIR:-$root/build}"
data="${QLITE_TEST_DATA:-$root/../shared/models}"
work="$build/package-test"
prefix="$work/prefix"
command -v pkg-config >/dev/null || bash "$root/scripts/setup.sh" pkg-config
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$prefix" >/dev/null
lib="$(dirname "$(find "$prefix" -name 'libqlite.so' | head -1)")"
[ -f "$lib/libqlite.a" ] || { echo "package: no libqlite.a installed beside libqlite.so in $lib" >&2; exit 1; }
"$prefix/bin/qlite" --help >/dev/null || { echo "package: the installed CLI does not run" >&2; exit 1; }

# Exports: the C API only; SONAME from the API version.
leaked="$(nm -D --defined-only "$lib/libqlite.so" | awk '$2 ~ /[TDBRVW]/ && $3 !~ /^qlite_/ {print $3}')"
[ -z "$leaked" ] || { echo "package: libqlite.so exports more than qlite_*:" >&2; echo "$leaked" | head >&2; exit 1; }
soname="$(readelf -d "$lib/libqlite.so" | sed -n 's/.*SONAME.*\[\(.*\)\].*/\1/p')"
want="libqlite.so.$(sed -n 's/^#define QLITE_VERSION_MAJOR //p' "$prefix/include/qlite/qlite_version.h").$(sed -n 's/^#define QLITE_VERSION_MINOR //p' "$prefix/include/qlite/qlite_version.h")"
[ "$soname" = "$want" ] || { echo "package: SONAME '$soname', expected '$want'" >&2; exit 1; }

model="$work/stories260K.qlm"
if [ ! -f "$data/stories260K/stories260K.bin" ]; then
  echo "package: missing test data $data/stories260K" >&2
  [ "${CI:-}" = true ] && exit 1
  model=""
else
  "$build/examples/qlite" convert "$data/stories260K/stories260K.bin" --tokenizer "$data/stories260K/tok512.bin" \
    --weights q8 -q -o "$model" >/dev/null
fi
run() {  # binary: runs it on the model (or only links it when there is no model)
  if [ -n "$model" ]; then "$1" "$model" > "$1.out" || { cat "$1.out"; echo "package: $1 failed" >&2; exit 1; }; fi
  echo "package: $(basename "$1") ok"
}

cmake -S "$root/tests/package" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/cmake" >/dev/null
run "$work/cmake/consumer_shared"
run "$work/cmake/consumer_static"
ldd "$work/cmake/consumer_static" | grep -q libqlite && { echo "package: consumer_static loads libqlite.so" >&2; exit 1; }

export PKG_CONFIG_PATH="$lib/pkgconfig"
cc -std=c99 -Wall -Wextra -pedantic -Werror "$root/tests/package/consumer.c" -o "$work/pc_shared" \
  $(pkg-config --cflags --libs qlite) -Wl,-rpath,"$lib"
run "$work/pc_shared"
cc -std=c99 -Wall -Wextra -pedantic -Werror "$root/tests/package/consumer.c" -o "$work/pc_static" \
  $(pkg-config --cflags --libs qlite-static)
run "$work/pc_static"
