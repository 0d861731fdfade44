#!/bin/sh
# dist_netns.sh: runs an MPI program with 2 ranks in two network namespaces joined by a veth
# pair (10.213.0.1 and 10.213.0.2, a private /30 that exists only inside the namespaces this
# script creates), with TCP as the only transport, so the run shows that nothing between the
# ranks goes through shared memory. Nothing outside the namespaces is contacted.
# Usage: dist_netns.sh PROGRAM [ARGS...]   (needs root; skips with exit 77 and a reason when
# namespaces cannot be created here). Prints the bytes each side sent over the veth pair.
set -u
command -v mpirun >/dev/null 2>&1 || { echo "SKIP: mpirun not found (Debian: openmpi-bin)"; exit 77; }
command -v ip >/dev/null 2>&1 || { echo "SKIP: the ip tool is missing (Debian: iproute2)"; exit 77; }
[ "$(id -u)" -eq 0 ] || { echo "SKIP: network namespaces need root"; exit 77; }
tag=$$
nsa=smbrl-dist-a-$tag
nsb=smbrl-dist-b-$tag
va=sda$tag
vb=sdb$tag
tmp=$(mktemp -d)
cleanup() {
  ip netns del "$nsa" 2>/dev/null
  ip netns del "$nsb" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
if ! ip netns add "$nsa" 2>"$tmp/err" || ! ip netns add "$nsb" 2>>"$tmp/err"; then
  echo "SKIP: cannot create network namespaces here: $(head -1 "$tmp/err")"
  exit 77
fi
if ! ip link add "$va" type veth peer name "$vb" 2>"$tmp/err"; then
  echo "SKIP: cannot create a veth pair here: $(head -1 "$tmp/err")"
  exit 77
fi
set -e
ip link set "$va" netns "$nsa"
ip link set "$vb" netns "$nsb"
ip -n "$nsa" addr add 10.213.0.1/30 dev "$va"
ip -n "$nsb" addr add 10.213.0.2/30 dev "$vb"
for n in "$nsa" "$nsb"; do ip -n "$n" link set lo up; done
ip -n "$nsa" link set "$va" up
ip -n "$nsb" link set "$vb" up

# mpirun runs in namespace A; it starts the daemon for host 10.213.0.2 through this agent
# (in place of ssh), which enters namespace B.
cat >"$tmp/agent" <<AGENT
#!/bin/sh
host=\$1
shift
case "\$host" in
  10.213.0.2) exec ip netns exec $nsb sh -c "\$*" ;;
  *) echo "netns agent: unexpected host \$host" >&2; exit 1 ;;
esac
AGENT
chmod +x "$tmp/agent"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_openib_warn_no_device_params_found=0
run() {
  ip netns exec "$nsa" mpirun -n 2 -H 10.213.0.1:1,10.213.0.2:1 \
    --mca plm rsh --mca plm_rsh_agent "$tmp/agent" \
    --mca btl self,tcp --mca btl_tcp_if_include 10.213.0.0/30 \
    --mca oob_tcp_if_include 10.213.0.0/30 --mca osc pt2pt "$@"
}
# Where the ranks landed: one per namespace.
run sh -c 'echo "rank $OMPI_COMM_WORLD_RANK in netns $(ip netns identify $$)"' >"$tmp/where" 2>&1 || {
  cat "$tmp/where"; echo "dist_netns: mpirun could not start ranks in the namespaces"; exit 1; }
cat "$tmp/where"
grep -q "rank 0 in netns $nsa" "$tmp/where" && grep -q "rank 1 in netns $nsb" "$tmp/where" || {
  echo "dist_netns: the ranks did not land one per namespace"; exit 1; }
tx() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/tx_bytes"; }
a0=$(tx "$nsa" "$va"); b0=$(tx "$nsb" "$vb")
set +e
run "$@"
rc=$?
echo "dist_netns: bytes sent over the veth pair: rank 0 -> 1: $(( $(tx "$nsa" "$va") - a0 )), rank 1 -> 0: $(( $(tx "$nsb" "$vb") - b0 )) (the whole job, start-up included)"
exit $rc
