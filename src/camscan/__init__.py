"""camscan: find and identify the CCTV cameras, DVRs and NVRs on networks you are authorised to scan.

The scan library runs a scan and records it in an inventory (an SQLite file)::

    import camscan

    result = camscan.run_scan(["198.18.0.0/24"], db_path="camscan.db", site="School A")
    print(result.status, len(result.devices))
    for device in result.devices:
        print(device["ip"], device["vendor"], device["model"], device["device_type"])

``camscan.Scan`` holds the same options for a caller that shows what a scan will touch
first, or follows its progress (``on_progress``); ``replay=`` answers every probe from a
recording and sends nothing. ``camscan.open_inventory`` opens an inventory to read (its
file untouched) or to write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from camscan.inventory import open_inventory
    from camscan.scanner import Progress
    from camscan.scanning import Scan, ScanResult, run_scan

# Loaded on first use (PEP 562): `import camscan` for its version stays as light as the command line needs.
_LIBRARY = {"Scan": "camscan.scanning", "ScanResult": "camscan.scanning", "run_scan": "camscan.scanning",
            "Progress": "camscan.scanner", "open_inventory": "camscan.inventory"}
__all__ = ["Progress", "Scan", "ScanResult", "__version__", "open_inventory", "run_scan"]


def __getattr__(name: str):
    if name not in _LIBRARY:
        raise AttributeError(f"module 'camscan' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LIBRARY[name]), name)
