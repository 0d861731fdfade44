#!/bin/sh
# dist_no_mpi.sh: a build without MPI refuses `smbrl train --distributed` with a clear line and
# exit 2, before it looks at anything else. Usage: dist_no_mpi.sh SMBRL
out=$("$1" train --distributed --rom /nonexistent 2>&1)
rc=$?
echo "$out"
[ $rc -eq 2 ] || { echo "dist_no_mpi: exit $rc, want 2"; exit 1; }
echo "$out" | grep -q -- "--distributed needs MPI, and this build has none" ||
  { echo "dist_no_mpi: the message does not say that this build has no MPI"; exit 1; }
echo "dist_no_mpi: ok"
