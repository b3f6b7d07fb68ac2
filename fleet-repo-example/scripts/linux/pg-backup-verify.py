#!/usr/bin/env python3
"""Fail (exit 1) when the newest pgBackRest backup of stanza "main" is too old.

Run hourly by DeployX on the database servers; a failure shows up as a failed script
on the device and raises `device.failed` on the ops webhook.
"""
import json
import os
import subprocess
import sys
import time

STANZA = os.environ.get("PGBACKREST_STANZA", "main")
MAX_AGE_HOURS = float(os.environ.get("MAX_BACKUP_AGE_HOURS", "26"))


def main() -> int:
    try:
        out = subprocess.run(
            ["pgbackrest", "--stanza", STANZA, "--output", "json", "info"],
            check=True, capture_output=True, text=True, timeout=120,
        ).stdout
    except FileNotFoundError:
        print("pgbackrest is not installed", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as err:
        print(f"pgbackrest info failed: {err.stderr.strip()}", file=sys.stderr)
        return 2

    stanzas = json.loads(out)
    if not stanzas or stanzas[0].get("status", {}).get("code") != 0:
        print(f"stanza {STANZA}: {stanzas[0]['status']['message'] if stanzas else 'missing'}", file=sys.stderr)
        return 1
    backups = stanzas[0].get("backup", [])
    if not backups:
        print(f"stanza {STANZA}: no backups yet", file=sys.stderr)
        return 1

    newest = max(backups, key=lambda b: b["timestamp"]["stop"])
    age_h = (time.time() - newest["timestamp"]["stop"]) / 3600
    print(f"stanza {STANZA}: newest {newest['type']} backup {newest['label']} is {age_h:.1f}h old")
    return 0 if age_h <= MAX_AGE_HOURS else 1


if __name__ == "__main__":
    sys.exit(main())
