"""Reading a reply costs what its bytes cost, however a device splits it (issue 12, part 5)."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from camscan.protocols import Exchange, banner, http, message, rtsp
from camscan.protocols.message import MAX_HEAD_BYTES, MessageReader, parse_response
from camscan.scope import Scope
from camscan.transport.live import LiveTransport

HEAD = b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Type: image/jpeg\r\n"
SIZED = HEAD + b"Content-Length: 10\r\n\r\n0123456789"
CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nX-Trailer: 1\r\n\r\n"
BARE_LF = b"HTTP/1.0 200 OK\nServer: Boa/0.94.14rc21\nContent-Length: 3\n\nabc"
RTSP_OPTIONS = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n"


def fed(reader, data: bytes, piece: int):
    for start in range(0, len(data), piece):
        if reader.feed(data[start : start + piece]):
            break
    return reader


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize("reply, completion", [(SIZED, http.response_complete), (CHUNKED, http.response_complete),
                                               (BARE_LF, http.response_complete), (RTSP_OPTIONS, rtsp.response_complete)])
def test_a_reply_is_complete_at_its_last_byte_however_it_is_split(reply, completion, piece):
    # A chunked body is complete at its zero-size chunk: the trailer is not waited for.
    end = reply.index(b"\r\n0\r\n") + 5 if reply == CHUNKED else len(reply)
    assert fed(completion.reader(), reply[:end], piece).complete
    assert not fed(completion.reader(), reply[: end - 1], piece).complete
    assert completion(reply[:end]) and not completion(reply[: end - 1])


def test_an_exchange_refuses_a_bare_predicate_that_would_rescan_the_whole_reply_at_every_read():
    with pytest.raises(TypeError, match="Completion"):
        Exchange(b"GET / HTTP/1.1\r\n\r\n", lambda data: data.endswith(b"\r\n\r\n"))


def test_an_unframed_http_body_runs_until_the_close():
    reader = fed(MessageReader(), HEAD + b"\r\n" + b"x" * 5000, 1)
    assert not reader.complete and not reader.feed(b"more")


def test_a_broken_chunk_size_stops_the_reading_without_completing():
    reader = MessageReader()
    assert reader.feed(HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert not reader.complete


def test_a_head_that_never_ends_is_read_no_further_than_the_head_limit():
    reader = MessageReader()
    endless = HEAD + b"X-Pad: " + b"a" * 1000 + b"\r\n"
    read = 0
    while not reader.feed(endless):
        read += len(endless)
    assert MAX_HEAD_BYTES <= read + len(endless) <= MAX_HEAD_BYTES + 2 * len(endless)
    assert not reader.complete
    huge = parse_response(HEAD + b"X-Pad: y\r\n" * 100_000)
    assert huge.header("server") == "App-webs/" and len(huge.headers) < MAX_HEAD_BYTES // 10


class Trickle:
    """A stream that hands over a reply ``piece`` bytes per read, counting the reads."""

    def __init__(self, data: bytes, piece: int) -> None:
        self.data, self.piece, self.at, self.reads = data, piece, 0, 0

    async def read(self, n: int) -> bytes:
        self.reads += 1
        taken = self.data[self.at : self.at + min(n, self.piece)]
        self.at += len(taken)
        return taken


class Sink:
    def write(self, data: bytes) -> None:
        pass

    async def drain(self) -> None:
        pass

    def get_extra_info(self, name: str):
        return None


def exchange(stream: Trickle, completion=http.response_complete, max_bytes: int = 65536):
    transport = LiveTransport(Scope(["127.0.0.1"]), rate=1000, concurrency=1, timeout=5.0)
    step = Exchange(b"GET / HTTP/1.1\r\n\r\n", completion, max_bytes=max_bytes)
    return asyncio.run(transport._exchange(stream, Sink(), step))


def test_each_read_costs_its_new_bytes_not_the_whole_reply_again(monkeypatch):
    """A reply in many small reads has its head's framing read once (main read it again at
    every read, with the whole reply so far: O(n^2) in a trickled reply's length)."""
    framing_reads = []
    declared = message._declared_length
    monkeypatch.setattr(message, "_declared_length", lambda head: framing_reads.append(head) or declared(head))
    body = bytes(300_000)
    reply = HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body
    stream = Trickle(reply, 600)
    data, closed = exchange(stream, max_bytes=1 << 20)
    assert data == reply and not closed
    assert stream.reads > 500 and len(framing_reads) == 1


def test_a_reply_dripped_a_byte_per_read_is_cut_short_after_a_bounded_number_of_reads():
    stream = Trickle(HEAD + b"Content-Length: 4194304\r\n\r\n" + bytes(4194304), 1)
    data, closed = exchange(stream, max_bytes=4 << 20)
    assert stream.reads <= 100 and closed  # cut short: the connection is not used again
    assert data.startswith(b"HTTP/1.1 200 OK\r\nServer: App-webs/")


def test_a_reply_in_real_network_segments_is_read_whole():
    body = bytes(1 << 20)
    reply = HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body
    data, closed = exchange(Trickle(reply, 536), max_bytes=4 << 20)  # RFC 9293's default MSS
    assert data == reply and not closed


def test_a_banner_sent_in_small_pieces_is_still_read_to_its_line_end():
    data, closed = exchange(Trickle(b"220 DVR FTP server ready\r\n", 1), banner.banner_complete, banner.BANNER_LIMIT)
    assert data == b"220 DVR FTP server ready\r\n" and not closed


def test_a_tls_reply_in_one_byte_records_is_cut_short_by_its_records(certificates):
    """asyncio decrypts every record that has arrived before the reader sees any: bursts of
    1-byte records come to the reader as a few large reads, so over TLS records are counted."""
    cert, key, _der = certificates["ecdsa"]
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    reply = HEAD + b"Content-Length: 1000000\r\n\r\n" + bytes(1_000_000)

    async def burst_records(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for burst in range(0, len(reply), 500):
            for index in range(burst, min(burst + 500, len(reply))):
                writer.write(reply[index : index + 1])  # one TLS record each
            await asyncio.sleep(0.001)
            if writer.is_closing():
                return

    async def scan() -> tuple[bytes, bool]:
        server = await asyncio.start_server(burst_records, "127.0.0.1", 0, ssl=server_tls)
        port = server.sockets[0].getsockname()[1]
        transport = LiveTransport(Scope(["127.0.0.1"]), rate=1000, concurrency=1, timeout=5.0)
        async with server:
            reader, writer = await transport._open("127.0.0.1", port, tls=True)
            try:
                return await transport._exchange(reader, writer, Exchange(b"GET / HTTP/1.1\r\n\r\n",
                                                                          http.response_complete, 1 << 20))
            finally:
                writer.transport.abort()

    data, closed = asyncio.run(scan())
    assert closed and data.startswith(b"HTTP/1.1 200 OK\r\n") and len(data) < 4096
