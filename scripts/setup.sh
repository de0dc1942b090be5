#!/usr/bin/env bash
# Installs what camscan, its tests and its lab (lab/, package camscan_lab) need: system tools (as root, via apt) and a .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  command -v ip >/dev/null || missing+=(iproute2)
  command -v tcpdump >/dev/null || missing+=(tcpdump)
  command -v nmap >/dev/null || missing+=(nmap)
  command -v curl >/dev/null || missing+=(curl)  # the passive lab test browses the lab with it
  command -v chromium >/dev/null || missing+=(chromium)  # renders the HTML report in its test
  command -v tmux >/dev/null || missing+=(tmux)  # the terminal the output tests look at
  command -v redis-server >/dev/null || missing+=(redis-server)  # the district tests' broker (started by their fixture)
  command -v soffice >/dev/null || missing+=(libreoffice-calc-nogui)  # opens the CSV export in its test (~280 MB)
  [ -e /usr/lib/x86_64-linux-gnu/libpcap.so.0.8 ] || [ -e /usr/lib/aarch64-linux-gnu/libpcap.so.0.8 ] || missing+=(libpcap0.8)
  if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[test,mutation]' -e ./lab  # the lab: its own package, outside camscan's wheel
