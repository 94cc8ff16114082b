#!/usr/bin/env bash
# Installs what is missing (build tools and test peers), builds everything with ASan+UBSan and
# warnings as errors, and runs the whole test suite with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
cmake --preset ci
cmake --build --preset ci -j "$(nproc)"
ctest --preset ci -j "$(nproc)" "$@"
