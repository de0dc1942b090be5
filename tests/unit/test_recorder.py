"""The recorder's capture threads, on a stand-in listening socket (no root, no network)."""

from __future__ import annotations

import socket
import time

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap

from camscan.capture.reader import load_recording
from camscan.transport.record import Recorder, RecordError, scan_options_from

FRAME = bytes(Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / IP(src="198.18.0.2", dst="198.18.0.1")
              / UDP(sport=3702, dport=40000) / b"<ProbeMatches/>")


class SlowListener:
    """Frames queued in a real non-blocking socket, each read slowly (a capture thread that lags behind)."""

    def __init__(self, frames: list[tuple[bytes, float]], seconds_per_frame: float) -> None:
        self._reader, self._writer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._reader.setblocking(False)
        self._stamps = [stamp for _, stamp in frames]
        for frame, _ in frames:
            self._writer.send(frame)
        self._delay = seconds_per_frame

    def fileno(self) -> int:
        return self._reader.fileno()

    def recv_raw(self):
        time.sleep(self._delay)
        return None, self._reader.recv(65535), self._stamps.pop(0)

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


def test_stopping_writes_every_frame_still_queued_up_to_that_moment(tmp_path):
    now = time.time()
    frames = [(FRAME, now) for _ in range(60)] + [(FRAME, now + 3600)]  # the last arrives after the stop
    path = tmp_path / "scan.pcapng"
    recorder = Recorder(path, ["lab0"], ["198.18.0.0/22"], listen=lambda interface, bpf: SlowListener(frames, 0.01))
    recorder.start()
    recorder.stop()  # the thread is about 0.4 s behind here
    assert recorder.frames == 60
    assert len(rdpcap(str(path))) == 60


def test_the_recording_keeps_the_scan_options_for_its_replays(tmp_path):
    options = {"ports": [80, 554], "timeout": 2.0, "discovery": True, "multicast": True, "checks": ["rtsp-no-auth"]}
    path = tmp_path / "scan.pcapng"
    recorder = Recorder(path, ["lab0"], ["198.18.0.0/22"], listen=lambda interface, bpf: SlowListener([], 0),
                        scan_options=options)
    recorder.start()
    recorder.stop()
    assert scan_options_from(load_recording(path).comments) == options
    assert len(rdpcap(str(path))) == 0  # scapy, as Wireshark, reads our section header


def test_no_permission_to_capture_is_a_clear_error_and_writes_no_file(tmp_path):
    def refused(interface, bpf):
        raise PermissionError(1, "Operation not permitted")

    path = tmp_path / "scan.pcapng"
    with pytest.raises(RecordError, match="needs root"):
        Recorder(path, ["lab0"], ["198.18.0.0/22"], listen=refused).start()
    assert not path.exists()


def test_frames_keep_their_time_to_the_microsecond_and_keys_come_as_decryption_secrets(tmp_path):
    path = tmp_path / "scan.pcapng"
    stamp = 1764777600.123456
    recorder = Recorder(path, ["lab0"], ["198.18.0.0/24"], listen=lambda *_: SlowListener([(FRAME, stamp)], 0))
    with recorder:
        recorder.keylog_path.write_bytes(b"CLIENT_RANDOM 00 11\n")
        time.sleep(0.3)
    packets = rdpcap(str(path))
    assert [bytes(packet) for packet in packets] == [FRAME]
    assert float(packets[0].time) == pytest.approx(stamp, abs=1e-6)
    assert load_recording(path).tls_keylog == b"CLIENT_RANDOM 00 11\n"
