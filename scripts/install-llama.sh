#!/usr/bin/env bash
# Install llama-cpp-python into the venv, built from source with AMX disabled.
# Why: these CPUs advertise AMX but the VM does not enable it; a default native build dies with SIGILL (tileloadd)
# on the first batched prompt, and the GGML_AMX_* CMake options do not help. pip caches the wheel it builds, so a
# second install takes seconds.
set -euo pipefail
PY="${1:-.venv/bin/python}"
VERSION="0.3.36"
if "$PY" - "$VERSION" <<'PYEOF' 2>/dev/null; then
import sys, llama_cpp
info = llama_cpp.llama_print_system_info().decode()
ok = llama_cpp.__version__ == sys.argv[1] and "AMX_INT8 = 1" not in info
sys.exit(0 if ok else 1)
PYEOF
  echo "llama-cpp-python $VERSION already installed (no AMX)"
  exit 0
fi
echo "building llama-cpp-python $VERSION with AMX disabled (about 9 minutes on 2 cores; cached afterwards)"
export CFLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
export CXXFLAGS="$CFLAGS"
export CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
"$PY" -m pip install --no-binary llama-cpp-python "llama-cpp-python==$VERSION"
