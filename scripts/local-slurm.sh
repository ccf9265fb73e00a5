#!/usr/bin/env bash
# A single-node SLURM cluster on localhost, with accounting (slurmdbd + MariaDB), for trying and
# testing `snakemake --workflow-profile profiles/slurm` without a real cluster.
#
#   scripts/local-slurm.sh start    # install (Debian/Ubuntu packages, first time only) and start; idempotent
#   scripts/local-slurm.sh status   # daemons, partition, node state; exit 0 only when all is up
#   scripts/local-slurm.sh stop     # stop every daemon by its pidfile, remove the pidfiles
#
# Needs root (or password-less sudo) and apt-get; works without systemd (containers, CI machines).
# The cluster: ClusterName=pgexp, one node (this host, CPUs and memory from `slurmd -C`), partition
# "debug" (the default), account "pgexp" for root (and $SUDO_USER).  Every wait is bounded; the
# daemon logs are in /var/log/local-slurm/ and their tails are printed when a start fails.
# It writes /etc/slurm/{slurm,slurmdbd}.conf, and refuses to touch a slurm.conf it did not write.
#
# Environment: LOCAL_SLURM_PARTITION (default debug), LOCAL_SLURM_ACCOUNT (default pgexp),
# LOCAL_SLURM_APT_TIMEOUT (seconds for package installation, default 1200).
set -euo pipefail

PARTITION=${LOCAL_SLURM_PARTITION:-debug}
ACCOUNT=${LOCAL_SLURM_ACCOUNT:-pgexp}
APT_TIMEOUT=${LOCAL_SLURM_APT_TIMEOUT:-1200}
CLUSTER=pgexp
PACKAGES=(slurm-wlm slurm-client slurmdbd munge mariadb-server mariadb-client)
MARK="# Written by pgexp scripts/local-slurm.sh"

CONF_DIR=/etc/slurm
SLURM_CONF=$CONF_DIR/slurm.conf
DBD_CONF=$CONF_DIR/slurmdbd.conf
LOG_DIR=/var/log/local-slurm
STATE_DIR=/var/lib/local-slurm
MYSQL_SOCK=/run/mysqld/mysqld.sock

# name  pidfile  (stop order is the reverse of this list)
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)
declare -A PIDFILE=(
  [munged]=/run/munge/munged.pid
  [mariadbd]=/run/mysqld/mysqld.pid
  [slurmdbd]=/run/slurmdbd.pid
  [slurmctld]=/run/slurmctld.pid
  [slurmd]=/run/slurmd.pid
)

log() { printf '[local-slurm %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() {
  log "ERROR: $*" >&2
  dump_logs >&2
  exit 1
}

dump_logs() {
  local f
  for f in "$LOG_DIR"/*.log; do
    [ -s "$f" ] || continue
    echo "----- tail of $f -----"
    tail -n 25 "$f" || true
  done
}

# Run as root: re-exec through sudo when possible.
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    exec sudo -n -E "$0" "$@"
  fi
  echo "local-slurm.sh: needs root (or password-less sudo)" >&2
  exit 1
fi

# ---------------------------------------------------------------------------------------------
# process helpers

# The PID in a daemon's pidfile, if that process is alive (else nothing).
live_pid() {
  local pidfile=${PIDFILE[$1]} pid
  [ -s "$pidfile" ] || return 1
  pid=$(tr -dc '0-9' <"$pidfile")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # a recycled PID is not our daemon
  case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
    "$1"* | mysqld* | mariadbd*) echo "$pid" ;;
    *) return 1 ;;
  esac
}

running() { live_pid "$1" >/dev/null; }

# A pidfile whose process is gone breaks later starts and package operations (maintainer scripts
# trust it): remove it.
clean_stale_pidfile() {
  local pidfile=${PIDFILE[$1]}
  if [ -e "$pidfile" ] && ! running "$1"; then
    rm -f "$pidfile"
  fi
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.5 s until it succeeds.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      die "timed out after ${seconds}s waiting for $what"
    fi
    sleep 0.5
  done
}

stop_daemon() {
  local name=$1 pid deadline
  if pid=$(live_pid "$name"); then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not stop in 30 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -f "${PIDFILE[$name]}"
}

# ---------------------------------------------------------------------------------------------
# installation

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
  for p in "${DAEMONS[@]}"; do clean_stale_pidfile "$p"; done
  log "installing ${missing[*]} (apt-get, at most ${APT_TIMEOUT}s)"
  export DEBIAN_FRONTEND=noninteractive
  timeout "$APT_TIMEOUT" apt-get update -qq >"$LOG_DIR/apt.log" 2>&1 || die "apt-get update failed (see $LOG_DIR/apt.log)"
  timeout "$APT_TIMEOUT" apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >>"$LOG_DIR/apt.log" 2>&1 || die "apt-get install failed (see $LOG_DIR/apt.log)"
  log "installed"
}

# ---------------------------------------------------------------------------------------------
# configuration

node_line() {
  # e.g. "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
  local line
  line=$(timeout 30 slurmd -C 2>/dev/null | grep -m1 '^NodeName=') || die "slurmd -C failed"
  echo "$line NodeAddr=127.0.0.1 State=UNKNOWN"
}

write_if_changed() {  # write_if_changed FILE MODE CONTENT -> 0 if the file changed
  local file=$1 mode=$2 content=$3
  if [ -f "$file" ] && [ "$(cat "$file")" = "$content" ]; then
    return 1
  fi
  printf '%s\n' "$content" >"$file.tmp"
  chmod "$mode" "$file.tmp"
  mv -f "$file.tmp" "$file"
  return 0
}

db_password() {
  if [ -f "$DBD_CONF" ] && grep -q '^StoragePass=' "$DBD_CONF"; then
    sed -n 's/^StoragePass=//p' "$DBD_CONF" | head -n1
  else
    head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n'
  fi
}

write_configs() {  # -> sets CONF_CHANGED=1 when slurm.conf changed
  local host node
  host=$(hostname -s)
  node=$(node_line) || exit 1
  mkdir -p "$CONF_DIR" "$LOG_DIR" "$STATE_DIR/slurmctld" "$STATE_DIR/slurmd"
  if [ ! -f "$SLURM_CONF" ] && [ -f "$SLURM_CONF.stopped" ]; then  # parked by `stop`
    mv -f "$SLURM_CONF.stopped" "$SLURM_CONF"
  fi
  if [ -f "$SLURM_CONF" ] && ! grep -qF "$MARK" "$SLURM_CONF"; then
    die "$SLURM_CONF exists and was not written by this script: refusing to overwrite a real cluster's configuration"
  fi
  CONF_CHANGED=0
  write_if_changed "$SLURM_CONF" 644 "$MARK: a single-node cluster on localhost.
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPidFile=${PIDFILE[slurmctld]}
SlurmdPidFile=${PIDFILE[slurmd]}
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no systemd/cgroups on these machines
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
ReturnToService=2
# a job without --mem must not take the whole node
DefMemPerCPU=1000
# finished jobs stay visible to squeue/scontrol for 5 min (>= 3x any status-check interval)
MinJobAge=300
KillWait=10
Waittime=0
# accounting: sacct (the executor plugin's status command) asks slurmdbd
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageEnforce=associations
# sacct shows the plugin's --comment (rule and wildcards of each job)
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
$node
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP" && CONF_CHANGED=1

  write_if_changed "$DBD_CONF" 600 "$MARK
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
PidFile=${PIDFILE[slurmdbd]}
LogFile=$LOG_DIR/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=$DB_PASS" || true
  chmod 600 "$DBD_CONF"
}

# ---------------------------------------------------------------------------------------------
# daemons

start_munge() {
  if running munged; then return 0; fi
  clean_stale_pidfile munged
  if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile /etc/munge/munge.key
    else
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
  fi
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 755 /run/munge
  log "starting munged"
  # as root munged refuses ("Logfile is insecure"): run it as the munge user
  runuser -u munge -- /usr/sbin/munged --pid-file="${PIDFILE[munged]}" </dev/null >>"$LOG_DIR/munged.log" 2>&1 \
    || die "munged failed to start"
  wait_for 20 "munge credentials" bash -c 'munge -n | unmunge'
}

start_mariadb() {
  if running mariadbd; then return 0; fi
  clean_stale_pidfile mariadbd
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    log "initialising the MariaDB data directory"
    timeout 120 mariadb-install-db --user=mysql --datadir=/var/lib/mysql >>"$LOG_DIR/mariadb.log" 2>&1 \
      || die "mariadb-install-db failed"
  fi
  log "starting mariadbd"
  # its own session, so that it outlives the caller; no TCP (slurmdbd uses the socket)
  setsid -f mariadbd --user=mysql --skip-networking --socket="$MYSQL_SOCK" --pid-file="${PIDFILE[mariadbd]}" \
    --log-error="$LOG_DIR/mariadb.log" </dev/null >>"$LOG_DIR/mariadb.log" 2>&1
  wait_for 60 "mariadbd" mariadb-admin --socket="$MYSQL_SOCK" ping
  wait_for 10 "mariadbd pidfile" test -s "${PIDFILE[mariadbd]}"
}

setup_database() {
  timeout 30 mariadb --socket="$MYSQL_SOCK" -u root <<SQL >>"$LOG_DIR/mariadb.log" 2>&1 || die "creating the slurm database user failed"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
SQL
}

start_slurmdbd() {
  if running slurmdbd; then return 0; fi
  clean_stale_pidfile slurmdbd
  log "starting slurmdbd"
  slurmdbd </dev/null >>"$LOG_DIR/slurmdbd.log" 2>&1 || die "slurmdbd failed to start"
  wait_for 60 "slurmdbd to answer sacctmgr" timeout 10 sacctmgr -n show cluster
}

setup_accounting() {
  local users=(root) u
  if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ] && id "$SUDO_USER" >/dev/null 2>&1; then
    users+=("$SUDO_USER")
  fi
  if ! timeout 10 sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER"; then
    timeout 20 sacctmgr -i add cluster "$CLUSTER" >>"$LOG_DIR/sacctmgr.log" 2>&1 || die "sacctmgr add cluster failed"
  fi
  if ! timeout 10 sacctmgr -n -P show account format=account | grep -qx "$ACCOUNT"; then
    timeout 20 sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description="pgexp local tests" Organization=pgexp \
      >>"$LOG_DIR/sacctmgr.log" 2>&1 || die "sacctmgr add account failed"
  fi
  for u in "${users[@]}"; do
    if ! timeout 10 sacctmgr -n -P show assoc where user="$u" account="$ACCOUNT" format=user | grep -qx "$u"; then
      timeout 20 sacctmgr -i add user "$u" Account="$ACCOUNT" Cluster="$CLUSTER" \
        >>"$LOG_DIR/sacctmgr.log" 2>&1 || die "sacctmgr add user $u failed"
    fi
  done
}

node_ready() {
  local state
  state=$(timeout 10 sinfo -h -N -o %T 2>/dev/null | head -n1)
  case "$state" in
    idle* | mixed* | allocated* | completing*) return 0 ;;
    *) return 1 ;;
  esac
}

start_slurmctld() {
  if running slurmctld; then return 0; fi
  clean_stale_pidfile slurmctld
  log "starting slurmctld"
  slurmctld </dev/null >>"$LOG_DIR/slurmctld.log" 2>&1 || die "slurmctld failed to start"
  wait_for 60 "slurmctld to answer" timeout 10 scontrol ping
}

start_slurmd() {
  if running slurmd; then return 0; fi
  clean_stale_pidfile slurmd
  log "starting slurmd"
  slurmd </dev/null >>"$LOG_DIR/slurmd.log" 2>&1 || die "slurmd failed to start"
}

wait_node_ready() {
  local deadline=$((SECONDS + 60)) state
  until node_ready; do
    state=$(timeout 10 sinfo -h -N -o %T 2>/dev/null | head -n1 || true)
    case "$state" in
      down* | drain* | fail*)  # e.g. left down by an earlier stop: bring it back
        timeout 10 scontrol update NodeName="$(hostname -s)" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    [ "$SECONDS" -lt "$deadline" ] || die "timed out after 60s waiting for the node (state: ${state:-unknown})"
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------------------------
# commands

cmd_start() {
  local t0=$SECONDS
  mkdir -p "$LOG_DIR"
  install_packages
  DB_PASS=$(db_password)
  write_configs
  if [ "$CONF_CHANGED" = 1 ] && { running slurmctld || running slurmd; }; then
    log "slurm.conf changed: restarting the SLURM daemons"
    cancel_jobs
    stop_daemon slurmd
    stop_daemon slurmctld
  fi
  if all_up; then
    log "already running"
    cmd_status
    return 0
  fi
  start_munge
  start_mariadb
  setup_database
  start_slurmdbd
  setup_accounting  # before slurmctld, which registers with the cluster entry
  start_slurmctld
  start_slurmd
  wait_node_ready
  # sacct must answer (the executor plugin polls job states with it; without slurmdbd it hangs)
  wait_for 30 "sacct" timeout 10 sacct -n -X -S now-1minutes
  log "cluster '$CLUSTER' up in $((SECONDS - t0))s: partition '$PARTITION', account '$ACCOUNT'"
  cmd_status
}

all_up() {
  local d
  for d in "${DAEMONS[@]}"; do running "$d" || return 1; done
  node_ready
}

cmd_status() {
  local d pid ok=0
  for d in "${DAEMONS[@]}"; do
    if pid=$(live_pid "$d"); then
      printf '  %-10s running (pid %s)\n' "$d" "$pid"
    else
      printf '  %-10s stopped\n' "$d"
      ok=1
    fi
  done
  if running slurmctld; then
    timeout 10 sinfo -N -o '  %N %P %T cpus=%c mem=%m' 2>/dev/null || ok=1
    node_ready || ok=1
  fi
  return "$ok"
}

# Jobs still running when slurmd stops would linger (their slurmstepd retrying to report back):
# cancel them first, and give them a bounded time to leave.
cancel_jobs() {
  local jobs deadline
  running slurmctld || return 0
  jobs=$(timeout 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ') || return 0
  [ -n "${jobs// /}" ] || return 0
  log "cancelling jobs: $jobs"
  # shellcheck disable=SC2086
  timeout 10 scancel $jobs >/dev/null 2>&1 || true
  deadline=$((SECONDS + 30))
  while [ -n "$(timeout 10 squeue -h -o %i 2>/dev/null)" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.5; done
}

cmd_stop() {
  local i
  cancel_jobs
  for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
    stop_daemon "${DAEMONS[i]}"
  done
  # Park our slurm.conf: with it in place but no slurmctld, every `scontrol` call (and the Snakemake
  # SLURM plugin runs one at import, i.e. on every `snakemake` call) hangs ~9 s before giving up;
  # without it, it fails in milliseconds.  `start` puts it back.
  if [ -f "$SLURM_CONF" ] && grep -qF "$MARK" "$SLURM_CONF"; then
    mv -f "$SLURM_CONF" "$SLURM_CONF.stopped"
  fi
  log "stopped"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
