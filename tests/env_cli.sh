#!/bin/sh
# env_cli.sh: command-line tests of `smbrl play` and `smbrl bench env`, run by CTest
# (see tests/env.cmake). usage: env_cli.sh CASE SMBRL WORKDIR [CONFIGURE_TIME_ROM_DIR]
# CASE is usage, human or rom. Exit 0 pass, 1 fail, 77 skip.
set -u
case_name=$1 smbrl=$2 work=$3 configured_roms=${4:-}
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

roms=${SMBRL_ROM_DIR:-$configured_roms}
case $case_name in
usage)
    run 0 play --help
    expect_out "usage: smbrl play"
    run 2 play --mode sideways --rom /nonexistent
    expect_err "--mode must be human or random"
    run 2 play --bogus
    expect_err "unknown flag"
    run 2 bench env --steps 0
    ;;
human)
    # no display (and perhaps no SDL2): fails at once with a clear message and exit 2
    env -u DISPLAY -u WAYLAND_DISPLAY "$smbrl" play --mode human --rom /nonexistent >"$work/out" 2>"$work/err"
    got=$?
    [ "$got" -eq 2 ] || fail "play --mode human without a display exited $got, expected 2"
    grep -qE "needs a display|needs SDL2" "$work/err" || fail "unclear message: $(cat "$work/err")"
    ;;
rom)
    if [ -z "$roms" ] || [ ! -f "$roms/super-mario-bros.nes" ]; then
        echo "SKIP: SMBRL_ROM_DIR is not set or has no super-mario-bros.nes"
        exit 77
    fi
    # random play on the full game with the right-only set dies three times
    run 0 play --rom "$roms" --task SuperMarioBros-v0 --mode random --actions right --seed 1 --episodes 1 --steps 20000
    expect_out "episode 1: return"
    expect_out "flag 0"
    expect_out "1 episode(s)"
    # the wrong ROM for a task is a clear error
    run 1 play --rom "$roms/super-mario-bros-lost-levels.nes" --task SuperMarioBros-1-1-v0 --steps 1
    expect_err "needs Super Mario Bros. (World)"
    run 1 play --rom "$roms" --task SuperMarioBros-9-9-v0 --steps 1
    expect_err "world 9 is out of range"
    # the benchmark's JSON names its figures
    run 0 bench env --rom-dir "$roms" --steps 200 --repeats 1 --threads 2 --json
    expect_out '"steps_per_s": '
    expect_out '"steps_per_s_threads": '
    expect_out '"steps_per_cpu_s": '
    if [ "$(uname -m)" = x86_64 ] && [ "$(uname -s)" = Linux ]; then
        expect_out '"cpu": "translated"'
    fi
    ;;
*)
    echo "unknown case $case_name" >&2
    exit 1
    ;;
esac
[ "$failures" -eq 0 ] || exit 1
echo "env_cli $case_name: ok"
