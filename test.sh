#!/usr/bin/env bash
# Runs the whole test suite: the release tree, then the unit tests under ASan+UBSan,
# then short fuzzing runs of the ROM loader and of translated CPU code when the fuzz targets were built.
# ROM tests read SMBRL_ROM_DIR, SMBRL_TEST_ROM_DIR and SMBRL_REFERENCE_DIR and skip without them.
set -euo pipefail
cd "$(dirname "$0")"
jobs=$(nproc)
ctest --test-dir build --output-on-failure -j "$jobs"
# The sanitizer tree runs the tests labelled "unit" (the long ROM suites run once, above).
ctest --test-dir build-san --output-on-failure -j "$jobs" -L unit
if [ -x build-fuzz/fuzz/fuzz_cart ]; then
  sh fuzz/seed_corpus.sh build-fuzz/corpus
  build-fuzz/fuzz/fuzz_cart -max_total_time="${SMBRL_FUZZ_SECONDS:-30}" -max_len=65536 build-fuzz/corpus
fi
if [ -x build-fuzz/fuzz/fuzz_jit ]; then
  mkdir -p build-fuzz/corpus-jit
  build-fuzz/fuzz/fuzz_jit -max_total_time="${SMBRL_FUZZ_SECONDS:-30}" -max_len=4096 -len_control=0 \
    build-fuzz/corpus-jit
fi
