"""Where discovery may multicast, and what mDNS browsing accepts from other hosts."""

def test_multicast_only_on_links_whose_every_network_is_in_scope(monkeypatch):
    import ipaddress

    from camscan.scope import Scope
    from camscan.transport import discovery

    links = {
        "lab0": ["198.18.0.1/22"],
        "two": ["198.18.0.1/22", "192.0.2.5/24"],  # a second network outside scope
        "p2p": ["198.18.1.9/32"],  # neighbours unknowable
    }
    monkeypatch.setattr(discovery.socket, "if_nameindex", lambda: list(enumerate(links)))
    monkeypatch.setattr(discovery, "interface_links", lambda name: [ipaddress.IPv4Interface(a) for a in links[name]])
    assert set(discovery.multicast_links(Scope(["198.18.0.0/22"]))) == {"lab0"}
    assert discovery.multicast_links(Scope(["198.18.0.0/24"])) == {}


def test_hostile_mdns_type_names_are_not_browsed():
    from camscan.transport.mdns import _browsable

    assert _browsable("_axis-video._tcp.local.")
    assert not _browsable("x._tcp.local.")
