#!/usr/bin/env python3
"""Derive edited copies of the golden captures, for the analysis flags that
plain loopback traffic never shows (no loss, no reordering on lo; Linux probes
a closed window with an empty segment, which Wireshark calls a keep-alive).

Each variant is a real capture from captures/ with frames removed, swapped,
repeated or edited, exactly as listed below, then compared with tshark like
the originals (its view is written beside it by tshark_view.py):

  data_lost.pcap        data.pcap without frame 8 (a 32768-byte segment):
                        the next segment jumps past a gap (lost_segment) and
                        the receiver's ACK covers bytes never seen (ack_lost_segment)
  data_reordered.pcap   data.pcap with frames 11 and 12 swapped (timestamps kept
                        in order): the later segment arrives first (out_of_order)
  data_spurious.pcap    data.pcap with frame 4 (the 13-byte request) sent again
                        after frame 5 acknowledged it (spurious_retransmission)
  zero_window_probe.pcap zero_window.pcap with the empty window probe (frame 12)
                        turned into a 1-byte probe, as Windows sends them
                        (zero_window_probe; the answer is a zero_window_probe_ack)

No privilege needed:  python3 tests/data/make_variants.py
"""
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CAPS = os.path.join(HERE, "captures")


def read_pcap(path):
    data = open(path, "rb").read()
    header = data[:24]
    magic = struct.unpack("<I", data[:4])[0]
    assert magic == 0xa1b23c4d, "expected a little-endian nanosecond pcap"
    frames, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack("<IIII", data[off:off + 16])
        frames.append([sec, frac, orig, bytearray(data[off + 16:off + 16 + incl])])
        off += 16 + incl
    return header, frames


def write_pcap(path, header, frames):
    with open(path, "wb") as f:
        f.write(header)
        for sec, frac, orig, b in frames:
            f.write(struct.pack("<IIII", sec, frac, len(b), orig))
            f.write(b)


def finish(path):
    for args, suffix in ((["-t", "-nn"], ".tcpdump.txt"), (["-t", "-nn", "-S"], ".tcpdump-S.txt")):
        out = subprocess.run(["tcpdump", *args, "-r", path], check=True, capture_output=True, text=True)
        with open(path + suffix, "w") as f:
            f.write(out.stdout)
    subprocess.run([sys.executable, os.path.join(HERE, "tshark_view.py"), path], check=True,
                   stdout=subprocess.DEVNULL)
    print("wrote", path)


def variant(name, source, edit):
    header, frames = read_pcap(os.path.join(CAPS, source))
    frames = edit(frames)
    path = os.path.join(CAPS, name)
    write_pcap(path, header, frames)
    finish(path)


def drop(n):
    return lambda fr: fr[:n - 1] + fr[n:]


def swap(a, b):
    def edit(fr):
        fr = [list(x) for x in fr]
        fr[a - 1][3], fr[b - 1][3] = fr[b - 1][3], fr[a - 1][3]
        fr[a - 1][2], fr[b - 1][2] = fr[b - 1][2], fr[a - 1][2]
        return fr
    return edit


def repeat_after(n, after):
    def edit(fr):
        copy = list(fr[n - 1])
        copy[3] = bytearray(copy[3])
        prev = fr[after - 1]
        copy[0], copy[1] = prev[0], prev[1] + 1000  # 1 us after the frame it follows
        if copy[1] >= 1_000_000_000:
            copy[0], copy[1] = copy[0] + 1, copy[1] - 1_000_000_000
        return fr[:after] + [copy] + fr[after:]
    return edit


def one_byte_probe(n):
    """Frame n is an empty segment with seq = snd_una - 1: make it carry 1 byte at snd_una."""
    def edit(fr):
        fr = [list(x) for x in fr]
        b = bytearray(fr[n - 1][3])
        ip = 14
        assert b[12:14] == b"\x08\x00"
        ihl = (b[ip] & 0x0f) * 4
        tcp = ip + ihl
        seq = struct.unpack("!I", b[tcp + 4:tcp + 8])[0]
        b[tcp + 4:tcp + 8] = struct.pack("!I", (seq + 1) & 0xffffffff)
        total = struct.unpack("!H", b[ip + 2:ip + 4])[0]
        b[ip + 2:ip + 4] = struct.pack("!H", total + 1)
        b += b"x"
        fr[n - 1][3] = b
        fr[n - 1][2] = len(b)
        return fr
    return edit


def main():
    variant("data_lost.pcap", "data.pcap", drop(8))
    variant("data_reordered.pcap", "data.pcap", swap(11, 12))
    variant("data_spurious.pcap", "data.pcap", repeat_after(4, 5))
    variant("zero_window_probe.pcap", "zero_window.pcap", one_byte_probe(12))


if __name__ == "__main__":
    main()
