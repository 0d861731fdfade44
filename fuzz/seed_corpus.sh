#!/bin/sh
# seed_corpus.sh DIR: writes a few tiny valid ROM headers into DIR as the fuzzer's
# starting corpus (generated here so that no ROM data lives in the repository).
set -eu
dir=$1
mkdir -p "$dir"
# iNES, mapper 0, 1 x 16 KiB PRG, 1 x 8 KiB CHR, vertical mirroring.
printf 'NES\032\001\001\001\000\000\000\000\000\000\000\000\000' >"$dir/seed-ines-nrom"
head -c 24576 /dev/zero >>"$dir/seed-ines-nrom"
# NES 2.0, exponent-multiplier sizes: PRG 2^4 x 1 = 16 bytes, CHR 2^3 x 3 = 24 bytes,
# battery + trainer, submapper 1, PRG-RAM and CHR-RAM shift counts set.
printf 'NES\032\020\015\006\010\020\377\007\007\000\000\000\000' >"$dir/seed-nes2-exponent"
head -c 552 /dev/zero >>"$dir/seed-nes2-exponent"
# NES 2.0 with plain sizes and CHR RAM: 1 x 16 KiB PRG, no CHR, four-screen.
printf 'NES\032\001\000\010\010\000\000\000\007\000\000\000\000' >"$dir/seed-nes2-chrram"
head -c 16384 /dev/zero >>"$dir/seed-nes2-chrram"
