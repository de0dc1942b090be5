#!/usr/bin/env bash
# Mutation testing of the safety code: src/camscan/scope.py (the one allowed() decision) and
# src/camscan/transport/guard.py (the send guard), with cosmic-ray (config: scripts/mutation.toml).
# Every mutant must be killed by the fast scope and send-guard tests, or be listed with the
# reason it is equivalent in scripts/mutation-equivalent.yaml; otherwise this exits 1.
#
# It runs on a copy of the tree (cosmic-ray edits the files it mutates), inside a network
# namespace whose only interface is a loopback that is down: there is no route anywhere, so
# a mutant that let a send through could not send it.
#
#   scripts/mutation.sh            # needs root, or unprivileged user namespaces
#   PYTHON=/path/to/python scripts/mutation.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
bin="$(dirname "$python")"
if [ ! -x "$bin/cosmic-ray" ]; then
    echo "mutation.sh: cosmic-ray is not installed: $bin/pip install -e '$repo[mutation]'" >&2
    exit 2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$repo/src" "$repo/tests" "$repo/signatures" "$repo/scripts" "$repo/pyproject.toml" "$work"
# cosmic-ray runs the tests with PYTHONDONTWRITEBYTECODE: compile the unmutated modules once.
"$python" -m compileall -q "$work/src" "$work/tests" >/dev/null

if [ "$(id -u)" -eq 0 ]; then isolate=(unshare --net); else isolate=(unshare --user --map-root-user --net); fi
if ! "${isolate[@]}" true 2>/dev/null; then
    echo "mutation.sh: cannot open a network namespace (${isolate[*]}); refusing to run mutants outside one" >&2
    exit 2
fi

cd "$work"
"${isolate[@]}" env PATH="$bin:$PATH" PYTHONPATH="$work/src" bash -euo pipefail -c '
    python -c "import camscan, sys; sys.exit(not camscan.__file__.startswith(\"$PWD/src/\"))" \
        || { echo "mutation.sh: camscan is not imported from the copy under test" >&2; exit 2; }
    cosmic-ray init scripts/mutation.toml session.sqlite
    cosmic-ray baseline scripts/mutation.toml
    started=$SECONDS
    cosmic-ray exec scripts/mutation.toml session.sqlite
    echo "mutation.sh: $(cosmic-ray dump session.sqlite | wc -l) mutants in $((SECONDS - started)) s" >&2
    cosmic-ray dump session.sqlite | python scripts/mutation_survivors.py scripts/mutation-equivalent.yaml
'
