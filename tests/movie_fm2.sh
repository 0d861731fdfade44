#!/bin/sh
# `smbrl movie --fm2`: an FCEUX movie made from a reference input file must end in
# the same place as the raw input file (world, stage, mode, frames, RAM hash), and
# that place must be the last line of Nestopia's trace. Also checks usage errors.
# usage: movie_fm2.sh SMBRL_BINARY
smbrl="$1"
ref="${SMBRL_REFERENCE_DIR:-}"
[ -n "$ref" ] || { [ -n "${SMBRL_TEST_ROM_DIR:-}" ] && ref="$SMBRL_TEST_ROM_DIR/../reference"; }
rom="${SMBRL_ROM_DIR:-}/super-mario-bros.nes"
if [ -z "${SMBRL_ROM_DIR:-}" ] || [ ! -f "$rom" ] || [ ! -f "$ref/smb-progress-1.inputs" ]; then
  echo "SKIP: needs SMBRL_ROM_DIR and the reference inputs (SMBRL_REFERENCE_DIR)"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Usage errors: exit 2 with a message naming the flag.
"$smbrl" movie --rom "$rom" --inputs "$ref/smb-progress-1.inputs" --frames x 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--frames" "$tmp/err" || { echo "FAIL: bad --frames: rc $rc"; cat "$tmp/err"; exit 1; }
"$smbrl" movie --rom "$rom" --bogus 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--bogus" "$tmp/err" || { echo "FAIL: unknown flag: rc $rc"; exit 1; }
"$smbrl" movie --rom "$tmp/missing.nes" --inputs "$ref/smb-progress-1.inputs" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "missing.nes" "$tmp/err" || { echo "FAIL: missing ROM: rc $rc"; exit 1; }

# The same input as an fm2 movie: header lines, then |commands|RLDUTSBA|||.
od -An -v -tu1 -w1 "$ref/smb-progress-1.inputs" | awk '
  BEGIN { print "version 3"; print "emuVersion 22020"; print "romFilename super-mario-bros"; print "port0 1"; print "port1 0"; print "port2 0" }
  { b = $1 + 0; s = "";
    # fm2 order: Right Left Down Up Start Select B A = bits 7..0
    split("R L D U T S B A", ch, " ");
    for (i = 1; i <= 8; i++) { bit = 8 - i; s = s ((int(b / 2 ^ bit) % 2) ? ch[i] : ".") }
    print "|0|" s "|||" }' > "$tmp/movie.fm2"
a=$("$smbrl" movie --rom "$rom" --inputs "$ref/smb-progress-1.inputs") || exit 1
b=$("$smbrl" movie --rom "$rom" --fm2 "$tmp/movie.fm2") || exit 1
echo "inputs: $a"
echo "fm2:    $b"
[ "$a" = "$b" ] || { echo "FAIL: fm2 and raw input files end differently"; exit 1; }
last=$(tail -n 1 "$ref/smb-progress-1.nestopia.txt")
world=$(echo "$last" | cut -d' ' -f2); stage=$(echo "$last" | cut -d' ' -f3); mode=$(echo "$last" | cut -d' ' -f4)
frames=$(wc -c < "$ref/smb-progress-1.inputs" | tr -d ' ')
expect="{\"world\": $world, \"stage\": $stage, \"game_mode\": $mode, \"frames\": $frames,"
case "$b" in "$expect"*) ;; *) echo "FAIL: expected $expect..."; exit 1;; esac
echo "fm2 movie ends at world $world stage $stage mode $mode after $frames frames, as Nestopia"
