#!/usr/bin/env bash
# Bring up a single-node SLURM cluster on localhost, with job accounting, in one directory.
#
#   start_cluster.sh DIR
#
# Installs Debian's SLURM (slurm-wlm, slurmdbd), munge and MariaDB first when they are missing
# (needs root and apt-get; bounded by BENCHSUITE_APT_TIMEOUT seconds, default 600). Then starts,
# each with its files under DIR and listening on 127.0.0.1 only: munged, mariadbd (the accounting
# database), slurmdbd, slurmctld and slurmd. Clients find the cluster through SLURM_CONF, which
# DIR/env sets; `stop_cluster.sh DIR` stops everything again.
#
# Inside a job, the SLURM executor's job step drops every SLURM_* variable (SLURM_CONF too) before
# it calls srun, so srun falls back to SLURM's default configuration file. This script therefore
# links /etc/slurm/slurm.conf to DIR/slurm.conf while the cluster runs, and refuses to touch a
# configuration that is not its own.
#
# Exit status 77: this machine cannot host the test cluster (the reason is printed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:?usage: start_cluster.sh DIR}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
export PATH="$PATH:/usr/sbin:/sbin"
system_conf=/etc/slurm/slurm.conf

cannot_run() { echo "start_cluster.sh: $*" >&2; exit 77; }
fail() { echo "start_cluster.sh: $*" >&2; exit 1; }

# Wait up to $1 seconds for a command to succeed.
wait_for() {
    local seconds="$1"; shift
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

# Install what is missing.
have_all() {
    local program
    for program in munged slurmctld slurmd slurmdbd sbatch sacct sacctmgr srun mariadb-install-db mariadbd; do
        command -v "$program" >/dev/null || return 1
    done
}
if ! have_all; then
    [[ $(id -u) == 0 ]] || cannot_run "SLURM, munge or MariaDB is missing and installing them needs root"
    command -v apt-get >/dev/null || cannot_run "SLURM, munge or MariaDB is missing and there is no apt-get to install them"
    echo "start_cluster.sh: installing slurm-wlm, slurmdbd, munge and mariadb-server" >&2
    export DEBIAN_FRONTEND=noninteractive
    # The packages would start system-wide munged, MariaDB and SLURM services; the test cluster
    # runs its own, so a policy-rc.d (Debian's switch for this) keeps them from starting.
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    timeout "${BENCHSUITE_APT_TIMEOUT:-600}" bash -c '
        apt-get update -qq &&
        apt-get install -y -qq --no-install-recommends slurm-wlm slurmdbd munge mariadb-server' \
        >"$dir/apt.log" 2>&1 || fail "apt-get failed or timed out; see $dir/apt.log"
    have_all || fail "installed the packages, yet a program is still missing; see $dir/apt.log"
fi
[[ $(id -u) == 0 ]] || cannot_run "the daemons of the test cluster run as root"

# The default configuration file, for srun inside jobs (see above).
# A test cluster none of whose daemons still runs: its run was killed before it could stop it.
stale_test_cluster() {
    local other pidfile
    [[ -L "$system_conf" ]] || return 1
    other="$(dirname "$(readlink "$system_conf")")"
    [[ -f "$other/slurmctld.pid" && -f "$other/munge.key" ]] || return 1
    for pidfile in "$other"/*.pid; do
        kill -0 "$(cat "$pidfile")" 2>/dev/null && return 1
    done
    return 0
}
if [[ -e "$system_conf" || -L "$system_conf" ]]; then
    if [[ -L "$system_conf" && ! -e "$system_conf" ]] || stale_test_cluster; then
        rm -f "$system_conf"  # left behind by a test cluster that no longer exists
    else
        cannot_run "$system_conf exists: this machine has a SLURM configuration (or another test cluster is running) that the test cluster would replace"
    fi
fi

# Sockets have a length limit of 107 bytes.
((${#dir} < 80)) || fail "directory $dir is too long for the daemons' sockets; use a shorter one"

# Settings: free ports on 127.0.0.1, this node's name, CPUs and memory.
read -r ctld_port slurmd_port dbd_port db_port < <("${PYTHON:-python3}" - <<'EOF'
import socket
sockets = [socket.socket() for _ in range(4)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
EOF
)
host="$(hostname -s)"
# The node offers at least 8 CPUs (slurmd accepts it: config_overrides) so that the tiny grid's
# one-CPU jobs run side by side, as on a real cluster, instead of two at a time on a small machine:
# each wave of jobs then costs the test one round of Snakemake's status checks, not several.
cpus="$(nproc)"
cpus=$(( cpus > 8 ? cpus : 8 ))
memory=16000
db_password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/db"
chmod 755 "$dir"
render() {
    sed -e "s|@DIR@|$dir|g" -e "s|@HOST@|$host|g" -e "s|@CPUS@|$cpus|g" -e "s|@MEMORY@|$memory|g" \
        -e "s|@CTLD_PORT@|$ctld_port|g" -e "s|@SLURMD_PORT@|$slurmd_port|g" \
        -e "s|@DBD_PORT@|$dbd_port|g" -e "s|@DB_PORT@|$db_port|g" -e "s|@DB_PASSWORD@|$db_password|g" \
        "$here/$1.in" >"$dir/$1"
}
render slurm.conf
render gres.conf
render slurmdbd.conf
chmod 600 "$dir/slurmdbd.conf"
export SLURM_CONF="$dir/slurm.conf"
echo "export SLURM_CONF=$SLURM_CONF" >"$dir/env"

# munge: a fresh key, a private socket.
dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge.key"
munged --force --socket="$dir/munge.sock" --key-file="$dir/munge.key" --pid-file="$dir/munged.pid" \
    --log-file="$dir/log/munged.log" --seed-file="$dir/munged.seed" </dev/null >>"$dir/log/munged.log" 2>&1 \
    || fail "munged did not start; see $dir/log/munged.log"

# MariaDB: a private data directory; slurmdbd connects over 127.0.0.1 with its own user.
mariadb-install-db --no-defaults --datadir="$dir/db/data" --user=root --auth-root-authentication-method=normal \
    --skip-test-db >"$dir/log/mariadb-install.log" 2>&1 || fail "mariadb-install-db failed; see $dir/log/mariadb-install.log"
setsid mariadbd --no-defaults --datadir="$dir/db/data" --socket="$dir/db/mysql.sock" --pid-file="$dir/mariadbd.pid" \
    --bind-address=127.0.0.1 --port="$db_port" --user=root --skip-log-bin --innodb-buffer-pool-size=64M \
    --innodb-lock-wait-timeout=900 --log-error="$dir/log/mariadb.log" </dev/null >/dev/null 2>&1 &
wait_for 60 mariadb-admin --no-defaults --socket="$dir/db/mysql.sock" -uroot ping \
    || fail "mariadbd did not come up; see $dir/log/mariadb.log"
mariadb --no-defaults --socket="$dir/db/mysql.sock" -uroot -e "
    CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$db_password';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"

# slurmdbd, then the controller (which registers the cluster with slurmdbd), then the node.
slurmdbd </dev/null >>"$dir/log/slurmdbd.log" 2>&1 || fail "slurmdbd did not start; see $dir/log/slurmdbd.log"
wait_for 60 sacctmgr -n list cluster || fail "slurmdbd does not answer; see $dir/log/slurmdbd.log"
slurmctld </dev/null >>"$dir/log/slurmctld.log" 2>&1 || fail "slurmctld did not start; see $dir/log/slurmctld.log"
slurmd </dev/null >>"$dir/log/slurmd.log" 2>&1 || fail "slurmd did not start; see $dir/log/slurmd.log"
node_idle() { [[ "$(sinfo -h -n "$host" -o %T)" == idle ]]; }
wait_for 60 node_idle || fail "node $host did not become idle; see $dir/log/slurmctld.log and slurmd.log"
mkdir -p "$(dirname "$system_conf")"
ln -s "$dir/slurm.conf" "$system_conf"

# An account to run under, as on a production cluster.
cluster_known() { sacctmgr -n -P list cluster format=cluster | grep -qx benchsuite; }
wait_for 30 cluster_known || fail "the controller did not register the cluster with slurmdbd"
sacctmgr -i add account benchsuite cluster=benchsuite description=tests organization=benchsuite >/dev/null
sacctmgr -i add user "$(id -un)" account=benchsuite cluster=benchsuite >/dev/null
echo "start_cluster.sh: cluster up in $dir (node $host, $cpus CPUs, $memory MB, 1 GPU)" >&2
