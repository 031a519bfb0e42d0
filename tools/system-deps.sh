#!/usr/bin/env bash
# Install the Debian packages listed in system-packages.txt that are missing.
# As root (or with passwordless sudo) it installs them; otherwise it says how, and the tests
# that need them skip with that message. With CI=true a missing package is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' system-packages.txt | grep -v '^$' || true)
[ ${#wanted[@]} -gt 0 ] || exit 0
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -gt 0 ] || { echo "system packages present: ${wanted[*]}"; exit 0; }
if ! command -v apt-get >/dev/null; then
  echo "note: no apt-get here; install ${missing[*]} with your package manager. Tests that need them will skip."
  [ "${CI:-}" = "true" ] && exit 1 || exit 0
fi
if [ "$(id -u)" = 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo -n); else
  echo "note: missing system packages: ${missing[*]}. Install them with:"
  echo "  sudo apt-get install -y ${missing[*]}"
  echo "Tests that need them will skip until then."
  [ "${CI:-}" = "true" ] && exit 1 || exit 0
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
