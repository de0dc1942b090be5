"""Read ``cosmic-ray dump`` output on stdin; exit 1 if a mutant survived that the equivalent list
(argument: a YAML file) does not name, if a listed one no longer survives, or if a mutant did not run.

A mutant is named by its module and the source line before and after the mutation, which stay
the same when other lines move.
"""

from __future__ import annotations

import json
import sys

import yaml


def changed_lines(diff: str) -> tuple[str, str]:
    """The (original, mutated) line of a one-line mutation's unified diff."""
    removed = [line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return "\n".join(removed), "\n".join(added)


def main(equivalent_path: str) -> int:
    listed = {(entry["module"], entry["original"].strip(), mutated.strip()): entry["reason"]
              for entry in yaml.safe_load(open(equivalent_path)) or [] for mutated in entry["mutated"]}
    survivors, unrun, killed = [], [], 0
    for line in sys.stdin:
        item, result = json.loads(line)
        [mutation] = item["mutations"]
        where = f"{mutation['module_path']}:{mutation['start_pos'][0]} {mutation['operator_name']}"
        if result is None or result["worker_outcome"] not in ("normal", "abnormal"):
            unrun.append(f"{where}: {result['worker_outcome'] if result else 'not run'}")
        elif result["test_outcome"] == "survived":
            survivors.append((where, (mutation["module_path"], *changed_lines(result["diff"])), result["diff"]))
        else:
            killed += 1
    surviving_keys = {key for _where, key, _diff in survivors}
    unexplained = [(where, diff) for where, key, diff in survivors if key not in listed]
    stale = [key for key in listed if key not in surviving_keys]
    print(f"{killed} killed, {len(survivors) - len(unexplained)} equivalent (listed), {len(unexplained)} survived, "
          f"{len(unrun)} not run")
    for where, diff in unexplained:
        print(f"\nSURVIVED {where}\n{diff}")
    for entry in unrun:
        print(f"NOT RUN {entry}")
    for module, original, mutated in stale:
        print(f"LISTED AS EQUIVALENT BUT NOT SURVIVING (remove it from {equivalent_path}): {module}: "
              f"{original!r} -> {mutated!r}")
    return 1 if unexplained or unrun or stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
