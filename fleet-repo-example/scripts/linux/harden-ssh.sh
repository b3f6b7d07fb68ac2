#!/usr/bin/env bash
# Validate the sshd configuration (including the DeployX-managed drop-in
# /etc/ssh/sshd_config.d/50-hardening.conf) and reload the daemon.
# Never restarts: a reload keeps existing sessions, so a bad push cannot lock us out
# of a machine we are logged into.
set -euo pipefail

DROPIN=/etc/ssh/sshd_config.d/50-hardening.conf

if [[ ! -f "$DROPIN" ]]; then
  echo "harden-ssh: $DROPIN is missing; the sshd-hardening file deployment has not run yet" >&2
  exit 3
fi

# Older images ship an sshd_config without the Include line.
if ! grep -qE '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\.d/\*\.conf' /etc/ssh/sshd_config; then
  echo "harden-ssh: adding Include for sshd_config.d to /etc/ssh/sshd_config"
  sed -i '1i Include /etc/ssh/sshd_config.d/*.conf' /etc/ssh/sshd_config
fi

# Debian/Ubuntu call the unit "ssh", RHEL-family "sshd".
if systemctl cat ssh.service >/dev/null 2>&1; then
  unit=ssh.service
else
  unit=sshd.service
fi

# sshd -t exits non-zero and prints the offending line when the config is invalid.
if ! sshd -t; then
  echo "harden-ssh: sshd configuration is invalid, NOT reloading" >&2
  exit 2
fi

# try-reload: Ubuntu 24.04 socket-activates ssh.service, which may not be running yet;
# it then reads the new configuration when it next starts.
systemctl try-reload-or-restart "$unit"
echo "harden-ssh: reloaded $unit (if running); effective settings:"
sshd -T | grep -E '^(permitrootlogin|passwordauthentication|maxauthtries|allowgroups) '
