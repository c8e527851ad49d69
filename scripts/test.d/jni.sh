#!/usr/bin/env bash
# The Java binding (ports/android) on the host JVM: builds libqlite_jni.so, qlite.jar and the
# JUnit test, converts stories260K with `qlite convert`, runs the test. Run by scripts/test.sh.
# QLITE_SKIP_JNI=1 skips.
set -euo pipefail
if [ "${QLITE_SKIP_JNI:-0}" = 1 ]; then echo "jni: skipped (QLITE_SKIP_JNI=1)"; exit 0; fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
start=$SECONDS
command -v javac >/dev/null || bash scripts/setup.sh default-jdk-headless
bash scripts/setup.sh junit4
export JAVA_HOME="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}"
build="${QLITE_BUILD_DIR:-$root/build}"
jobs="${QLITE_JOBS:-$(nproc 2>/dev/null || echo 2)}"
data="${QLITE_TEST_DATA:-$root/../shared/models}"

# Reuses the main build tree (scripts/test.sh built it): only the binding is new.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DQLITE_JNI=ON >/dev/null
targets=(qlite_jni qlite_java qlite_java_test)
[ -f "$root/examples/CMakeLists.txt" ] && targets+=(qlite)  # the CLI, for `qlite convert`
cmake --build "$build" -j "$jobs" --target "${targets[@]}"

props=()
model="$build/ports/android/stories260K-f32.qlm"
if [ -x "$build/examples/qlite" ] && "$build/examples/qlite" convert --help >/dev/null 2>&1; then
  # f32 weights: greedy output must then equal the published reference exactly.
  "$build/examples/qlite" convert "$data/stories260K/stories260K.bin" --tokenizer "$data/stories260K/tok512.bin" \
    --weights f32 -o "$model" >/dev/null
  props+=(-Dqlite.test.model="$model" -Dqlite.test.exact=true -Dqlite.test.require=true)
else
  echo "jni: \`qlite convert\` is not in this build yet; the model tests will skip" >&2
fi
refs="$data/refs/greedy.json"
if [ -f "$refs" ]; then
  mapfile -t ref_ids < <(python3 - "$refs" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
for r in results["base"]:
    if r["prompt"] == "Once upon a time":
        print(",".join(map(str, r["prompt_ids"])))
        print(",".join(map(str, r["generated_ids"])))
for r in results["pip"]:  # the same prompt with the pip adapter merged
    if r["prompt"] == "Once upon a time":
        print(",".join(map(str, r["generated_ids"])))
PY
)
  props+=(-Dqlite.test.prompt_ids="${ref_ids[0]}" -Dqlite.test.expected_ids="${ref_ids[1]}")
  props+=(-Dqlite.test.lora_expected_ids="${ref_ids[2]}")
fi
# A real PEFT adapter for stories260K (../shared/models/lora), merged at load by the binding.
lora="$data/lora/stories260K-lora-pip"
if [ -d "$lora" ]; then
  props+=(-Dqlite.test.lora="$lora")
elif [ "${CI:-}" = true ]; then
  echo "jni: $lora is missing" >&2; exit 1
fi


cp="$(cat "$build/ports/android/test_classpath.txt")"
# -Xcheck:jni makes the JVM verify every JNI call the binding makes.
"$JAVA_HOME/bin/java" -Xcheck:jni -Djava.library.path="$build/ports/android" "${props[@]}" \
  -cp "$cp" org.junit.runner.JUnitCore org.qlite.QliteTest
echo "jni: done in $((SECONDS - start)) s"
