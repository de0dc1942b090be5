"""The kernel limits a namespace lab raises while it is up, and puts back, on stand-in /proc files."""

from __future__ import annotations

from camscan_lab import netns


def test_limits_lower_than_a_large_lab_needs_are_raised_then_restored(tmp_path, monkeypatch):
    files = {name: tmp_path / name for name in ("gc_thresh2", "gc_thresh3", "netdev_max_backlog")}
    for path, value in zip(files.values(), ("4096", "1024", "1000")):
        path.write_text(value + "\n")
    monkeypatch.setattr(netns, "NEIGHBOUR_THRESHOLDS", [str(files["gc_thresh2"]), str(files["gc_thresh3"])])
    monkeypatch.setattr(netns, "RECEIVE_BACKLOG", str(files["netdev_max_backlog"]))
    monkeypatch.setattr(netns, "_kernel_limits_before", {})

    netns._raise_kernel_limits(1000)
    assert [path.read_text() for path in files.values()] == ["4096\n", "3024", "16000"]  # 4096 was enough
    netns._raise_kernel_limits(10)  # a second, smaller lab changes nothing
    assert [path.read_text() for path in files.values()] == ["4096\n", "3024", "16000"]
    netns._restore_kernel_limits()
    assert [path.read_text() for path in files.values()] == ["4096\n", "1024", "1000"]
    assert netns._kernel_limits_before == {}


def test_a_limit_that_cannot_be_read_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(netns, "NEIGHBOUR_THRESHOLDS", [str(tmp_path / "missing")])
    monkeypatch.setattr(netns, "RECEIVE_BACKLOG", str(tmp_path / "also-missing"))
    monkeypatch.setattr(netns, "_kernel_limits_before", {})
    netns._raise_kernel_limits(1000)
    assert netns._kernel_limits_before == {} and not list(tmp_path.iterdir())
