#!/bin/sh
# dist_mpirun.sh: mpirun with the settings a single machine or a container needs, for the
# distributed tests and benchmarks. Usage: dist_mpirun.sh NP PROGRAM [ARGS...]
#   SMBRL_MPI_BTL   transports (default self,vader,tcp; self,tcp forces the network path)
#   SMBRL_MPI_ARGS  more mpirun options
# Exits 77 (CTest skip) with a reason when mpirun is missing.
set -eu
np=$1
shift
command -v mpirun >/dev/null 2>&1 || { echo "SKIP: mpirun not found (Debian: openmpi-bin)"; exit 77; }
# Open MPI refuses root unless both are set (containers run tests as root).
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# vader's single-copy path uses process_vm_readv (CMA), which containers usually forbid.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
# Ranks on one host: no ssh, no Infiniband probing.
export OMPI_MCA_plm=isolated OMPI_MCA_btl_openib_warn_no_device_params_found=0
# shellcheck disable=SC2086
exec mpirun --oversubscribe -n "$np" --mca btl "${SMBRL_MPI_BTL:-self,vader,tcp}" \
  ${SMBRL_MPI_ARGS:-} "$@"
