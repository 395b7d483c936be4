#!/bin/bash
# One-node SLURM test cluster on this machine (localhost only), with accounting so `sacct` works
# (submitit polls sacct for job states). For testing rdsweep's hydra/launcher=slurm.
#
#   cluster/slurm-local.sh [start]   install what is missing, write configs, start daemons (re-runnable)
#   cluster/slurm-local.sh stop      stop the daemons (state is kept)
#   cluster/slurm-local.sh status    daemons, sinfo, squeue
#
# Daemons are started by hand (no systemd here). Their PID files, spool/state, logs and the MariaDB data
# live under $SLURM_LOCAL_DIR (default /tmp/rdsweep-slurm). Configs go to /etc/slurm so that plain
# sinfo/sbatch/sacct work without SLURM_CONF. Cluster "rdsweep", partition "local", one node.
# One instance per machine: daemons use fixed ports and /etc/slurm, whatever $SLURM_LOCAL_DIR says.
set -euo pipefail

DIR=${SLURM_LOCAL_DIR:-/tmp/rdsweep-slurm}
RUN=$DIR/run LOG=$DIR/log
NODE=$(hostname -s)        # must resolve locally (/etc/hosts); we pin addresses to 127.0.0.1 anyway
CLUSTER=rdsweep PARTITION=local
CONF=/etc/slurm/slurm.conf DBDCONF=/etc/slurm/slurmdbd.conf
MYSQL_SOCK=/run/mysqld/mysqld.sock   # libmariadb's default: slurmdbd's StorageHost=localhost uses it

pidfile() {   # daemon name -> its PID file
  case $1 in
    munged) echo "$RUN/munge/munged.pid" ;;
    mariadbd) echo "$RUN/mysql/mariadbd.pid" ;;
    *) echo "$RUN/$1.pid" ;;
  esac
}
running() {   # true if the PID file names a live process of that name (guards against PID reuse)
  local f; f=$(pidfile "$1")
  [ -s "$f" ] && [ "$(cat /proc/"$(cat "$f")"/comm 2>/dev/null)" = "$1" ]
}
wait_for() {  # wait_for SECONDS WHAT CMD...: poll CMD once a second
  local n=$1 what=$2; shift 2
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "timed out waiting for $what (logs: $LOG)" >&2; return 1
}

stop_one() {  # TERM one daemon and wait for it to exit, so a following start is clean
  local pid
  running "$1" || return 0
  pid=$(cat "$(pidfile "$1")"); echo "stopping $1 ($pid)"; kill "$pid"
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  rm -f "$(pidfile "$1")"
}
stop() { local d; for d in slurmd slurmctld slurmdbd mariadbd munged; do stop_one "$d"; done; }

status() {
  local d
  for d in munged mariadbd slurmdbd slurmctld slurmd; do
    if running "$d"; then echo "$d: running ($(cat "$(pidfile "$d")"))"; else echo "$d: stopped"; fi
  done
  running slurmctld && { sinfo; squeue; } || true
}

install_packages() {   # apt only what is missing; policy-rc.d keeps apt from starting services
  local missing=() p
  for p in slurm-wlm munge slurmdbd mariadb-server; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
}

write_if_changed() {   # write_if_changed FILE MODE < content; returns 0 if the file changed
  local tmp; tmp=$(mktemp)
  cat > "$tmp"
  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
  install -m "$2" "$tmp" "$1"; rm -f "$tmp"
}

start() {
  install_packages
  mkdir -p "$RUN" "$LOG" "$DIR/spool/ctld" "$DIR/spool/d" /etc/slurm
  chmod 755 "$DIR"

  # munge (slurm's authentication). The Debian package creates the key; make one if it is absent.
  install -d -o munge -g munge "$RUN/munge" "$LOG/munge" /run/munge /var/lib/munge /var/log/munge
  [ -s /etc/munge/munge.key ] || { mungekey -c -f; chown munge:munge /etc/munge/munge.key; }
  if ! running munged; then
    # --force on retry: munged refuses a socket left behind by a crashed munged
    runuser -u munge -- munged --pid-file="$RUN/munge/munged.pid" --log-file="$LOG/munge/munged.log" \
      || runuser -u munge -- munged --force --pid-file="$RUN/munge/munged.pid" --log-file="$LOG/munge/munged.log"
  fi
  wait_for 10 munged bash -c 'munge -n | unmunge'

  # Node size from this machine: all CPUs, and MemTotal in MiB (what slurmd itself detects; declaring
  # more would make slurmd drain the node with "Low RealMemory").
  local cpus mem_mib
  cpus=$(nproc)
  mem_mib=$(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo)

  # EnforcePartLimits=ALL: a job asking for more than the partition/node can ever give (e.g. 8 CPUs here)
  # is refused at submit time instead of pending forever with reason PartitionConfig.
  # SlurmUser=root keeps file ownership simple on a throwaway test box.
  local conf_changed=0
  write_if_changed "$CONF" 644 <<EOF && conf_changed=1 || true
# written by $(realpath "$0"); edits are overwritten on the next start
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
EnforcePartLimits=ALL
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mib State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

  # MariaDB for slurmdbd: data under $DIR, local socket only.
  install -d -o mysql -g mysql "$RUN/mysql" "$DIR/mysql" /run/mysqld
  if ! running mariadbd; then
    [ -d "$DIR/mysql/mysql" ] || mariadb-install-db --user=mysql --datadir="$DIR/mysql" \
      --auth-root-authentication-method=socket >"$LOG/mariadb-install.log" 2>&1
    setsid mariadbd --user=mysql --datadir="$DIR/mysql" --socket="$MYSQL_SOCK" --skip-networking \
      --pid-file="$RUN/mysql/mariadbd.pid" --log-error="$LOG/mariadb.log" \
      --innodb-buffer-pool-size=64M </dev/null >/dev/null 2>&1 &
    wait_for 30 mariadb mariadb -e 'select 1'
    wait_for 5 "mariadb pid file" test -s "$RUN/mysql/mariadbd.pid"
  fi
  mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"

  # slurmdbd (refuses to start unless its config is private to SlurmUser)
  local dbd_changed=0
  write_if_changed "$DBDCONF" 600 <<EOF && dbd_changed=1 || true
AuthType=auth/munge
DbdHost=$NODE
DbdAddr=127.0.0.1
SlurmUser=root
LogFile=$LOG/slurmdbd.log
PidFile=$RUN/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
  [ $dbd_changed = 0 ] || stop_one slurmdbd   # restart on a changed config
  running slurmdbd || slurmdbd
  wait_for 30 slurmdbd sacctmgr -n list cluster

  # Register the cluster before slurmctld starts, so slurmctld's accounting connection finds it.
  if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
    sacctmgr -i add cluster "$CLUSTER"
  fi

  # Restart (not `scontrol reconfigure`) on a changed slurm.conf: node CPUs/memory are read at start.
  [ $conf_changed = 0 ] || { stop_one slurmd; stop_one slurmctld; }
  running slurmctld || slurmctld
  wait_for 30 slurmctld scontrol ping
  running slurmd || slurmd

  # Wait for the node; bring it back if an earlier run left it down/drained.
  for _ in $(seq 30); do
    case $(sinfo -h -n "$NODE" -o %T) in
      idle|mixed|allocated) break ;;
      down*|drain*|fail*) scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;;
    esac
    sleep 1
  done
  sinfo -h -n "$NODE" -o %T | grep -Eq '^(idle|mixed|allocated)' \
    || { echo "node $NODE not up: $(sinfo -h -N -o '%T %E')" >&2; exit 1; }
  sinfo -o '%P %a %D %T %c %m %N'
}

case ${1:-start} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
