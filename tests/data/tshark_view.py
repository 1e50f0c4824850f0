#!/usr/bin/env python3
"""Write tshark's per-frame view of a capture as a TSV file beside it.

    tshark_view.py CAPTURE [CAPTURE...]    ->  CAPTURE.tshark.tsv

One row per frame, the columns the golden tests compare with socklab:

    n       frame.number
    proto   tcp, udp, icmp, icmp6 or other (the outermost transport)
    stream  tcp.stream / udp.stream ("" when none)
    seq ack len win   tcp.seq, tcp.ack (relative), tcp.len, tcp.window_size (scaled)
    flags   TCP flags in tcpdump's notation (F S R P . U E W), from tcp.flags
    ulen    UDP payload length (udp.length - 8; a first fragment's counts the whole datagram)
    analysis   the tcp.analysis.* flags tshark sets on the frame, comma-separated

The analysis flags come from one display-filter pass per flag (tshark -Y
tcp.analysis.NAME), which is exactly tshark's own verdict. Written with
tshark 4.0.17 (Debian 12); the version is recorded in the file's first line.
"""
import subprocess
import sys

ANALYSIS = [
    "retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
    "lost_segment", "ack_lost_segment", "duplicate_ack", "zero_window", "zero_window_probe",
    "zero_window_probe_ack", "window_full", "window_update", "keep_alive", "keep_alive_ack",
]
# tshark's name -> the JSON contract's name
CONTRACT_NAME = {"duplicate_ack": "dup_ack"}

# No IP reassembly: socklab analyses each frame as it comes (streaming) and so
# does tcpdump, so the first fragment carries the UDP (or TCP) header and the
# later ones are "other". Reassembling, tshark would show the datagram on the
# last fragment instead.
PREFS = ["-o", "tcp.relative_sequence_numbers:TRUE", "-o", "tcp.analyze_sequence_numbers:TRUE",
         "-o", "tcp.calculate_timestamps:FALSE", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE"]

FIELDS = ["frame.number", "ip.proto", "ipv6.nxt", "tcp.stream", "udp.stream", "tcp.seq", "tcp.ack",
          "tcp.len", "tcp.window_size", "tcp.flags", "udp.length", "icmp.type", "icmpv6.type"]


def tshark(args):
    return subprocess.run(["tshark", "-n", *PREFS, *args], check=True, capture_output=True,
                          text=True).stdout


def tcpdump_flags(hexval):
    v = int(hexval, 16)
    out = "".join(ch for bit, ch in [(0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "."),
                                    (0x20, "U"), (0x40, "E"), (0x80, "W")] if v & bit)
    return out or "none"


def view(path):
    args = ["-r", path, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    for f in FIELDS:
        args += ["-e", f]
    rows = [line.split("\t") for line in tshark(args).splitlines()]
    flags = {}
    for name in ANALYSIS:
        out = tshark(["-r", path, "-Y", "tcp.analysis." + name, "-T", "fields", "-e", "frame.number"])
        for n in out.split():
            flags.setdefault(int(n), []).append(CONTRACT_NAME.get(name, name))
    version = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    lines = ["# " + version, "n\tproto\tstream\tseq\tack\tlen\twin\tflags\tulen\tanalysis"]
    for r in rows:
        n, ip_proto, v6_nxt, tcp_stream, udp_stream, seq, ack, tlen, win, tflags, ulen, icmp_t, icmp6_t = (
            r + [""] * len(FIELDS))[:len(FIELDS)]
        if icmp_t:
            proto = "icmp"
        elif icmp6_t:
            proto = "icmp6"
        elif tflags:
            proto = "tcp"
        elif ulen:
            proto = "udp"
        else:
            proto = "other"
        stream = tcp_stream if proto == "tcp" else udp_stream if proto == "udp" else (tcp_stream or udp_stream)
        cols = [n, proto, stream]
        if proto == "tcp":
            cols += [seq, ack, tlen, win, tcpdump_flags(tflags), ""]
        elif proto == "udp":
            cols += ["", "", "", "", "", str(int(ulen) - 8)]
        else:
            cols += ["", "", "", "", "", ""]
        cols.append(",".join(flags.get(int(n), [])))
        lines.append("\t".join(cols))
    return "\n".join(lines) + "\n"


def main():
    for path in sys.argv[1:]:
        with open(path + ".tshark.tsv", "w") as f:
            f.write(view(path))
        print("wrote", path + ".tshark.tsv")


if __name__ == "__main__":
    main()
