"""Classic BPF socket filters: a pcap expression compiled by libpcap, attached with SO_ATTACH_FILTER.

The kernel runs the program on every packet before it is queued to the socket, so a raw
socket that would otherwise see all of a busy link's ARP (or all of the host's TCP) wakes
the scan only for its own replies. The program is what ``tcpdump -dd EXPRESSION`` prints:
libpcap compiles it (through scapy, a dependency already) and it is kept as the kernel's
``struct sock_filter`` array (Linux, Documentation/networking/filter.rst).
"""

from __future__ import annotations

import ctypes
import socket
import struct

# pcap DLT_ values: Ethernet frames (AF_PACKET sockets), and bare IPv4 packets as a raw
# AF_INET socket reads them (DLT_RAW is 12 in Linux's libpcap: pcap/dlt.h).
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_IP = 12
SO_ATTACH_FILTER = 26  # asm-generic/socket.h
INSTRUCTION = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k


class FilterError(RuntimeError):
    """A filter expression libpcap could not compile, or libpcap is missing."""


def compile_program(expression: str, linktype: int) -> bytes:
    """The classic BPF program (``struct sock_filter`` array) of a pcap filter expression."""
    from scapy.arch.common import compile_filter
    from scapy.error import Scapy_Exception

    try:
        program = compile_filter(expression, linktype=linktype)
    except (ImportError, Scapy_Exception, OSError) as error:
        raise FilterError(f"cannot compile the packet filter {expression!r}: {error}") from error
    try:
        return ctypes.string_at(program.bf_insns, program.bf_len * INSTRUCTION.size)
    finally:
        # libpcap's own free (scapy >= 2.7 wraps it as free_filter; the declared minimum 2.5 does not)
        from scapy.libs.winpcapy import pcap_freecode

        pcap_freecode(ctypes.byref(program))


def attach(sock: socket.socket, program: bytes) -> None:
    """Attach a compiled program to ``sock``: from now on it queues only the packets it accepts."""
    count = len(program) // INSTRUCTION.size
    instructions = ctypes.create_string_buffer(program, len(program))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; } (the kernel copies it)
    fprog = struct.pack("HL", count, ctypes.addressof(instructions))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def instructions(program: bytes) -> list[tuple[int, int, int, int]]:
    """The program as (code, jt, jf, k) tuples, as ``tcpdump -dd`` lists it."""
    return [INSTRUCTION.unpack_from(program, offset) for offset in range(0, len(program), INSTRUCTION.size)]
