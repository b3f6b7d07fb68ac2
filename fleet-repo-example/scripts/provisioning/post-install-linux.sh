#!/bin/sh
# Runs in the installer environment after the DeployX agent has been installed into the
# target system (mounted at $TARGET_ROOT), before the final reboot.
# POSIX sh on purpose: the Debian installer environment only has busybox ash.
set -eu

TARGET_ROOT="${TARGET_ROOT:-/target}"

# Provisioning stamp, read by the agent's first report.
mkdir -p "$TARGET_ROOT/etc/contoso"
{
  echo "provisioned_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "provisioned_by=deployx"
} > "$TARGET_ROOT/etc/contoso/provisioned"

# Serial console for the out-of-band management (iLO/iDRAC virtual serial port).
if [ -f "$TARGET_ROOT/etc/default/grub" ]; then
  sed -i 's/^GRUB_CMDLINE_LINUX=.*/GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"/' \
    "$TARGET_ROOT/etc/default/grub"
  chroot "$TARGET_ROOT" update-grub || echo "post-install: update-grub failed, continuing" >&2
fi

# Contoso internal CA, so the agent and apt trust the internal mirrors over HTTPS.
if [ -f /cdrom/contoso/contoso-root-ca.crt ]; then
  cp /cdrom/contoso/contoso-root-ca.crt "$TARGET_ROOT/usr/local/share/ca-certificates/"
  chroot "$TARGET_ROOT" update-ca-certificates
fi

# The DeployX agent must start on first boot.
chroot "$TARGET_ROOT" systemctl enable deployx-agent.service
