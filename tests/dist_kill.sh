#!/bin/sh
# dist_kill.sh: a rank that dies ends the job with a message naming it. Runs PROGRAM under
# mpirun with 2 ranks; the program's rank 1 kills itself (SIGKILL) mid-run, and rank 0 must
# say "rank 1 (pid ...) is gone" within the launcher's SIGTERM-to-SIGKILL second, and the job
# must end non-zero. Usage: dist_kill.sh PROGRAM [ARGS...]  (extra mpirun options: SMBRL_MPI_ARGS)
set -u
here=$(dirname "$0")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s)
sh "$here/dist_mpirun.sh" 2 "$@" >"$out" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
cat "$out"
[ $rc -eq 77 ] && exit 77
fail=0
[ $rc -ne 0 ] || { echo "dist_kill: the job exited 0 although rank 1 died"; fail=1; }
grep -q "rank 0: rank 1 (pid [0-9]* on .*) is gone" "$out" ||
  { echo "dist_kill: rank 0 did not name the dead rank"; fail=1; }
grep -q "continue with --resume" "$out" || { echo "dist_kill: no word on resuming"; fail=1; }
[ $took -le 30 ] || { echo "dist_kill: the job took ${took}s to end"; fail=1; }
[ $fail -eq 0 ] && echo "dist_kill: ok (mpirun exit $rc after ${took}s)"
exit $fail
