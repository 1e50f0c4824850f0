#!/usr/bin/env python3
"""Regenerate the golden captures in tests/data/captures/ (run as root, once).

Each scenario is a small real program (python3 stdlib sockets) on loopback,
recorded by tcpdump with nanosecond timestamps and a filter on the scenario's
own port, so other traffic on lo is not recorded. Beside every capture:

    NAME.pcap               the capture
    NAME.pcap.tshark.tsv    tshark's per-frame view (tshark_view.py)
    NAME.pcap.tcpdump.txt   `tcpdump -t -nn -r` (relative numbers)
    NAME.pcap.tcpdump-S.txt `tcpdump -t -nn -S -r` (absolute numbers)

The fragment captures are made in a network namespace of their own (`ip netns`),
whose lo has the MTU the scenario needs.

No step sleeps for a guessed time: the script waits for conditions, most of
them read from the capture file itself (tcpdump -U writes every packet as it
arrives), e.g. "the server's ACK of the client's FIN has been captured".

The tests never run this script: the captures are committed. Regenerating
gives different ports, sequence numbers and timings, so the tests check what
does not change (phases, flags, agreement with tshark and tcpdump).

    sudo python3 tests/data/make_captures.py [NAME...]
"""
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "captures")
TIMEOUT = 20.0  # seconds any condition may take before the scenario fails

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


# ---- reading the capture while it is written ----

class Seg:
    def __init__(self, proto, src, sport, dst, dport, flags=0, seq=0, ack=0, win=0, plen=0, icmp_type=None):
        self.proto, self.src, self.sport, self.dst, self.dport = proto, src, sport, dst, dport
        self.flags, self.seq, self.ack, self.win, self.plen, self.icmp_type = flags, seq, ack, win, plen, icmp_type

    def __repr__(self):
        return f"{self.proto} {self.sport}>{self.dport} flags={self.flags:#x} len={self.plen} win={self.win}"


def read_capture(path):
    """Every packet tcpdump has written so far (Ethernet link type, as on lo)."""
    try:
        data = open(path, "rb").read()
    except FileNotFoundError:
        return []
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xa1b23c4d, 0xa1b2c3d4) else ">"
    off, segs = 24, []
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        if off + 16 + incl > len(data):
            break
        segs.append(parse(data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return [s for s in segs if s is not None]


def parse(frame):
    etype = struct.unpack("!H", frame[12:14])[0]
    ip = frame[14:]
    if etype == 0x0800:
        hl = (ip[0] & 0x0f) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        proto, src, dst, l4, l4len = ip[9], socket.inet_ntop(socket.AF_INET, ip[12:16]), \
            socket.inet_ntop(socket.AF_INET, ip[16:20]), ip[hl:], total - hl
        if struct.unpack("!H", ip[6:8])[0] & 0x1fff:
            return Seg("frag", src, 0, dst, 0, plen=l4len)  # a later fragment: no ports
    elif etype == 0x86dd:
        plen = struct.unpack("!H", ip[4:6])[0]
        proto, src, dst, l4, l4len = ip[6], socket.inet_ntop(socket.AF_INET6, ip[8:24]), \
            socket.inet_ntop(socket.AF_INET6, ip[24:40]), ip[40:], plen
        if proto == 44:  # a fragment header
            if struct.unpack("!H", l4[2:4])[0] & 0xfff8:
                return Seg("frag", src, 0, dst, 0, plen=l4len - 8)
            proto, l4, l4len = l4[0], l4[8:], l4len - 8
    else:
        return None
    if proto == 6:
        sport, dport, seq, ack, off_flags, win = struct.unpack("!HHIIHH", l4[:16])
        hlen = (off_flags >> 12) * 4
        return Seg("tcp", src, sport, dst, dport, off_flags & 0xff, seq, ack, win, l4len - hlen)
    if proto == 17:
        sport, dport, ulen = struct.unpack("!HHH", l4[:6])
        return Seg("udp", src, sport, dst, dport, plen=ulen - 8)
    if proto in (1, 58):
        return Seg("icmp", src, 0, dst, 0, icmp_type=l4[0])
    return None


class Capture:
    """tcpdump on lo, armed before the scenario starts, stopped once it has everything."""

    def __init__(self, name, bpf):
        self.path = os.path.join(OUT, name + ".pcap")
        for suffix in ("", ".tshark.tsv", ".tcpdump.txt", ".tcpdump-S.txt"):
            if os.path.exists(self.path + suffix):
                os.unlink(self.path + suffix)
        self.proc = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-U", "--immediate-mode", "--time-stamp-precision=nano",
             "-s", "262144", "-w", self.path, bpf],
            stderr=subprocess.PIPE, text=True)
        # Armed: tcpdump says "listening on" once the filter is installed.
        deadline = time.monotonic() + TIMEOUT
        line = ""
        while "listening on" not in line:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"tcpdump did not start: {line}")
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.5)
            if ready:
                line = self.proc.stderr.readline()

    def packets(self):
        return read_capture(self.path)

    def wait_for(self, what, predicate, count=1):
        """Waits until `count` captured packets satisfy `predicate`."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            segs = self.packets()
            if sum(1 for s in segs if predicate(s)) >= count:
                return segs
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.path}: timed out waiting for {what}; have {segs}")
            time.sleep(0.01)  # polling a condition, not guessing a duration

    def stop(self, expected):
        self.wait_for(f"{expected} packets", lambda s: True, expected)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=TIMEOUT)
        n = len(self.packets())
        if n != expected:
            raise RuntimeError(f"{self.path}: {n} packets, expected {expected}")
        for args, suffix in ((["-t", "-nn"], ".tcpdump.txt"), (["-t", "-nn", "-S"], ".tcpdump-S.txt")):
            out = subprocess.run(["tcpdump", *args, "-r", self.path], check=True, capture_output=True, text=True)
            with open(self.path + suffix, "w") as f:
                f.write(out.stdout)
        subprocess.run([sys.executable, os.path.join(HERE, "tshark_view.py"), self.path], check=True,
                       stdout=subprocess.DEVNULL)
        print(f"{self.path}: {n} packets")


def tcp_from(port, flags=0, without=0, data=None):
    def pred(s):
        return (s.proto == "tcp" and s.sport == port and (s.flags & flags) == flags and (s.flags & without) == 0
                and (data is None or (s.plen > 0) == data))
    return pred


def listener(family=socket.AF_INET, backlog=8, rcvbuf=None):
    s = socket.socket(family, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    s.listen(backlog)
    return s


def recv_all(conn):
    chunks = []
    while True:
        b = conn.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


# ---- scenarios ----

def handshake():
    """Connect, accept, and the four-way close: the server closes only after the
    ACK of the client's FIN has been captured, so FIN, ACK, FIN, ACK show apart."""
    srv = listener()
    port = srv.getsockname()[1]
    cap = Capture("handshake", f"tcp port {port}")
    cli = socket.create_connection(("127.0.0.1", port))
    conn, _ = srv.accept()
    cap.wait_for("handshake 3/3", tcp_from(cli.getsockname()[1], ACK, SYN))
    cli.close()
    cap.wait_for("ACK of the client's FIN", lambda s: s.proto == "tcp" and s.sport == port and s.flags == ACK)
    assert conn.recv(1) == b""
    conn.close()
    cap.stop(7)
    srv.close()


def data():
    """A request and a reply, a 200 KB upload in several segments, and the common
    three-segment close (the server closes at once; its FIN carries the ACK)."""
    srv = listener()
    port = srv.getsockname()[1]
    cap = Capture("data", f"tcp port {port}")
    cli = socket.create_connection(("127.0.0.1", port))
    conn, _ = srv.accept()
    cli.sendall(b"hello, server")
    assert conn.recv(100) == b"hello, server"
    conn.sendall(b"hello, client")
    assert cli.recv(100) == b"hello, client"
    blob = bytes(range(256)) * 800
    cli.sendall(blob)
    cli.shutdown(socket.SHUT_WR)
    assert recv_all(conn) == blob
    conn.close()
    assert cli.recv(1) == b""
    cli.close()
    segs = cap.wait_for("the server's FIN", tcp_from(port, FIN))
    fin = next(s for s in segs if s.sport == port and s.flags & FIN)
    cap.wait_for("the ACK of the server's FIN",
                 lambda s: s.proto == "tcp" and s.dport == port and s.flags == ACK and s.ack == fin.seq + 1)
    cap.stop(len(cap.packets()))
    srv.close()


def half_close():
    """The client shuts down its sending side; the server keeps sending and the
    client keeps receiving, then the server closes."""
    srv = listener()
    port = srv.getsockname()[1]
    cap = Capture("half_close", f"tcp port {port}")
    cli = socket.create_connection(("127.0.0.1", port))
    conn, _ = srv.accept()
    cli.sendall(b"request")
    cli.shutdown(socket.SHUT_WR)
    assert recv_all(conn) == b"request"
    cap.wait_for("ACK of the client's FIN", lambda s: s.proto == "tcp" and s.sport == port and s.flags == ACK)
    isn = next(s.seq for s in cap.packets() if s.proto == "tcp" and s.sport == port and s.flags & SYN)
    sent = 0
    for part in (b"reply part 1", b"reply part 2"):
        conn.sendall(part)
        sent += len(part)
        cap.wait_for("the client's ACK of the data",
                     lambda s, end=isn + 1 + sent: s.proto == "tcp" and s.dport == port and s.flags == ACK and
                     s.ack == end)
    conn.close()
    assert recv_all(cli) == b"reply part 1reply part 2"
    cli.close()
    segs = cap.wait_for("the server's FIN", tcp_from(port, FIN))
    fin = next(s for s in segs if s.sport == port and s.flags & FIN)
    cap.wait_for("the ACK of the server's FIN",
                 lambda s: s.proto == "tcp" and s.dport == port and s.flags == ACK and s.ack == fin.seq + 1)
    cap.stop(len(cap.packets()))
    srv.close()


def rst():
    """SO_LINGER with a zero timeout: close() sends RST instead of FIN."""
    srv = listener()
    port = srv.getsockname()[1]
    cap = Capture("rst", f"tcp port {port}")
    cli = socket.create_connection(("127.0.0.1", port))
    conn, _ = srv.accept()
    cli.sendall(b"ping")
    assert conn.recv(10) == b"ping"
    cli.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    cli.close()
    cap.wait_for("the RST", lambda s: s.proto == "tcp" and s.flags & RST)
    try:
        conn.recv(10)
    except ConnectionResetError:
        pass
    conn.close()
    cap.stop(len(cap.packets()))
    srv.close()


def refused():
    """A SYN to a port bound but not listening: the kernel answers with RST."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))  # keeps the port from strangers; no listen()
    port = holder.getsockname()[1]
    cap = Capture("refused", f"tcp port {port}")
    cli = socket.socket()
    try:
        cli.connect(("127.0.0.1", port))
        raise RuntimeError("connect should have been refused")
    except ConnectionRefusedError:
        pass
    cap.stop(2)
    cli.close()
    holder.close()


def backlog():
    """listen(1) and nobody calls accept(): once the accept queue is full the
    kernel drops new SYNs and the clients retransmit them; then the server
    accepts and every client gets through."""
    srv = listener(backlog=1)
    port = srv.getsockname()[1]
    cap = Capture("backlog", f"tcp port {port}")
    clients = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        clients.append(c)
    # Two SYN retransmissions from clients left waiting prove the queue overflowed.
    def retransmitted_syns(segs):
        seen, again = set(), 0
        for s in segs:
            if s.proto == "tcp" and s.flags == SYN:
                key = (s.sport, s.seq)
                again += key in seen
                seen.add(key)
        return again
    deadline = time.monotonic() + TIMEOUT
    while retransmitted_syns(cap.packets()) < 2:
        if time.monotonic() > deadline:
            raise RuntimeError("no SYN retransmission seen")
        time.sleep(0.01)
    accepted = []
    srv.setblocking(False)
    deadline = time.monotonic() + TIMEOUT
    while len(accepted) < len(clients):
        if time.monotonic() > deadline:
            raise RuntimeError(f"accepted only {len(accepted)}")
        select.select([srv], [], [], 0.5)
        try:
            accepted.append(srv.accept()[0])
        except BlockingIOError:
            pass
    for c in clients:
        select.select([], [c], [], TIMEOUT)
        assert c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        c.setblocking(True)
        c.close()
    for a in accepted:
        a.setblocking(True)
        assert recv_all(a) == b""
        a.close()
    # Every connection ends with the ACK of the server's FIN.
    ports = {c_port for c_port in (s.sport for s in cap.packets() if s.proto == "tcp" and s.flags == SYN)}
    for p in ports:
        cap.wait_for(f"the last ACK from {p}",
                     lambda s, p=p: s.proto == "tcp" and s.sport == p and s.flags == ACK and
                     any(f.proto == "tcp" and f.dport == p and f.flags & FIN and s.ack == f.seq + 1
                         for f in cap.packets()))
    cap.stop(len(cap.packets()))
    srv.close()


def zero_window():
    """The server never reads and has a small receive buffer; the client keeps
    sending until the window is 0. The client's kernel probes the closed window;
    after the first probe has been answered the server reads everything."""
    srv = listener(rcvbuf=4096)
    port = srv.getsockname()[1]
    cap = Capture("zero_window", f"tcp port {port}")
    cli = socket.socket()
    cli.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    cli.connect(("127.0.0.1", port))
    conn, _ = srv.accept()
    cli.setblocking(False)
    sent = 0
    payload = b"x" * 1024
    deadline = time.monotonic() + TIMEOUT
    while not any(s.proto == "tcp" and s.sport == port and s.win == 0 and not s.flags & (SYN | FIN | RST)
                  for s in cap.packets()):
        if time.monotonic() > deadline:
            raise RuntimeError("the window never closed")
        try:
            sent += cli.send(payload)
        except BlockingIOError:
            select.select([], [cli], [], 0.05)
    # A probe of the closed window from the client, and the server's answer.
    cli_port = cli.getsockname()[1]
    deadline = time.monotonic() + TIMEOUT
    while True:
        segs = cap.packets()
        i = next(i for i, s in enumerate(segs) if s.proto == "tcp" and s.sport == port and s.win == 0)
        later = segs[i + 1:]
        probe = next((j for j, s in enumerate(later) if s.sport == cli_port and s.plen <= 1), None)
        if probe is not None and any(s.sport == port for s in later[probe + 1:]):
            break
        if time.monotonic() > deadline:
            raise RuntimeError("no zero-window probe answered")
        time.sleep(0.01)
    cli.setblocking(True)
    cli.shutdown(socket.SHUT_WR)
    got = len(recv_all(conn))
    assert got == sent, (got, sent)
    conn.close()
    assert cli.recv(1) == b""
    cli.close()
    segs = cap.wait_for("the server's FIN", tcp_from(port, FIN))
    fin = next(s for s in segs if s.sport == port and s.flags & FIN)
    cap.wait_for("the ACK of the server's FIN",
                 lambda s: s.proto == "tcp" and s.dport == port and s.flags == ACK and s.ack == fin.seq + 1)
    cap.stop(len(cap.packets()))
    srv.close()


def udp_unreachable():
    """Datagrams both ways, then one to a port nobody has open: ICMP port unreachable."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    dead = closed.getsockname()[1]
    closed.close()  # now nobody has it
    bpf = (f"udp port {port} or udp port {dead} or "
           f"(icmp and (icmp[30:2] = {dead} or icmp[30:2] = {port}))")
    cap = Capture("udp_unreachable", bpf)
    cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cli.sendto(b"ping 1", ("127.0.0.1", port))
    msg, addr = srv.recvfrom(100)
    srv.sendto(b"pong 1", addr)
    assert cli.recv(100) == b"pong 1"
    cli.sendto(b"x" * 1000, ("127.0.0.1", port))
    assert len(srv.recv(2000)) == 1000
    cli.sendto(b"anyone there?", ("127.0.0.1", dead))
    cap.wait_for("the port unreachable", lambda s: s.proto == "icmp" and s.icmp_type == 3)
    cap.stop(5)
    for s in (srv, cli):
        s.close()


def ipv6():
    """TCP over ::1 with a request and reply and the close, then a UDP datagram to
    a closed port on ::1: ICMPv6 port unreachable."""
    srv = listener(socket.AF_INET6)
    port = srv.getsockname()[1]
    closed = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    closed.bind(("::1", 0))
    dead = closed.getsockname()[1]
    closed.close()
    cap = Capture("ipv6", f"tcp port {port} or udp port {dead} or (icmp6 and icmp6[50:2] = {dead})")
    cli = socket.create_connection(("::1", port))
    conn, _ = srv.accept()
    cli.sendall(b"GET /six")
    assert conn.recv(100) == b"GET /six"
    conn.sendall(b"200 OK over IPv6")
    assert cli.recv(100) == b"200 OK over IPv6"
    cli.close()
    segs = cap.wait_for("the client's FIN", lambda s: s.proto == "tcp" and s.dport == port and s.flags & FIN)
    cfin = next(s for s in segs if s.proto == "tcp" and s.dport == port and s.flags & FIN)
    cap.wait_for("ACK of the client's FIN", lambda s: s.proto == "tcp" and s.sport == port and s.flags == ACK and
                 s.ack == cfin.seq + 1)
    assert conn.recv(1) == b""
    conn.close()
    segs = cap.wait_for("the server's FIN", tcp_from(port, FIN))
    fin = next(s for s in segs if s.sport == port and s.flags & FIN)
    cap.wait_for("the ACK of the server's FIN",
                 lambda s: s.proto == "tcp" and s.dport == port and s.flags == ACK and s.ack == fin.seq + 1)
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.sendto(b"hello six", ("::1", dead))
    cap.wait_for("the ICMPv6 unreachable", lambda s: s.proto == "icmp" and s.icmp_type == 1)
    u.close()
    cap.stop(len(cap.packets()))
    srv.close()


def port_filter(port):
    """socklab's capture::port_filter() (capture/src/live_text.cpp), fragments included."""
    quoted4 = "icmp[8 + ((icmp[8] & 0xf) << 2)"
    return (f"tcp port {port} or udp port {port}"
            f" or (icmp and ({quoted4}:2] = {port} or {quoted4} + 2:2] = {port}))"
            f" or (icmp6 and (icmp6[48:2] = {port} or icmp6[50:2] = {port}))"
            f" or (ip6 proto 44 and (ip6[40] = 17 or ip6[40] = 6) and ip6[42:2] & 0xfff8 = 0"
            f" and (ip6[48:2] = {port} or ip6[50:2] = {port}))"
            f" or (ip6 proto 44 and (ip6[40] = 17 or ip6[40] = 6) and ip6[42:2] & 0xfff8 != 0)"
            f" or (ip and (ip proto 17 or ip proto 6) and ip[6:2] & 0x1fff != 0)")


def in_namespace(mtu, scenario):
    """Runs `scenario` in a network namespace of its own, whose lo has this MTU:
    loopback's usual 65536 bytes never fragments an IPv4 datagram."""
    ns = f"socklab-captures-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "mtu", str(mtu), "up"], check=True)
        subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "--inside",
                        scenario], check=True)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True)


def fragments_inside():
    """In each family, 3000 bytes each way and 2000 to a closed port: with lo's
    MTU at 1500 every datagram travels as IP fragments (IPv4: 1480 bytes of
    datagram per fragment, IPv6: 1448), and the closed port answers once the
    kernel has put the datagram back together."""
    families = []
    for family, addr, icmp_type in ((socket.AF_INET, "127.0.0.1", 3), (socket.AF_INET6, "::1", 1)):
        srv = socket.socket(family, socket.SOCK_DGRAM)
        srv.bind((addr, 0))
        closed = socket.socket(family, socket.SOCK_DGRAM)
        closed.bind((addr, 0))
        dead = closed.getsockname()[1]
        closed.close()  # now nobody has it
        families.append((family, addr, icmp_type, srv, dead))
    ports = [p for _, _, _, srv, dead in families for p in (srv.getsockname()[1], dead)]
    cap = Capture("fragments", " or ".join(f"({port_filter(p)})" for p in ports))
    for family, addr, icmp_type, srv, dead in families:
        cli = socket.socket(family, socket.SOCK_DGRAM)
        cli.sendto(bytes(range(250)) * 12, (addr, srv.getsockname()[1]))
        msg, peer = srv.recvfrom(70000)
        assert len(msg) == 3000
        srv.sendto(msg[::-1], peer)
        assert cli.recv(70000) == msg[::-1]
        cli.sendto(b"z" * 2000, (addr, dead))
        cap.wait_for("the port unreachable", lambda s, t=icmp_type: s.proto == "icmp" and s.icmp_type == t)
        cli.close()
        srv.close()
    cap.stop(18)


def udp6_max_inside():
    """The largest UDP datagram IPv6 carries (65,527 bytes, as demo-udp -6 --max
    sends it) over lo at its usual MTU of 65536: 40 + 8 + 65,527 bytes do not
    fit, so it travels in two fragments."""
    srv = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    srv.bind(("::1", 0))
    port = srv.getsockname()[1]
    cap = Capture("udp6_max", port_filter(port))
    cli = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    cli.sendto(b"m" * 65527, ("::1", port))
    assert len(srv.recv(70000)) == 65527
    cap.stop(2)
    cli.close()
    srv.close()


def fragments():
    in_namespace(1500, "fragments")


def udp6_max():
    in_namespace(65536, "udp6_max")


SCENARIOS = {f.__name__: f for f in (handshake, data, half_close, rst, refused, backlog, zero_window,
                                     udp_unreachable, ipv6, fragments, udp6_max)}
INSIDE = {"fragments": fragments_inside, "udp6_max": udp6_max_inside}


def main():
    if os.geteuid() != 0:
        sys.exit("make_captures.py: capturing on lo needs root (CAP_NET_RAW)")
    os.makedirs(OUT, exist_ok=True)
    if sys.argv[1:2] == ["--inside"]:
        INSIDE[sys.argv[2]]()
        return
    for name in sys.argv[1:] or SCENARIOS:
        SCENARIOS[name]()


if __name__ == "__main__":
    main()
