#!/usr/bin/env bash
# Installs the lowest version of every direct dependency that pyproject.toml declares (the
# test extra too) into .venv-lowest and runs the unit and replay tests there, so a declared
# minimum that no longer works fails CI instead of a user's install.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/lowest_direct_versions.py test > .venv-lowest.txt
[ -x .venv-lowest/bin/python ] || python3 -m venv .venv-lowest
.venv-lowest/bin/pip install -q --upgrade pip >/dev/null
.venv-lowest/bin/pip install -q -r .venv-lowest.txt
.venv-lowest/bin/pip install -q --no-deps -e . -e ./lab
# Typing is checked against the versions scripts/setup.sh installs (tests/unit/test_typing.py in
# README's test command): the lowest ones annotate differently (scapy 2.5 ships no types, and
# click 8.3.1's ClickException.message is not yet Final), which says nothing about running.
.venv-lowest/bin/python -m pytest -q -p no:cacheprovider tests/unit tests/replay --ignore=tests/unit/test_typing.py
