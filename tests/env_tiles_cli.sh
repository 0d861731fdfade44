#!/bin/sh
# env_tiles_cli.sh: command-line tests of --obs tiles in `smbrl play` and `smbrl bench
# env`, run by CTest (see tests/env_tiles.cmake).
# usage: env_tiles_cli.sh SMBRL WORKDIR [CONFIGURE_TIME_ROM_DIR]. Exit 0 pass, 1 fail, 77 skip.
set -u
smbrl=$1 work=$2 configured_roms=${3:-}
mkdir -p "$work" || exit 1
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
run() {
    want=$1
    shift
    "$smbrl" "$@" >"$work/out" 2>"$work/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "smbrl $* exited $got, expected $want; stderr: $(cat "$work/err")"
}
expect_out() { grep -qF -- "$1" "$work/out" || fail "stdout lacks '$1':$(printf '\n'; cat "$work/out")"; }
expect_err() { grep -qF -- "$1" "$work/err" || fail "stderr lacks '$1':$(printf '\n'; cat "$work/err")"; }

run 2 play --obs grid --rom /nonexistent
expect_err "--obs must be pixels or tiles"
run 2 play --obs tiles --mode human --rom /nonexistent
expect_err "--obs tiles is for random mode"
run 2 bench env --obs grid --rom-dir /nonexistent
expect_err "--obs must be pixels or tiles"

roms=${SMBRL_ROM_DIR:-$configured_roms}
if [ -z "$roms" ] || [ ! -f "$roms/super-mario-bros.nes" ]; then
    echo "SKIP: SMBRL_ROM_DIR is not set or has no super-mario-bros.nes"
    [ "$failures" -eq 0 ] && exit 77
    exit 1
fi
# an episode's last grid: 13 rows of 16 cells, 1-1's two ground rows solid, Mario or
# his death somewhere above them
run 0 play --rom "$roms" --task SuperMarioBros-1-1-v0 --obs tiles --seed 3 --episodes 1
expect_out "obs tiles"
expect_out "episode 1: return"
rows=$(grep -cE '^  [.#eM]{16}$' "$work/out")
[ "$rows" -eq 13 ] || fail "expected 13 grid rows, got $rows:$(printf '\n'; cat "$work/out")"
ground=$(grep -cE '^  #{16}$' "$work/out")
[ "$ground" -ge 2 ] || fail "expected the two ground rows solid:$(printf '\n'; cat "$work/out")"
# the benchmark says which observation it measured
run 0 bench env --rom-dir "$roms" --obs tiles --steps 200 --repeats 1 --threads 1 --json
expect_out '"obs": "tiles"'
expect_out '"steps_per_cpu_s": '
run 0 bench env --rom-dir "$roms" --obs tiles --steps 200 --repeats 1 --threads 1
expect_out "13x16 tile grid"
expect_out "tile grid from RAM, CPU us"

[ "$failures" -eq 0 ] || exit 1
echo "env_tiles_cli: ok"
