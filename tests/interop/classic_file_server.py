#!/usr/bin/env python3
"""The file server of the classic socket course, as it is taught.

It sends one file to one client: the header length packed with
struct.pack('i', ...) (native byte order: little-endian on x86), the JSON
header ({"file_name": ..., "file_size": ...}), then the file line by line.
The only change from the course: it binds port 0 (the kernel picks a free
port) on 127.0.0.1 and prints that port, so that tests never collide.

    classic_file_server.py FILE   (says "port N" on stderr, then serves one client)
"""
import json
import os
import socket
import struct
import sys


def main():
    file_path = sys.argv[1]

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(('127.0.0.1', 0))
    server.listen(5)
    print('serving %s on port %d' % (file_path, server.getsockname()[1]), file=sys.stderr, flush=True)

    conn, addr = server.accept()
    header = {'file_name': os.path.basename(file_path), 'file_size': os.path.getsize(file_path)}
    header_bytes = json.dumps(header).encode('utf-8')
    conn.send(struct.pack('i', len(header_bytes)))
    conn.send(header_bytes)
    with open(file_path, 'rb') as f:
        for line in f:
            conn.sendall(line)
    conn.close()
    server.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
