#!/usr/bin/env bash
# Installs smbrl's Debian build dependencies and builds the release and sanitizer trees.
# Usage: ./setup.sh            (needs root or sudo for apt-get)
set -euo pipefail
cd "$(dirname "$0")"

packages=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libopenblas-dev libsdl2-dev libgif-dev libpng-dev libcjson-dev libcairo2-dev xvfb x11-apps
  libprotobuf-c-dev protobuf-c-compiler libopenmpi-dev openmpi-bin
  python3   # test scripts check JSON, GIF and PNG files with the standard library
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSMBRL_WERROR=ON
cmake --build build -j "$jobs"
# The sanitizer tree uses clang, so CI holds the code warning-free under both compilers.
cmake -S . -B build-san -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DSMBRL_SANITIZE=ON -DSMBRL_WERROR=ON
cmake --build build-san -j "$jobs"
# libFuzzer targets: the ROM loader, and translated CPU code against the interpreters
# (clang's libFuzzer runtime is in libclang-rt-14-dev).
cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSMBRL_FUZZ=ON -DSMBRL_WERROR=ON
cmake --build build-fuzz -j "$jobs" --target fuzz_cart fuzz_jit
