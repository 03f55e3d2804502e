#!/usr/bin/env bash
# Install the Debian packages listed in .ci/apt-packages.txt that are not installed yet.
# Needs root (or sudo); does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
while read -r pkg; do
    pkg="${pkg%%#*}"; pkg="${pkg// /}"
    [ -z "$pkg" ] && continue
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done < .ci/apt-packages.txt
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing system packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
