#!/usr/bin/env python3
"""The UDP client of the classic socket course, as it is taught.

For each line typed it sends one datagram with sendto() and waits in
recvfrom(1024) for the answer, which it prints. The course reads the lines
with input() in an endless loop; here they come from stdin and the loop ends
with it, so that a test can drive it. Nothing else is changed.

    classic_udp_client.py HOST PORT   (lines on stdin; prints each answer)
"""
import socket
import sys


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for line in sys.stdin:
        msg = line.strip()
        if not msg:
            continue
        client.sendto(msg.encode('utf-8'), (host, port))
        data, server_addr = client.recvfrom(1024)
        print(data.decode('utf-8'), flush=True)
    client.close()


if __name__ == '__main__':
    main()
