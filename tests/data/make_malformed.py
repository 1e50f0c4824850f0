#!/usr/bin/env python3
"""Derive damaged copies of the golden captures, one per decoder judgement
(issue 11, item 8), into malformed/, with tcpdump's and tshark's views beside
each (NAME.tcpdump.txt, NAME.tshark.tsv) as the reference for what socklab
should say. Each is a real capture from captures/ edited exactly as listed:

  ipv4_len0.pcap        data.pcap frames 1-4, frame 4 (the 13-byte request)
                        with its IPv4 total length set to 0. tcpdump: `IP bad-len 0`;
                        Wireshark (ip.tso_support, on by default) takes the
                        length from the frame, "presumed TSO"
  ipv6_hbh_repeated.pcap ipv6.pcap frames 1-4, frame 4 (8 bytes of data) with
                        1000 Hop-by-Hop headers (8 bytes each, PadN) before
                        its TCP header. RFC 8200 4.1: Hop-by-Hop may only
                        come first. tcpdump: `[The Hop-by-Hop Options header was
                        already found] (invalid)`; Wireshark: expert error
                        "must appear immediately after IPv6 header"
  icmp_quote_cut.pcap   udp_unreachable.pcap frames 4-5, the ICMP port
                        unreachable (frame 5) quoting only 22 bytes: the IPv4
                        header and 2 bytes of the UDP header, its destination
                        port cut off. tcpdump: `ICMP [|icmp]`
  tcp_offset_past.pcap  data.pcap frames 1-5, then frame 5 (the server's pure
                        ACK) again with seq - 1 (what makes a keep-alive) and
                        TCP data offset 15 (60 bytes) in a 32-byte segment.
                        Wireshark: "Short segment", no sequence analysis

No privilege needed:  python3 tests/data/make_malformed.py
"""
import os
import struct

from make_variants import CAPS, HERE, finish, read_pcap, write_pcap

OUT = os.path.join(HERE, "malformed")


def ip_checksum(header):
    s = sum(struct.unpack("!%dH" % (len(header) // 2), header))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def fix_ipv4_checksum(b, ip):
    ihl = (b[ip] & 0x0f) * 4
    b[ip + 10:ip + 12] = b"\0\0"
    b[ip + 10:ip + 12] = struct.pack("!H", ip_checksum(bytes(b[ip:ip + ihl])))


def set_frame(fr, n, b):
    fr[n - 1][3] = b
    fr[n - 1][2] = len(b)


def ipv4_len0(fr):
    fr = [list(x) for x in fr[:4]]
    b = bytearray(fr[3][3])
    b[16:18] = b"\0\0"
    fix_ipv4_checksum(b, 14)
    set_frame(fr, 4, b)
    return fr


def ipv6_hbh_repeated(fr):
    fr = [list(x) for x in fr[:4]]
    b = bytearray(fr[3][3])
    ip = 14
    assert b[12:14] == b"\x86\xdd" and b[ip + 6] == 6
    hbh = b"\x00\x00\x01\x04\x00\x00\x00\x00"  # next header HBH, length 0, PadN of 4
    count = 1000
    chain = hbh * (count - 1) + b"\x06" + hbh[1:]  # the last one leads to TCP
    b[ip + 6] = 0
    payload = struct.unpack("!H", b[ip + 4:ip + 6])[0] + len(chain)
    b[ip + 4:ip + 6] = struct.pack("!H", payload)
    b[ip + 40:ip + 40] = chain
    set_frame(fr, 4, b)
    return fr


def icmp_quote_cut(fr):
    fr = [list(x) for x in fr[3:5]]
    b = bytearray(fr[1][3])
    ip = 14
    assert b[ip + 9] == 1
    ihl = (b[ip] & 0x0f) * 4
    keep = 8 + 22  # ICMP header, quoted IPv4 header and 2 bytes of UDP
    b = b[:ip + ihl + keep]
    b[ip + 2:ip + 4] = struct.pack("!H", ihl + keep)
    fix_ipv4_checksum(b, ip)
    set_frame(fr, 2, b)
    return fr


def tcp_offset_past(fr):
    fr = [list(x) for x in fr[:5]]
    copy = list(fr[4])
    b = bytearray(copy[3])
    ip = 14
    tcp = ip + (b[ip] & 0x0f) * 4
    seq = struct.unpack("!I", b[tcp + 4:tcp + 8])[0]
    b[tcp + 4:tcp + 8] = struct.pack("!I", (seq - 1) & 0xffffffff)
    b[tcp + 12] = (15 << 4) | (b[tcp + 12] & 0x0f)
    copy[3] = b
    copy[1] += 1000  # 1 us after frame 5
    return fr + [copy]


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, source, edit in (("ipv4_len0.pcap", "data.pcap", ipv4_len0),
                               ("ipv6_hbh_repeated.pcap", "ipv6.pcap", ipv6_hbh_repeated),
                               ("icmp_quote_cut.pcap", "udp_unreachable.pcap", icmp_quote_cut),
                               ("tcp_offset_past.pcap", "data.pcap", tcp_offset_past)):
        header, frames = read_pcap(os.path.join(CAPS, source))
        path = os.path.join(OUT, name)
        write_pcap(path, header, edit(frames))
        finish(path)


if __name__ == "__main__":
    main()
