#!/usr/bin/env bash
# Start dockerd when none answers, so the sandbox tests run for real (in CI and on fresh machines).
# Idempotent: exits 0 at once when `docker info` already answers. Needs root when it has to start the daemon.
set -euo pipefail

LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
WAIT_S=${DOCKERD_WAIT_S:-60}

answers() { timeout 10 docker info >/dev/null 2>&1; }

if answers; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-dockerd: docker does not answer and starting dockerd needs root (run: sudo $0)" >&2
    exit 1
fi
if ! command -v dockerd >/dev/null 2>&1; then
    echo "ensure-dockerd: dockerd is not installed (apt-get install docker.io)" >&2
    exit 1
fi

# A crashed daemon leaves pid files and sockets that make the next dockerd refuse to start. A pid file only counts
# when its process is alive, not a zombie, and really a docker daemon (pids get reused after a reboot or a kill).
live_daemon() {
    local pid=$1 state comm
    [ -r "/proc/$pid/stat" ] || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo X)
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || echo "")
    [ "$state" != "Z" ] && [ "$state" != "X" ] && { [ "$comm" = dockerd ] || [ "$comm" = containerd ]; }
}
for pidfile in /var/run/docker.pid /run/docker/containerd/containerd.pid /var/run/docker/containerd/containerd.pid \
               /run/containerd/containerd.pid; do
    if [ -f "$pidfile" ]; then
        pid=$(cat "$pidfile" 2>/dev/null || true)
        if [ -n "$pid" ] && live_daemon "$pid"; then
            # Maybe still starting: give it a moment before declaring it hung, then replace it.
            for _ in 1 2 3; do
                answers && exit 0
                live_daemon "$pid" || break
                sleep 1
            done
            if live_daemon "$pid"; then
                echo "ensure-dockerd: $(cat /proc/$pid/comm) (pid $pid) does not answer; restarting it" >&2
                kill "$pid" 2>/dev/null || true
                for _ in $(seq 1 20); do live_daemon "$pid" || break; sleep 0.5; done
                kill -9 "$pid" 2>/dev/null || true
            fi
        fi
        rm -f "$pidfile"
    fi
done
rm -f /var/run/docker.sock /run/docker/containerd/containerd.sock /var/run/docker/containerd/containerd.sock \
      /run/docker/containerd/containerd-debug.sock /run/containerd/containerd.sock

mkdir -p "$(dirname "$LOG")"
# its own session (setsid): a daemon started from a job that is later killed as a process group (a test runner, an
# agent's shell) must outlive it — one started with nohup alone died with its caller and the sandbox went down
setsid nohup dockerd >>"$LOG" 2>&1 </dev/null &
echo "ensure-dockerd: started dockerd (pid $!), logs in $LOG" >&2

for _ in $(seq 1 "$WAIT_S"); do
    if answers; then
        exit 0
    fi
    sleep 1
done
echo "ensure-dockerd: dockerd did not answer within ${WAIT_S}s; last log lines:" >&2
tail -n 20 "$LOG" >&2 || true
exit 1
