#!/usr/bin/env bash
# Stop the cluster that start_cluster.sh brought up in DIR: cancel its jobs, stop each daemon by
# the process id it recorded, and remove the /etc/slurm/slurm.conf link to DIR. Safe to run twice
# and after a start that failed half-way.
#
#   stop_cluster.sh DIR
set -uo pipefail

dir="$(cd "${1:?usage: stop_cluster.sh DIR}" && pwd)" || exit 0
export PATH="$PATH:/usr/sbin:/sbin"
export SLURM_CONF="$dir/slurm.conf"
system_conf=/etc/slurm/slurm.conf

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Stop the daemon whose pid file is $1: SIGTERM, then SIGKILL after $2 seconds.
stop() {
    local pidfile="$dir/$1" seconds="$2" pid deadline
    [[ -f "$pidfile" ]] || return 0
    pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || return 0
    deadline=$((SECONDS + seconds))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            kill -KILL "$pid" 2>/dev/null
            break
        fi
        sleep 0.2
    done
}

# Cancel every job and give the steps a moment to end, while the daemons still run.
if alive "$dir/slurmctld.pid"; then
    squeue -h -o %A | xargs -r scancel
    deadline=$((SECONDS + 20))
    while [[ -n "$(squeue -h -o %A 2>/dev/null)" ]] && ((SECONDS < deadline)); do sleep 0.5; done
fi

stop slurmd.pid 15
stop slurmctld.pid 15
stop slurmdbd.pid 15
stop mariadbd.pid 30
stop munged.pid 10

if [[ -L "$system_conf" && "$(readlink "$system_conf")" == "$dir/slurm.conf" ]]; then
    rm -f "$system_conf"
fi
exit 0
