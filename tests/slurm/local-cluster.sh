#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for tests/slurm.rs: Debian's
# Slurm 22.05 and munge, no systemd, no cgroups (proctrack/linuxproc,
# task/none), state and logs under DIR, private ports.
#
#   tests/slurm/local-cluster.sh install      installs the packages when missing (root)
#   tests/slurm/local-cluster.sh start DIR    writes DIR/slurm.conf, starts the daemons,
#                                             waits for the node; export SLURM_CONF=DIR/slurm.conf
#   tests/slurm/local-cluster.sh stop DIR     stops what start started
set -euo pipefail
cmd=${1:?usage: local-cluster.sh install|start DIR|stop DIR}

case $cmd in
install)
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
      && command -v munged >/dev/null; then
    echo "local-cluster: Slurm and munge already installed"
    exit 0
  fi
  echo "local-cluster: installing slurmctld slurmd slurm-client munge"
  export DEBIAN_FRONTEND=noninteractive
  pkgs=(slurmctld slurmd slurm-client munge)
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  }
  ;;
start)
  dir=$(realpath "${2:?start needs DIR}")
  mkdir -p "$dir/state" "$dir/spool" "$dir/log"
  # munge: one daemon per machine; reuse a running one.
  if ! munge -n </dev/null >/dev/null 2>&1; then
    [ -s /etc/munge/munge.key ] || {
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
      chown munge:munge /etc/munge/munge.key
      chmod 400 /etc/munge/munge.key
    }
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- munged
    touch "$dir/started-munged"
    for _ in $(seq 50); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  node=$(slurmd -C | head -n 1)
  name=$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' <<<"$node")
  cat >"$dir/slurm.conf" <<CONF
ClusterName=rnnlab
SlurmctldHost=$name(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
KillWait=5
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$dir/slurm.conf
  slurmctld -c -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF"
  for _ in $(seq 150); do
    state=$(sinfo -h -o %T 2>/dev/null || true)
    [ "$state" = idle ] && { echo "local-cluster: node $name idle"; exit 0; }
    sleep 0.2
  done
  echo "local-cluster: node $name did not become idle (state '$state'); logs in $dir/log" >&2
  exit 1
  ;;
stop)
  dir=$(realpath "${2:?stop needs DIR}")
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
    [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  if [ -e "$dir/started-munged" ]; then
    pkill -u munge -x munged || true
  fi
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
    for _ in $(seq 50); do
      [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null || break
      sleep 0.1
    done
  done
  ;;
*)
  echo "usage: local-cluster.sh install|start DIR|stop DIR" >&2
  exit 2
  ;;
esac
