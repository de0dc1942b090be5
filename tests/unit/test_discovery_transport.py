"""Where discovery may multicast, and what mDNS browsing accepts from other hosts."""

def test_multicast_only_on_links_whose_every_network_is_in_scope(monkeypatch):
    import ipaddress

    from camscan.scope import Scope
    from camscan.transport import discovery_sockets

    links = {
        "lab0": ["198.18.0.1/22"],
        "two": ["198.18.0.1/22", "192.0.2.5/24"],  # a second network outside scope
        "p2p": ["198.18.1.9/32"],  # neighbours unknowable
    }
    monkeypatch.setattr(discovery_sockets.socket, "if_nameindex", lambda: list(enumerate(links)))
    monkeypatch.setattr(discovery_sockets, "interface_links", lambda name: [ipaddress.IPv4Interface(a) for a in links[name]])
    assert set(discovery_sockets.multicast_links(Scope(["198.18.0.0/22"]))) == {"lab0"}
    assert discovery_sockets.multicast_links(Scope(["198.18.0.0/24"])) == {}


def test_hostile_mdns_type_names_are_not_browsed():
    from camscan.transport.mdns import _browsable

    assert _browsable("_axis-video._tcp.local.")
    assert not _browsable("x._tcp.local.")


def test_an_mdns_browse_ends_with_its_window_however_many_services_wait(monkeypatch):
    """400 announced services whose records never come: the queued resolves are dropped at the
    window's end instead of each asking for a second (about 50 s at 8 at a time)."""
    import asyncio
    import time

    from zeroconf import ServiceStateChange

    from camscan.scope import Scope
    from camscan.transport import mdns

    class Zeroconf:
        def __init__(self, **options) -> None:
            pass

        def close(self) -> None:
            pass

    class Browser:
        def __init__(self, zc, types, handlers) -> None:
            if isinstance(types, list) and "_http._tcp.local." in types:
                for index in range(400):
                    handlers[0](zc, "_http._tcp.local.", f"cam{index}._http._tcp.local.", ServiceStateChange.Added)

        def cancel(self) -> None:
            pass

    class SilentService:
        def __init__(self, service_type: str, name: str) -> None:
            pass

        def load_from_cache(self, zc) -> bool:
            return False

        def request(self, zc, timeout_ms: int) -> bool:
            time.sleep(timeout_ms / 1000)
            return False

    monkeypatch.setattr(mdns, "Zeroconf", Zeroconf)
    monkeypatch.setattr(mdns, "ServiceBrowser", Browser)
    monkeypatch.setattr(mdns, "ServiceInfo", SilentService)
    started = time.monotonic()
    assert asyncio.run(mdns.browse(Scope(["198.18.0.0/24"]), ["198.18.0.1"], 0.5, lambda ip, found: None)) == []
    assert time.monotonic() - started < 5
