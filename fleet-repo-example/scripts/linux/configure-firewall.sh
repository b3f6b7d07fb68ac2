#!/usr/bin/env bash
# Default-deny host firewall for the web front ends (ufw).
# ALLOW_PORTS and ADMIN_CIDR come from the Script's `env` (scripts/configure-firewall.yaml).
set -euo pipefail

ALLOW_PORTS="${ALLOW_PORTS:-80,443}"
ADMIN_CIDR="${ADMIN_CIDR:-10.20.40.0/24}"

ufw --force reset >/dev/null
ufw default deny incoming
ufw default allow outgoing

# ssh only from the bastion/admin network, so enabling the firewall never drops our session.
ufw allow proto tcp from "$ADMIN_CIDR" to any port 22 comment 'ssh from admin VLAN'
# node exporter, scraped by Prometheus from the admin VLAN.
ufw allow proto tcp from "$ADMIN_CIDR" to any port 9100 comment 'prometheus node-exporter'

IFS=',' read -ra ports <<<"$ALLOW_PORTS"
for port in "${ports[@]}"; do
  ufw allow "${port}/tcp" comment 'public service'
done

ufw logging low
ufw --force enable
ufw status verbose
