#!/bin/sh
# Plays each reference input file from power-on and compares the per-frame game
# state with Nestopia's, line for line (shared/reference/README.md).
# usage: reference_trace.sh SMBRL_BINARY NAME
smbrl="$1"; name="$2"
ref="${SMBRL_REFERENCE_DIR:-}"
[ -n "$ref" ] || { [ -n "${SMBRL_TEST_ROM_DIR:-}" ] && ref="$SMBRL_TEST_ROM_DIR/../reference"; }
if [ -z "${SMBRL_ROM_DIR:-}" ] || [ ! -f "$SMBRL_ROM_DIR/super-mario-bros.nes" ]; then
  echo "SKIP: SMBRL_ROM_DIR is not set or has no super-mario-bros.nes"; exit 77
fi
if [ -z "$ref" ] || [ ! -f "$ref/$name.inputs" ]; then
  echo "SKIP: reference trajectory $name not found (set SMBRL_REFERENCE_DIR)"; exit 77
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$smbrl" movie --rom "$SMBRL_ROM_DIR/super-mario-bros.nes" --inputs "$ref/$name.inputs" --trace "$out" || exit 1
if ! cmp -s "$out" "$ref/$name.nestopia.txt"; then
  echo "FAIL: trace differs from Nestopia's; first differences:"
  diff "$out" "$ref/$name.nestopia.txt" | head -10
  exit 1
fi
echo "$name: $(wc -l < "$out") frames equal to Nestopia's"
