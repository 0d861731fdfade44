#!/bin/sh
# smbrl train --record-every N: every N finished episodes a greedy episode of the shared
# model is recorded to <run-dir>/episode_<n>.gif, and train.log says so. The GIFs must
# decode (tests/eval_images.py) at the NES width, with the HUD line under the picture.
# usage: train_record.sh SMBRL_BINARY SCRATCH_DIR
smbrl="$1"; dir="$2"
if [ -z "${SMBRL_ROM_DIR:-}" ] || [ ! -f "$SMBRL_ROM_DIR/super-mario-bros.nes" ]; then
  echo "SKIP: SMBRL_ROM_DIR is not set or has no super-mario-bros.nes"; exit 77
fi
here=$(dirname "$0")
rm -rf "$dir"
"$smbrl" train --rom "$SMBRL_ROM_DIR" --task SuperMarioBros-1-1-v0 --actions simple --run-dir "$dir" \
  --num-processes 1 --episodes 3 --burnin 100 --memory-size 1000 --batch-size 8 --save-every 100000 \
  --record-every 2 --seed 3 --quiet || { echo "FAIL: training exited with $?"; exit 1; }
[ -f "$dir/episode_2.gif" ] || { echo "FAIL: no episode_2.gif in $dir"; ls "$dir"; exit 1; }
[ ! -f "$dir/episode_1.gif" ] || { echo "FAIL: recorded after episode 1 with --record-every 2"; exit 1; }
grep -q "recorded a greedy episode after 2 episodes" "$dir/train.log" || { echo "FAIL: train.log does not mention it"; exit 1; }
set -- $(python3 "$here/eval_images.py" gif "$dir/episode_2.gif") || exit 1
echo "episode_2.gif: $1x$2, $3 frames"
[ "$1" -eq 256 ] && [ "$2" -gt 240 ] && [ "$3" -gt 10 ] || { echo "FAIL: unexpected GIF geometry"; exit 1; }
echo "ok"
