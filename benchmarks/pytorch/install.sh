#!/usr/bin/env bash
# Installs the Python user's reference for the benchmarks: Debian's PyTorch (python3-torch) with the threaded
# OpenBLAS (libopenblas0-pthread), from the distribution's own packages. Idempotent: does nothing when torch
# already imports. Refuses to go on if the install would upgrade any package already on the system.
set -euo pipefail
packages=(python3-torch libopenblas0-pthread)
if /usr/bin/python3 -c "import torch" 2>/dev/null && dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  echo "python3-torch already installed: $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "Run as root (apt-get install)." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Take the new packages from the release itself (-t <codename>), not from its security/updates suites: a newer
# library from those would drag an upgrade of its installed sibling (e.g. libpcre2-16-0 -> libpcre2-8-0).
release="$(. /etc/os-release && echo "${VERSION_CODENAME:-stable}")"
# A dry run first: only new packages may appear, never an upgrade of an installed one ("Inst name [old version]").
upgrades="$(apt-get install -s --no-install-recommends -t "$release" "${packages[@]}" | grep -E '^Inst [^ ]+ \[' || true)"
if [ -n "$upgrades" ]; then
  echo "Installing ${packages[*]} would upgrade installed packages; not proceeding:" >&2
  echo "$upgrades" >&2
  exit 1
fi
apt-get install -y -qq --no-install-recommends --no-upgrade -t "$release" "${packages[@]}"
/usr/bin/python3 -c "import torch; print('installed torch', torch.__version__)"
