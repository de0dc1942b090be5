"""Run the lab by hand: ``python -m camscan_lab up --hosts 200 --seed 1``.

``up`` prints the lab's truth as JSON on stdout (or to ``--truth FILE``; each host lists
the discovery protocols it answers; ``--recorders`` brings up the recorder lab, whose
recorders list their channels) and serves until Ctrl-C / SIGTERM, then tears
everything down.  ``profiles`` lists the device profiles and what discovery they answer;
``cleanup`` removes namespaces left by a crashed run.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from camscan_lab.loopback import DEFAULT_NETWORK as LOOPBACK_NETWORK, LoopbackLab
from camscan_lab.netns import DEFAULT_NETWORK as NETNS_NETWORK, NamespaceLab, cleanup_stale
from camscan_lab.profiles import DISCOVERY, generate_lab, load_profiles
from camscan_lab.recorders import recorder_lab


def _wait_for_signal() -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: done.set())
    while not done.wait(1.0):
        pass


def _up(args: argparse.Namespace) -> int:
    network = args.network or (NETNS_NETWORK if args.tier == "netns" else LOOPBACK_NETWORK)
    if args.recorders:
        hosts = recorder_lab(network, seed=args.seed)
    else:
        hosts = generate_lab(args.hosts, network, args.seed, camera_fraction=args.camera_fraction)
    if args.tier == "netns":
        lab = NamespaceLab(hosts, prefix=args.prefix, network=network)
        lab.__enter__()
        info = {
            "tier": "netns",
            "network": lab.network,
            "scanner_ip": lab.scanner_ip,
            "scanner_netns": lab.scanner_netns,
            "interface": lab.interface,
            "exec_prefix": lab.exec_argv([]),
            "bringup_seconds": round(lab.bringup_seconds or 0.0, 3),
        }
        stop = lambda: lab.__exit__(None, None, None)  # noqa: E731
    else:
        lab = LoopbackLab(hosts)
        lab.__enter__()
        info = {"tier": "loopback", "network": network, "scanner_ip": None}
        stop = lambda: lab.__exit__(None, None, None)  # noqa: E731
    try:
        info.update(seed=args.seed, hosts=[h.to_dict() for h in hosts])
        text = json.dumps(info, indent=2)
        if args.truth:
            with open(args.truth, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
        else:
            print(text, flush=True)
        print(f"lab up: {len(hosts)} hosts on {network} ({args.tier}); Ctrl-C to stop", file=sys.stderr, flush=True)
        _wait_for_signal()
    finally:
        stop()
        print("lab down", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m camscan_lab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="bring a lab up and serve until interrupted")
    up.add_argument("--hosts", type=int, default=50)
    up.add_argument("--seed", type=int, default=1)
    up.add_argument("--tier", choices=("netns", "loopback"), default="netns")
    up.add_argument("--network", help="default 198.18.0.0/22 (netns) or 127.77.0.0/22 (loopback)")
    up.add_argument("--prefix", default="csl", help="namespace name prefix (netns tier)")
    up.add_argument("--camera-fraction", type=float, default=0.75)
    up.add_argument("--truth", help="write the truth JSON here instead of stdout")
    up.add_argument("--recorders", action="store_true",
                    help="the recorder lab instead (issue 15): five recorders, their channels in the truth, and the "
                         "LAN cameras behind them; --hosts is ignored")
    sub.add_parser("profiles", help="list device profiles")
    clean = sub.add_parser("cleanup", help="delete namespaces left by a crashed run")
    clean.add_argument("--prefix", default="csl")
    args = parser.parse_args(argv)
    if args.command == "up":
        return _up(args)
    if args.command == "profiles":
        for p in load_profiles():
            t = p.truth
            kinds = ",".join(f"{port}/{spec['kind']}" for port, spec in sorted(p.services.items())) or "-"
            answers = ",".join(name for name in DISCOVERY if name in p.discovery) or "-"
            print(f"{p.name:26} {'camera' if p.is_camera else 'other ':6} {t['device_type']:13} {str(t['vendor']):10} "
                  f"{kinds}  discovery:{answers}")
        return 0
    if args.command == "cleanup":
        removed = cleanup_stale(args.prefix)
        print(f"removed {len(removed)} namespace(s)")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
