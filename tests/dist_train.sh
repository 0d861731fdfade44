#!/bin/sh
# dist_train.sh: `smbrl train --distributed` under mpirun with 2 ranks on this machine, tiny
# settings, the ROM from SMBRL_ROM_DIR (skips without it).
#   run:  both ranks push updates into the one model (counted per rank), their step counts add
#         up to the global step both ranks report, only rank 0 writes checkpoints and logs,
#         the final replica checksums agree; then --resume continues the run on both ranks.
#   netns: the same as run with the ranks in two network namespaces, TCP only
#         (tests/dist_netns.sh): nothing between the ranks goes through shared memory.
#   kill: rank 1 is killed (SIGKILL) once a checkpoint exists; the job ends non-zero with
#         rank 0 naming rank 1, and --resume continues from the last checkpoint.
# Usage: dist_train.sh run|netns|kill SMBRL WORKDIR [ROM_DIR]
set -u
case=$1
smbrl=$2
work=$3
roms=${4:-}
[ -n "$roms" ] || roms=${SMBRL_ROM_DIR:-}
[ -n "$roms" ] && [ -d "$roms" ] || { echo "SKIP: SMBRL_ROM_DIR is not set; no ROM to train on"; exit 77; }
command -v mpirun >/dev/null 2>&1 || { echo "SKIP: mpirun not found (Debian: openmpi-bin)"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
mkdir -p "$work"
run=$work/run
tiny="--rom $roms --num-processes 1 --burnin 100 --memory-size 400 --batch-size 8 --learn-every 8
      --sync-every 25 --target-sync-every 50 --log-every 0.5 --seed 3 --quiet"
if [ "$case" = netns ]; then
  launch() { sh "$here/dist_netns.sh" "$@"; }
  case=run
else
  launch() { sh "$here/dist_mpirun.sh" 2 "$@"; }
fi
mpi() { launch "$smbrl" train --distributed "$@"; }
fail() { echo "dist_train $case: $*"; exit 1; }
last_state() { ls "$run" | sed -n 's/^state_\([0-9]*\)\.safetensors$/\1/p' | sort -n | tail -1; }

if [ "$case" = run ]; then
  # shellcheck disable=SC2086
  mpi $tiny --run-dir "$run" --max-steps 600 --save-every 200 --episodes 1000 >"$work/out1" 2>&1
  rc=$?
  cat "$work/out1"
  [ $rc -eq 77 ] && exit 77
  [ $rc -eq 0 ] || fail "the distributed run failed (exit $rc)"
  total=0
  for r in 0 1; do
    line=$(grep "^\[rank 0\] dist: rank $r (.*) contributed" "$work/out1") || fail "no contribution line for rank $r"
    steps=$(echo "$line" | sed 's/.*contributed \([0-9]*\) steps.*/\1/')
    upd=$(echo "$line" | sed 's/.* \([0-9]*\) updates$/\1/')
    [ "$upd" -gt 0 ] || fail "rank $r pushed no updates into the global model"
    total=$((total + steps))
  done
  for r in 0 1; do
    fin=$(sed -n "s/^\[rank $r\] finished at step \([0-9]*\),.*/\1/p" "$work/out1")
    [ "$fin" = "$total" ] || fail "rank $r ended at global step '$fin', the ranks' steps add up to $total"
  done
  grep -q "^\[rank 0\] dist: .*final replicas agree" "$work/out1" || fail "the final replica check did not agree"
  grep -q "^\[rank 0\] checkpoint: " "$work/out1" || fail "rank 0 wrote no checkpoint"
  ! grep -q "^\[rank 1\] checkpoint" "$work/out1" || fail "rank 1 wrote a checkpoint"
  [ "$(last_state)" = "$total" ] || fail "the last state file is step $(last_state), not the global $total"
  ! grep -q "\[rank 1\]" "$run/train.log" || fail "rank 1 wrote into train.log"
  ls "$run"/events.out.tfevents.* >/dev/null 2>&1 || fail "no TensorBoard file"
  [ "$(ls "$run"/events.out.tfevents.* | wc -l)" -eq 1 ] || fail "more than one TensorBoard writer"
  # resume: both ranks start from rank 0's checkpoint
  mpi --resume "$run" --max-steps 900 --quiet >"$work/out2" 2>&1
  rc=$?
  cat "$work/out2"
  [ $rc -eq 0 ] || fail "the resumed run failed (exit $rc)"
  for r in 0 1; do
    grep -q "^\[rank $r\] dist: rank $r of 2 .* from step $total," "$work/out2" ||
      fail "rank $r did not resume from step $total"
  done
  fin=$(sed -n 's/^\[rank 0\] finished at step \([0-9]*\),.*/\1/p' "$work/out2")
  [ -n "$fin" ] && [ "$fin" -ge 900 ] || fail "the resumed run ended at step '$fin', before 900"
  grep -q "^\[rank 0\] dist: .*final replicas agree" "$work/out2" || fail "replicas disagree after the resume"
  echo "dist_train run: ok (global steps $total, then $fin after --resume)"
  exit 0
fi

if [ "$case" = kill ]; then
  # shellcheck disable=SC2086
  mpi $tiny --run-dir "$run" --max-steps 1000000 --save-every 150 --episodes 100000 >"$work/out1" 2>&1 &
  job=$!
  pid=""
  i=0
  while [ $i -lt 400 ]; do
    pid=$(sed -n 's/^\[rank 1\] dist: rank 1 of 2 on .* (pid \([0-9]*\)).*/\1/p' "$work/out1")
    [ -n "$pid" ] && [ -n "$(last_state)" ] && break
    sleep 0.1
    i=$((i + 1))
  done
  [ -n "$pid" ] && [ -n "$(last_state)" ] || { kill "$job"; cat "$work/out1"; fail "no checkpoint within 40 s"; }
  kill -9 "$pid"
  wait $job
  rc=$?
  cat "$work/out1"
  [ $rc -ne 0 ] || fail "the job exited 0 although rank 1 died"
  grep -q "rank 0: rank 1 (pid $pid on .*) is gone" "$work/out1" || fail "rank 0 did not name rank 1"
  last=$(last_state)
  mpi --resume "$run" --max-steps $((last + 150)) --quiet >"$work/out2" 2>&1
  rc=$?
  cat "$work/out2"
  [ $rc -eq 0 ] || fail "--resume after the failure failed (exit $rc)"
  grep -q "^\[rank 0\] dist: rank 0 of 2 .* from step $last," "$work/out2" ||
    fail "the resume did not start from the last checkpoint (step $last)"
  echo "dist_train kill: ok (rank 1 pid $pid killed, resumed from step $last)"
  exit 0
fi
echo "usage: dist_train.sh run|netns|kill SMBRL WORKDIR [ROM_DIR]"
exit 2
