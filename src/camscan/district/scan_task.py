"""The process a sensor runs one task's scan in: the task (the sensor's configuration and the
checked request) as JSON on standard input, the scan through the scan library.

A process of its own so that it can enter the sensor's network namespace (``ip netns exec``)
and die with the sensor (its task then goes back to the queue). Exit status: 0 complete, 130
interrupted, 1 an error a user can act on (its message the last line on standard error).
"""

from __future__ import annotations

import json
import sys

from camscan.district.queue import SensorConfig, scan_for
from camscan.errors import UserError


def main() -> int:
    task = json.load(sys.stdin)
    try:
        result = scan_for(SensorConfig(**task["config"]), task["request"]).run()
    except UserError as error:
        print(error, file=sys.stderr)
        return 1
    return 130 if result.status == "interrupted" else 0


if __name__ == "__main__":
    sys.exit(main())
