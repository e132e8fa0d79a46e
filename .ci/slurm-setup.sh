#!/usr/bin/env bash
# Single-node Slurm for CI (as root on Debian): munge + slurmctld + slurmd on localhost, with two
# GPUs declared as generic resources (no hardware; TaskPlugin=task/none binds nothing), so GPU rules
# go through `sbatch --gpus` for real. Idempotent: a running cluster with a usable node is left as
# it is. Exit status 0 only when `sinfo` shows a node that can run jobs (idle, mixed, allocated);
# otherwise non-zero with the reason and the daemons' log tails (.ci/run then fails the CI run).
set -euo pipefail

usable() { sinfo -h -N -o %T 2>/dev/null | grep -E '^(idle|mix|alloc)' >/dev/null; }

if usable; then
  echo "slurm-setup: a Slurm cluster already answers with a usable node; leaving it alone"; exit 0
fi
if [ "$(id -u)" != 0 ]; then echo "slurm-setup: needs root (no usable Slurm answers)" >&2; exit 1; fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
   || ! command -v sbatch >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

# CPU slots: 4 per core by default. Most of a CI job's life is the executor's status polling and
# Snakemake's start-up, not compute, so oversubscribing lets that latency overlap (slurmd accepts a
# count above the hardware with SlurmdParameters=config_overrides). Memory is not a consumable here.
CPUS=${SFTMIX_SLURM_CPUS:-$(( $(nproc) * 4 ))}
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
CONF_DIR=/etc/slurm
mkdir -p "$CONF_DIR" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
cat > "$CONF_DIR/slurm.conf" <<CONF
ClusterName=sftmix-ci
SlurmctldHost=localhost
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MessageTimeout=30
ReturnToService=2
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
GresTypes=gpu
NodeName=localhost CPUs=${CPUS} RealMemory=${MEM_MB} Gres=gpu:${CPUS} State=UNKNOWN
PartitionName=batch Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
CONF
# GPUs without hardware: slurmd counts gpu GRES by device files, so empty placeholder files
# stand in (TaskPlugin=task/none binds nothing; jobs see no CUDA device and run on the CPU).
FAKE_GPU_DIR=/run/sftmix-fake-gpu
mkdir -p "$FAKE_GPU_DIR"
for i in $(seq 0 $((CPUS - 1))); do touch "$FAKE_GPU_DIR/nvidia$i"; done
cat > "$CONF_DIR/gres.conf" <<CONF
AutoDetect=off
NodeName=localhost Name=gpu File=${FAKE_GPU_DIR}/nvidia[0-$((CPUS - 1))]
CONF

if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key
pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd

resumed=
for _ in $(seq 30); do
  state=$(sinfo -h -N -o %T 2>/dev/null | head -1 || true)
  case "$state" in
    idle*|mix*|alloc*) echo "slurm-setup: node $state, ${CPUS} CPU slots, ${MEM_MB} MB, gpu:${CPUS}"; exit 0 ;;
    # a node left down or drained by an earlier slurmd (ReturnToService does not cover drain)
    down*|drain*) [ -n "$resumed" ] || { scontrol update NodeName=localhost State=RESUME || true; resumed=1; } ;;
  esac
  sleep 1
done
echo "slurm-setup: Slurm did not come up (node state: ${state:-none})" >&2
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1
