#!/bin/sh
# DeployX task-sequence runner for Linux installers (POSIX sh; busybox or dash; curl or wget).
#
# Started by the rendered installer config (Debian preseed late_command, Ubuntu autoinstall
# late-commands) once the installer has partitioned the disk and installed the system into
# --root (/target). It fetches the run's task list with the one-time provisioning token, runs the
# tasks in order and reports each one (started, then succeeded or failed with the tail of its
# log). The first failing task stops the sequence unless it has continueOnError.
#
#   sh deployx-tasks.sh --server URL --token dxp_… [--root /target] [--no-reboot]
#                       [--agent-bin PATH [--agent-sandbox]]
#
# --agent-bin starts the installed agent right away (a live environment, or a test) instead of
# leaving it to the system's first boot; --agent-sandbox confines that agent under --root.
# Nothing read from the server is ever evaluated as shell code: fields are checked and passed as
# arguments.
set -u

SERVER=''
TOKEN=''
ROOT='/target'
NO_REBOOT=0
AGENT_BIN=''
AGENT_SANDBOX=0
TAB=$(printf '\t')

die() { echo "deployx-tasks: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --server) [ $# -ge 2 ] || die "--server needs a value"; SERVER=$2; shift 2 ;;
    --token) [ $# -ge 2 ] || die "--token needs a value"; TOKEN=$2; shift 2 ;;
    --root) [ $# -ge 2 ] || die "--root needs a value"; ROOT=$2; shift 2 ;;
    --no-reboot) NO_REBOOT=1; shift ;;
    --agent-bin) [ $# -ge 2 ] || die "--agent-bin needs a value"; AGENT_BIN=$2; shift 2 ;;
    --agent-sandbox) AGENT_SANDBOX=1; shift ;;
    *) die "unknown argument $1" ;;
  esac
done

# Strict alphabets: a URL of scheme://host[:port], a base64url token, safe names.
case "$SERVER" in http://*|https://*) ;; *) die "--server must be an http(s) URL" ;; esac
case "${SERVER#*://}" in ''|*[!A-Za-z0-9.:\[\]-]*) die "--server must be scheme://host[:port]" ;; esac
case "$TOKEN" in dxp_*) ;; *) die "--token must be a provisioning token (dxp_…)" ;; esac
case "${TOKEN#dxp_}" in ''|*[!A-Za-z0-9_-]*) die "--token has characters a token cannot have" ;; esac
[ -d "$ROOT" ] || die "--root $ROOT is not a directory"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/deployx-tasks.XXXXXX") || die "cannot create a work directory"
trap 'rm -rf "$WORK"' EXIT

if command -v curl >/dev/null 2>&1; then HTTP=curl
elif command -v wget >/dev/null 2>&1; then HTTP=wget
else die "neither curl nor wget is available"
fi

http_get() { # URL OUTFILE
  if [ "$HTTP" = curl ]; then
    curl -fsS --retry 3 --retry-delay 2 -H "Authorization: Bearer $TOKEN" -o "$2" "$1"
  else
    wget -q --header "Authorization: Bearer $TOKEN" -O "$2" "$1"
  fi
}

report() { # INDEX STATUS EXITCODE LOGFILE
  url="$SERVER/pxe/v1/tasks/$1/status?status=$2&exitCode=$3"
  body="$WORK/report.txt"
  if [ -n "$4" ] && [ -f "$4" ]; then tail -c 8192 "$4" > "$body"; else : > "$body"; fi
  tries=0
  while :; do
    if [ "$HTTP" = curl ]; then
      curl -fsS -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/plain' --data-binary "@$body" -o /dev/null "$url" && return 0
    else
      wget -q -O /dev/null --header "Authorization: Bearer $TOKEN" --header 'Content-Type: text/plain' --post-file="$body" "$url" && return 0
    fi
    tries=$((tries + 1))
    [ "$tries" -ge 5 ] && { echo "deployx-tasks: could not report task $1 $2" >&2; return 1; }
    sleep 2
  done
}

is_word() { case "$1" in ''|*[!A-Za-z0-9._-]*) return 1 ;; *) return 0 ;; esac; }

# ---- the task list ----
http_get "$SERVER/pxe/v1/tasks?format=lines" "$WORK/tasks" || die "cannot fetch the task list (token refused or server unreachable)"
DEVICE=''; HOSTNAME_WANTED=''; ENROLL=''
while IFS="$TAB" read -r kind value _rest; do
  case "$kind" in
    device) DEVICE=$value ;;
    hostname) HOSTNAME_WANTED=$value ;;
    enroll) ENROLL=$value ;;
  esac
done < "$WORK/tasks"
is_word "$DEVICE" || die "the task list names no valid device"
case "$HOSTNAME_WANTED" in ''|*[!a-z0-9-]*) die "the task list names no valid hostname" ;; esac
case "$ENROLL" in dxe_*) ;; *) die "the task list has no enrollment token" ;; esac
case "${ENROLL#dxe_}" in ''|*[!A-Za-z0-9_.-]*) die "the enrollment token has characters a token cannot have" ;; esac
echo "deployx-tasks: device $DEVICE, hostname $HOSTNAME_WANTED, root $ROOT"

# ---- task kinds ----
# The Linux installers partition, install and configure the system themselves from the rendered
# config; here those tasks verify that the result is there.
task_partition() { # LAYOUT DISK
  echo "layout $1 on ${2:-the first disk}, done by the installer's partitioner"
  [ -d "$ROOT/etc" ] || { echo "no installed system under $ROOT"; return 1; }
  if command -v df >/dev/null 2>&1; then df -h "$ROOT" 2>/dev/null || true; fi
}

task_apply_image() {
  [ -f "$ROOT/etc/os-release" ] || { echo "$ROOT/etc/os-release is missing: the image was not installed"; return 1; }
  cat "$ROOT/etc/os-release"
}

task_inject_config() {
  mkdir -p "$ROOT/etc/deployx" || return 1
  printf '%s\n' "$HOSTNAME_WANTED" > "$ROOT/etc/hostname" || return 1
  if [ -f "$ROOT/etc/hosts" ] && grep -q "[[:space:]]$HOSTNAME_WANTED\$" "$ROOT/etc/hosts"; then :; else
    printf '127.0.1.1\t%s\n' "$HOSTNAME_WANTED" >> "$ROOT/etc/hosts" || return 1
  fi
  printf 'DEPLOYX_DEVICE=%s\nDEPLOYX_HOSTNAME=%s\nDEPLOYX_SERVER=%s\n' "$DEVICE" "$HOSTNAME_WANTED" "$SERVER" > "$ROOT/etc/deployx/provisioning.env" || return 1
  echo "hostname $HOSTNAME_WANTED written"
}

task_install_agent() {
  mkdir -p "$ROOT/etc/deployx" "$ROOT/var/lib/deployx" "$ROOT/etc/systemd/system/multi-user.target.wants" "$ROOT/run" "$ROOT/var/log" || return 1
  umask 077
  printf 'DEPLOYX_SERVER=%s\nDEPLOYX_ENROLLMENT_TOKEN=%s\nDEPLOYX_DEVICE=%s\n' "$SERVER" "$ENROLL" "$DEVICE" > "$ROOT/etc/deployx/agent.env" || return 1
  umask 022
  cat > "$ROOT/etc/systemd/system/deployx-agent.service" <<'UNIT' || return 1
[Unit]
Description=DeployX agent
After=network-online.target
Wants=network-online.target

[Service]
EnvironmentFile=/etc/deployx/agent.env
ExecStart=/usr/bin/deployx agent --server ${DEPLOYX_SERVER} --state /var/lib/deployx
Restart=always
RestartSec=10

[Install]
WantedBy=multi-user.target
UNIT
  ln -sf ../deployx-agent.service "$ROOT/etc/systemd/system/multi-user.target.wants/deployx-agent.service" || return 1
  echo "agent service installed and enabled for device $DEVICE"
  if [ -z "$AGENT_BIN" ]; then
    [ -x "$ROOT/usr/bin/deployx" ] || { echo "$ROOT/usr/bin/deployx is missing: the image must carry the agent"; return 1; }
    return 0
  fi
  # Start it now and wait for its enrollment (the credential it stores names its device).
  state="$ROOT/var/lib/deployx"
  if [ "$AGENT_SANDBOX" = 1 ]; then
    DEPLOYX_ENROLLMENT_TOKEN=$ENROLL nohup "$AGENT_BIN" agent --server "$SERVER" --state "$state" --root "$ROOT" </dev/null >"$ROOT/var/log/deployx-agent.log" 2>&1 &
  else
    DEPLOYX_ENROLLMENT_TOKEN=$ENROLL nohup "$AGENT_BIN" agent --server "$SERVER" --state "$state" </dev/null >"$ROOT/var/log/deployx-agent.log" 2>&1 &
  fi
  echo $! > "$ROOT/run/deployx-agent.pid"
  i=0
  while [ "$i" -lt 120 ]; do
    if [ -f "$state/credential.json" ] && grep -q "\"$DEVICE\"" "$state/credential.json"; then
      echo "agent (pid $(cat "$ROOT/run/deployx-agent.pid")) enrolled as $DEVICE"
      return 0
    fi
    kill -0 "$(cat "$ROOT/run/deployx-agent.pid")" 2>/dev/null || { echo "the agent exited"; tail -n 20 "$ROOT/var/log/deployx-agent.log"; return 1; }
    sleep 0.5
    i=$((i + 1))
  done
  echo "the agent did not enroll within 60 s"; tail -n 20 "$ROOT/var/log/deployx-agent.log"
  return 1
}

task_run_script() { # SHA256 INTERPRETER TIMEOUT INDEX
  case "$1" in *[!0-9a-f]*|'') echo "bad script hash"; return 1 ;; esac
  [ ${#1} -eq 64 ] || { echo "bad script hash"; return 1; }
  file="$WORK/script-$4"
  http_get "$SERVER/pxe/v1/artifacts/sha256/$1" "$file" || { echo "cannot download script $1"; return 1; }
  if command -v sha256sum >/dev/null 2>&1; then
    got=$(sha256sum "$file" | cut -d' ' -f1)
    [ "$got" = "$1" ] || { echo "script hash $got does not match $1"; return 1; }
  else
    echo "sha256sum is missing: cannot verify the script"; return 1
  fi
  case "$2" in
    sh) interp=sh ;;
    bash) interp=bash ;;
    python) interp=python3 ;;
    *) echo "interpreter $2 does not run in a Linux installer"; return 1 ;;
  esac
  if command -v timeout >/dev/null 2>&1 && [ "$3" != - ]; then
    DEPLOYX_ROOT=$ROOT DEPLOYX_DEVICE=$DEVICE DEPLOYX_HOSTNAME=$HOSTNAME_WANTED timeout "$3" "$interp" "$file" </dev/null
  else
    DEPLOYX_ROOT=$ROOT DEPLOYX_DEVICE=$DEVICE DEPLOYX_HOSTNAME=$HOSTNAME_WANTED "$interp" "$file" </dev/null
  fi
}

# ---- run ----
failed=0
REBOOT=0
while IFS="$TAB" read -r kind index type coe layout disk sha interp timeout name; do
  [ "$kind" = task ] || continue
  case "$index" in ''|*[!0-9]*) die "bad task index" ;; esac
  [ "$layout" = - ] && layout=''
  [ "$disk" = - ] && disk=''
  log="$WORK/task-$index.log"
  echo "deployx-tasks: [$index] $type: $name"
  report "$index" started '' '' || exit 1
  case "$type" in
    partition) task_partition "$layout" "$disk" > "$log" 2>&1 ;;
    apply-image) task_apply_image > "$log" 2>&1 ;;
    inject-config) task_inject_config > "$log" 2>&1 ;;
    install-agent) task_install_agent > "$log" 2>&1 ;;
    run-script) task_run_script "$sha" "$interp" "$timeout" "$index" > "$log" 2>&1 ;;
    reboot)
      if [ "$NO_REBOOT" = 1 ]; then echo "the installer reboots when it finishes" > "$log"; else REBOOT=1; echo "rebooting" > "$log"; fi ;;
    *) echo "unknown task type $type" > "$log"; false ;;
  esac
  rc=$?
  sed 's/^/    /' "$log"
  if [ "$rc" -eq 0 ]; then
    report "$index" succeeded 0 "$log" || exit 1
  else
    report "$index" failed "$rc" "$log" || exit 1
    if [ "$coe" != 1 ]; then
      echo "deployx-tasks: task $index ($type) failed with $rc; stopping" >&2
      failed=1
      break
    fi
  fi
done < "$WORK/tasks"

[ "$failed" = 0 ] || exit 1
echo "deployx-tasks: every task finished"
if [ "$REBOOT" = 1 ]; then reboot; fi
exit 0
