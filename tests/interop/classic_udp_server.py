#!/usr/bin/env python3
"""The UDP server of the classic socket course, as it is taught.

It binds, then answers each datagram in capitals with sendto() to the address
recvfrom() returned. The course loops for ever on a fixed port; here the port
is the kernel's (printed first, for the test) and the loop ends after COUNT
datagrams.

    classic_udp_server.py COUNT   (stderr: "port N"; stdout: one line per datagram)
"""
import socket
import sys


def main():
    count = int(sys.argv[1])
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(('127.0.0.1', 0))
    print("port", server.getsockname()[1], file=sys.stderr, flush=True)
    for _ in range(count):
        data, client_addr = server.recvfrom(1024)
        server.sendto(data.upper(), client_addr)
        print(client_addr[0], client_addr[1], data.decode('utf-8'), flush=True)
    server.close()


if __name__ == '__main__':
    main()
