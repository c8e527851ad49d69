#!/usr/bin/env bash
# The CUDA backend's checks on a real GPU, as one short run (ports/cuda/README.md). GPU time is
# scarce, so everything that needs no GPU happens here first:
#
#   scripts/gpu_check.sh stage [DIR]   # here: build for the GPU (QLITE_CUDA_ARCH, default 90 =
#                                      # H100/H200), copy the binaries, the libraries they need
#                                      # beyond the C/C++ runtime, the test data, the GGUF maker
#                                      # and llama.cpp (a llama-bench built with CUDA, else its
#                                      # source) into DIR (default .gpu, ignored by git)
#   scripts/gpu_check.sh llama         # here, optional (about an hour on 2 cores, saves ~5 GPU
#                                      # minutes): llama.cpp's llama-bench with CUDA for the GPU
#   scripts/gpu_check.sh run [DIR]     # there: the CUDA suites, qlite bench --device cuda and
#                                      # llama.cpp's CUDA llama-bench on the same TinyLlama-1.1B-
#                                      # shaped GGUF files at 4 and 8 bits, the GPU's read
#                                      # bandwidth measured in the same run; results in $OUT (or
#                                      # DIR/out): summary.txt and the logs
#
# Env (stage): QLITE_CACHE (default ~/.cache/qlite; llama.cpp's sdist and CUDA build live in
# $QLITE_CACHE/peer, as scripts/bench_peer_llamacpp.sh keeps them), QLITE_TEST_DATA (default
# ../shared/models), QLITE_JOBS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cmd="${1:-}"
dir="${2:-$root/.gpu}"
say() { echo "== $*" >&2; }

stage() {
  local cache="${QLITE_CACHE:-$HOME/.cache/qlite}" data="${QLITE_TEST_DATA:-$root/../shared/models}"
  local peer="$cache/peer" build="$root/build-gpu" arch="${QLITE_CUDA_ARCH:-90}"
  local jobs="${QLITE_JOBS:-$(nproc 2>/dev/null || echo 2)}"
  grep -qx '/.gpu/' "$root/.git/info/exclude" 2>/dev/null || echo '/.gpu/' >>"$root/.git/info/exclude"
  rm -rf "$dir" && mkdir -p "$dir"/{bin,lib,data/stories260K,data/lora,whl}
  say "building the CUDA port for sm_$arch"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DQLITE_CUDA=ON -DQLITE_BUILD_TESTS=ON \
    -DCMAKE_CUDA_ARCHITECTURES="$arch" >/dev/null
  local tests=()
  for t in "$root"/ports/cuda/tests/test_*.cc; do tests+=("$(basename "$t" .cc)"); done
  cmake --build "$build" -j "$jobs" --target qlite qlite_cuda_bench "${tests[@]}" >/dev/null
  cp "$build/examples/qlite" "$build/ports/cuda/bench/qlite_cuda_bench" "$dir/bin/"
  for t in "${tests[@]}"; do cp "$build/ports/cuda/tests/$t" "$dir/bin/"; done
  # Shared libraries outside the C/C++ runtime (Highway from Debian, say): the GPU machine's
  # image has its own C library and CUDA, not these.
  ldd "$dir"/bin/* | awk '$3 ~ /^\// { print $3 }' | sort -u |
    grep -v -E '/(libc|libm|libstdc\+\+|libgcc_s|libpthread|librt|libdl|ld-linux[^/]*|libcu[a-z]*|libnv[a-z]*|libssl|libcrypto)\.so' |
    while read -r lib; do cp -L "$lib" "$dir/lib/"; done
  strip "$dir"/bin/*
  cp "$data"/stories260K/{stories260K.bin,tok512.bin,reference_greedy_t0_ids.json} "$dir/data/stories260K/"
  cp "$data"/stories260K/reference_logits_first8.{f32,json} "$dir/data/stories260K/"
  cp -r "$data/lora/stories260K-lora-pip" "$dir/data/lora/"
  cp "$root/scripts/bench_peer_gguf.py" "$dir/"
  python3 -m pip download -q --no-deps -d "$dir/whl" gguf==0.19.0
  # llama.cpp: the CUDA llama-bench `gpu_check.sh llama` built, else the sources the run
  # builds there.
  local lbench="$peer/build-cuda/bin/llama-bench" src="$peer/sdist/llama_cpp_python-0.3.36/vendor/llama.cpp"
  if [ -x "$lbench" ]; then  # 59 MB as built: stripped and xz-compressed to fit the carry limit
    strip -o "$dir/llama-bench" "$lbench" && xz -T0 -6 "$dir/llama-bench"
  else
    [ -d "$src" ] || { echo "gpu_check.sh: no llama.cpp source in $peer (run scripts/bench_peer_llamacpp.sh --setup-only)" >&2; exit 1; }
    tar czf "$dir/llama.cpp.tar.gz" -C "$src/.." --exclude='*/models/*' --exclude='*/docs/*' --exclude='*/examples/*' \
      --exclude='*/ggml-vulkan/*' --exclude='*/ggml-sycl/*' --exclude='*/ggml-metal/*' --exclude='*/ggml-cann/*' \
      --exclude='*/ggml-opencl/*' --exclude='*/ggml-musa/*' --exclude='*/ggml-hip/*' --exclude='*/ggml-webgpu/*' \
      llama.cpp
  fi
  say "staged in $dir: $(du -sh "$dir" | cut -f1) (the device tool carries at most 64 MiB)"
}

# llama.cpp 0.3.36's sources (the llama-cpp-python sdist, as bench_peer_llamacpp.sh pins it)
# built with CUDA for the GPU's architecture only, ggml linked in statically.
llama() {
  local peer="${QLITE_CACHE:-$HOME/.cache/qlite}/peer" arch="${QLITE_CUDA_ARCH:-90}"
  local src="$peer/sdist/llama_cpp_python-0.3.36/vendor/llama.cpp"
  if [ ! -d "$src" ]; then
    mkdir -p "$peer/sdist"
    python3 -m pip download -q --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d "$peer/sdist"
    tar xzf "$peer/sdist/llama_cpp_python-0.3.36.tar.gz" -C "$peer/sdist"
  fi
  cmake -S "$src" -B "$peer/build-cuda" -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="$arch-real" -DBUILD_SHARED_LIBS=OFF -DGGML_OPENMP=OFF -DGGML_CUDA_NCCL=OFF \
    -DLLAMA_CURL=OFF -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null
  cmake --build "$peer/build-cuda" -j "${QLITE_JOBS:-$(nproc 2>/dev/null || echo 2)}" --target llama-bench
}

run() {
  local out="${OUT:-$dir/out}" t0 bits rc=0
  mkdir -p "$out"
  cd "$dir"
  export LD_LIBRARY_PATH="$PWD/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}" QLITE_TEST_DATA="$PWD/data"
  t0=$(date +%s)
  exec > >(tee -a "$out/summary.txt") 2>&1
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader || true
  say "CUDA suites"
  for t in bin/test_cuda_*; do
    local log="$out/$(basename "$t").log" code=0
    timeout 300 "$t" --gtest_brief=1 >"$log" 2>&1 || code=$?
    case "$code" in
      0) echo "PASS $(basename "$t")" ;;
      77) echo "SKIP $(basename "$t"): $(head -n1 "$log")"; rc=1 ;;
      *) echo "FAIL $(basename "$t") (rc $code)"; rc=1
         grep -E "Failure|Expected|Which is|error|FAILED" "$log" | head -20 || true ;;
    esac
  done
  say "suites done at +$(($(date +%s) - t0)) s"
  timeout 120 bin/qlite_cuda_bench --bits 0 --kv f16 || rc=1

  # The same GGUF files for both engines: random codes in Q4_0 / Q8_0 blocks (seconds).
  python3 -m pip install -q --no-index --no-deps --target /tmp/site whl/*.whl && export PYTHONPATH=/tmp/site
  mkdir -p /tmp/models
  for bits in q4 q8; do
    python3 bench_peer_gguf.py make "/tmp/models/tl-$bits.gguf" --weights "$bits" --seed 1 --codes
    bin/qlite convert "/tmp/models/tl-$bits.gguf" -o "/tmp/models/tl-$bits.qlm" 2>&1 | tail -3  # lossless: the same codes
  done
  say "models done at +$(($(date +%s) - t0)) s"
  if [ -f llama-bench.xz ]; then
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      llama-bench.xz bin/llama-bench && chmod +x bin/llama-bench
  fi
  if [ ! -x bin/llama-bench ] && [ -f llama.cpp.tar.gz ]; then
    say "building llama.cpp's llama-bench with CUDA"
    tar xzf llama.cpp.tar.gz -C /tmp
    cmake -S /tmp/llama.cpp -B /tmp/llama-build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES=90-real -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_CUDA_NCCL=OFF \
      -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null &&
      cmake --build /tmp/llama-build --target llama-bench -j "$(nproc)" >"$out/llama-build.log" 2>&1 &&
      cp /tmp/llama-build/bin/llama-bench bin/ || echo "llama.cpp build failed (llama-build.log)"
    say "llama.cpp built at +$(($(date +%s) - t0)) s"
  fi
  # Decode 128 tokens and prefill 512, llama-bench's defaults; engines alternate per round.
  for round in 1 2; do
    for bits in q4 q8; do
      bin/qlite bench --device cuda -m "/tmp/models/tl-$bits.qlm" --kv-type f16 --prompt-tokens 512 \
        --gen-tokens 128 --reps 5 | sed "s/^/qlite $bits round $round: /"
      [ -x bin/llama-bench ] && bin/llama-bench -m "/tmp/models/tl-$bits.gguf" -ngl 99 -p 512 -n 128 -r 5 \
        -o md 2>>"$out/llama-bench.log" | grep -E "^\|" | sed "s/^/llama.cpp $bits round $round: /"
    done
  done
  say "done at +$(($(date +%s) - t0)) s"
  return $rc
}

case "$cmd" in
  stage) stage ;;
  llama) llama ;;
  run) run ;;
  *) sed -n 2,20p "$0"; exit 2 ;;
esac
