"""Print camscan's figures on the blind set (tests/blind/devices.yaml): the table, breakdowns and misses.

Usage: python scripts/blind_report.py   (from the repository, with camscan installed)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "blind"))

import measure  # noqa: E402  (tests/blind is no package)

devices = measure.load_devices()
problems = measure.problems(devices)
if problems:
    sys.exit("the blind set is malformed:\n" + "\n".join(problems))
print(measure.report(measure.measure(devices)))
