#!/usr/bin/env bash
# Build llama-server and llama-bench from the llama.cpp source vendored in the llama-cpp-python sdist that our
# engine uses, so the anchor runs the very same ggml code. Output: build/llama.cpp/bin/{llama-server,llama-bench}.
# Idempotent: exits at once when both binaries exist. Never commit the source or the binaries (build/ is ignored).
# AMX is disabled in the compiler flags: these CPUs advertise AMX but the VM does not enable it (SIGILL otherwise).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/build/llama.cpp"
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
PY="${PY:-$ROOT/.venv/bin/python}"
JOBS="${JOBS:-$(nproc)}"
if [[ -x "$OUT/bin/llama-server" && -x "$OUT/bin/llama-bench" ]]; then
  echo "llama-server and llama-bench already built in $OUT/bin"
  exit 0
fi
mkdir -p "$OUT"
SDIST_DIR="$OUT/sdist"
if ! ls "$SDIST_DIR"/llama_cpp_python-"$VERSION".tar.gz >/dev/null 2>&1; then
  # --no-binary for this package only: its build backend may come as wheels (":all:" would build them from source).
  "$PY" -m pip download --no-deps --no-binary llama-cpp-python "llama-cpp-python==$VERSION" -d "$SDIST_DIR"
fi
SRC="$OUT/src"
if [[ ! -f "$SRC/vendor/llama.cpp/CMakeLists.txt" ]]; then
  rm -rf "$SRC" && mkdir -p "$SRC"
  tar -xzf "$SDIST_DIR"/llama_cpp_python-"$VERSION".tar.gz -C "$SRC" --strip-components=1
fi
export CFLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
export CXXFLAGS="$CFLAGS"
nice -n 10 cmake -S "$SRC/vendor/llama.cpp" -B "$OUT/cmake" -DCMAKE_BUILD_TYPE=Release \
  -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DBUILD_SHARED_LIBS=OFF
nice -n 10 cmake --build "$OUT/cmake" --target llama-server llama-bench -j"$JOBS"
# llama.cpp's CMakeLists puts executables in <build>/bin; static build, so plain copies are self-contained.
mkdir -p "$OUT/bin"
cp "$OUT/cmake/bin/llama-server" "$OUT/cmake/bin/llama-bench" "$OUT/bin/"
ls -l "$OUT/bin/llama-server" "$OUT/bin/llama-bench"
