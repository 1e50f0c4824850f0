#!/usr/bin/env python3
"""The chat client of the classic socket course, as it is taught.

For each line typed it sends the line's bytes with send(), no framing, and
prints what one recv(1024) returns. The course reads the lines with input() in
an endless loop; here they come from stdin and the loop ends with it (or when
the server closes: recv() returns b''), so that a test can drive it.

    classic_chat_client.py HOST PORT   (lines on stdin; prints what it receives)
"""
import socket
import sys


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect((host, port))
    for line in sys.stdin:
        msg = line.strip()
        if not msg:
            continue
        client.send(msg.encode('utf-8'))
        data = client.recv(1024)
        if not data:
            break
        print(data.decode('utf-8'), flush=True)
    client.close()


if __name__ == '__main__':
    main()
