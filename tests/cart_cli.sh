#!/bin/sh
# cart_cli.sh: command-line tests of `smbrl rom` (and of `smbrl bench emu`, which needs
# a ROM), run by CTest (see tests/cart.cmake).
# usage: cart_cli.sh CASE SMBRL WORKDIR [CONFIGURE_TIME_ROM_DIR]
# CASE is usage, garbage, synthetic or rom. Exit 0 pass, 1 fail, 77 skip.
set -u
case_name=$1 smbrl=$2 work=$3 configured_roms=${4:-}
mkdir -p "$work" || exit 1
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# run EXPECTED_STATUS ARGS...: runs smbrl, keeps stdout in $work/out and stderr in $work/err.
run() {
    want=$1
    shift
    "$smbrl" "$@" >"$work/out" 2>"$work/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "smbrl $* exited $got, expected $want; stderr: $(cat "$work/err")"
}
expect_out() { grep -qF -- "$1" "$work/out" || fail "stdout lacks '$1':$(printf '\n'; cat "$work/out")"; }
expect_err() { grep -qF -- "$1" "$work/err" || fail "stderr lacks '$1':$(printf '\n'; cat "$work/err")"; }
one_line_err() { [ "$(wc -l <"$work/err")" -eq 1 ] || fail "stderr is not one line: $(cat "$work/err")"; }

# A header for mapper 0, 1 x 16 KiB PRG, 1 x 8 KiB CHR, horizontal mirroring, then zeros.
tiny_nrom() {
    printf 'NES\032\001\001\000\000\000\000\000\000\000\000\000\000' >"$1"
    head -c 24576 /dev/zero >>"$1"
}

# Checks a JSON document with Python when it is there (it is not a build dependency).
json_check() {
    command -v python3 >/dev/null 2>&1 || { echo "python3 missing: JSON not parsed"; return; }
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert $1, d" "$work/out" ||
        fail "JSON check failed: $1"
}

case $case_name in
usage)
    run 2 rom
    expect_err "usage: smbrl rom"
    run 0 rom --help
    expect_out "info [--json] FILE"
    expect_out "list [--json] DIR"
    for sub in info list; do
        run 0 rom $sub --help
        expect_out "--json"
        expect_out "--help"
    done
    run 2 rom frobnicate
    expect_err "unknown subcommand 'frobnicate'"
    run 2 rom info --verbose x.nes
    expect_err "unknown flag '--verbose'"
    one_line_err
    run 2 rom info
    expect_err "missing FILE"
    run 2 rom info a.nes b.nes
    expect_err "one FILE only"
    run 2 rom list
    expect_err "missing DIR"
    ;;
garbage)
    printf 'this is not a NES ROM at all, just some text\n' >"$work/garbage.nes"
    run 1 rom info "$work/garbage.nes"
    expect_err "$work/garbage.nes"
    expect_err "not an iNES file (bad magic)"
    one_line_err
    tiny_nrom "$work/short.nes"
    head -c 1000 "$work/short.nes" >"$work/cut.nes"
    run 1 rom info "$work/cut.nes"
    expect_err "$work/cut.nes: truncated: header says 24576 bytes of PRG+CHR, file has 984"
    one_line_err
    run 1 rom info "$work/does-not-exist.nes"
    expect_err "$work/does-not-exist.nes: cannot open"
    run 1 rom list "$work/no-such-dir"
    expect_err "$work/no-such-dir: cannot read directory"
    ;;
synthetic)
    rm -rf "$work/dir" && mkdir -p "$work/dir"
    tiny_nrom "$work/dir/tiny.nes"
    run 0 rom info "$work/dir/tiny.nes"
    expect_out "unknown: not a known Super Mario Bros dump"
    expect_out "mapper:    0 NROM"
    expect_out "PRG ROM:   16 KiB (16384 bytes)"
    expect_out "CHR ROM:   8 KiB (8192 bytes)"
    expect_out "mirroring: horizontal"
    expect_out "battery:   no"
    expect_out "header:    iNES"
    if command -v sha1sum >/dev/null 2>&1; then
        expect_out "SHA-1:     $(sha1sum "$work/dir/tiny.nes" | cut -d' ' -f1)"
    fi
    run 0 rom info --json "$work/dir/tiny.nes"
    [ "$(wc -l <"$work/out")" -eq 1 ] || fail "--json output is not one line"
    json_check "d['mapper'] == 0 and d['prg_rom'] == 16384 and d['chr_rom'] == 8192 and d['known'] is False and d['game'] == 'unknown' and d['header'] == 'iNES' and d['supported'] is True"
    printf 'junk' >"$work/dir/junk.nes"
    printf 'not listed' >"$work/dir/readme.txt"
    run 1 rom list "$work/dir"
    expect_out "tiny.nes"
    expect_out "junk.nes"
    expect_out "invalid: not an iNES file (bad magic)"
    grep -q "^tiny.nes *yes" "$work/out" || fail "tiny.nes not listed as runnable: $(cat "$work/out")"
    grep -q "readme" "$work/out" && fail "rom list shows a file that is not .nes"
    run 1 rom list --json "$work/dir"
    json_check "len(d) == 2 and d[0]['file'].endswith('junk.nes') and 'bad magic' in d[0]['error'] and d[1]['mapper'] == 0"
    rm "$work/dir/junk.nes"
    run 0 rom list "$work/dir"
    # A ROM that never reaches SMB's play mode is refused by the emulator benchmark.
    run 1 bench emu --rom "$work/dir/tiny.nes" --frames 10
    expect_err "$work/dir/tiny.nes: not in play 200 frames after Start: not Super Mario Bros?"
    one_line_err
    ;;
rom)
    dir=${SMBRL_ROM_DIR:-$configured_roms}
    if [ -z "$dir" ]; then
        echo "SKIP: SMBRL_ROM_DIR is not set (neither now nor when CMake ran)"
        exit 77
    fi
    rom="$dir/super-mario-bros.nes"
    if [ ! -f "$rom" ]; then
        echo "SKIP: $rom not found"
        exit 77
    fi
    run 0 rom info "$rom"
    expect_out "game:      Super Mario Bros. (World)"
    expect_out "mapper:    0 NROM"
    expect_out "PRG ROM:   32 KiB (32768 bytes)"
    expect_out "CHR ROM:   8 KiB (8192 bytes)"
    expect_out "mirroring: vertical"
    expect_out "header:    iNES"
    expect_out "SHA-1:     ab30029efec6ccfc5d65dfda7fbc6e6489a80805"
    run 0 rom info --json "$rom"
    json_check "d['game'] == 'smb' and d['known'] is True and d['mapper'] == 0 and d['mirroring'] == 'vertical'"
    if [ -f "$dir/super-mario-bros-3.nes" ]; then
        run 0 rom info "$dir/super-mario-bros-3.nes"
        expect_out "game:      Super Mario Bros. 3"
        expect_out "mapper:    4 MMC3"
    fi
    # The emulator benchmark: 3,000 frames of random play see a game over
    # (seed 1 at frame ~2,160), and play goes on from 1-1 after it.
    run 0 bench emu --rom "$rom" --frames 3000 --repeats 1 --json
    json_check "d['frames_per_s_rendered'] > 0 and d['frames_per_s_skipped'] > 0 and d['restarts'] >= 2"
    # It says which way the CPU ran: translated on x86-64 Linux, unless SMBRL_JIT=0.
    if [ "$(uname -m)" = x86_64 ] && [ "$(uname -s)" = Linux ]; then
        json_check "d['cpu'] == 'translated'"
    fi
    export SMBRL_JIT=0
    run 0 bench emu --rom "$rom" --frames 500 --repeats 1 --json
    unset SMBRL_JIT
    json_check "d['cpu'] == 'interpreted' and d['frames_per_s_skipped'] > 0"
    run 0 rom list "$dir"
    grep -q "^super-mario-bros.nes *yes *Super Mario Bros. (World)" "$work/out" ||
        fail "rom list lacks SMB as runnable: $(cat "$work/out")"
    ;;
*)
    echo "unknown case $case_name" >&2
    exit 2
    ;;
esac
[ "$failures" -eq 0 ] || { echo "$case_name: $failures check(s) failed" >&2; exit 1; }
echo "$case_name: ok"
