"""camscan's emulated lab: fake cameras, recorders and other devices to scan safely.

Two tiers share the same device profiles and servers:

* :class:`LoopbackLab` — hosts on 127.x.y.z addresses, no privileges beyond binding
  low ports; fast, for unit tests and quick demos.
* :class:`NamespaceLab` — hosts in Linux network namespaces (root only) on a private
  bridge, with real MACs and ARP, for end-to-end runs and the benchmark.

>>> from camscan_lab import generate_lab, LoopbackLab
>>> with LoopbackLab(generate_lab(10, "127.77.0.0/22", seed=1)) as hosts:
...     ...
"""

from camscan_lab.loopback import LoopbackLab
from camscan_lab.netns import NamespaceLab, NamespaceLabError, cleanup_stale
from camscan_lab.profiles import LabHost, Profile, build_hosts, generate_lab, get_profile, load_profiles
from camscan_lab.servers import LabRuntime

__all__ = [
    "LabHost",
    "LabRuntime",
    "LoopbackLab",
    "NamespaceLab",
    "NamespaceLabError",
    "Profile",
    "build_hosts",
    "cleanup_stale",
    "generate_lab",
    "get_profile",
    "load_profiles",
]
