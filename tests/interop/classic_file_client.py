#!/usr/bin/env python3
"""The file client of the classic socket course, as it is taught.

It reads a 4-byte header length packed with struct.pack('i', ...), then the
JSON header ({"file_name": ..., "file_size": ...}), then the file, 1024 bytes
at a time. Its flaw is the one lesson 3 corrects: it trusts recv(4) and
recv(header_len) to return exactly that many bytes, which TCP does not
promise (see demo-sticky --short-reads). It works on loopback because the
header arrives in one piece there.

    classic_file_client.py HOST PORT SAVE_DIR   (prints a JSON summary)
"""
import json
import os
import socket
import struct
import sys


def main():
    host, port, save_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]

    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect((host, port))

    header_len = struct.unpack('i', client.recv(4))[0]
    header = json.loads(client.recv(header_len).decode('utf-8'))
    file_name = header['file_name']
    file_size = header['file_size']

    recv_size = 0
    # basename: a name that came over the network must not pick the directory.
    with open(os.path.join(save_dir, os.path.basename(file_name)), 'wb') as f:
        while recv_size < file_size:
            data = client.recv(1024)
            if not data:
                break
            f.write(data)
            recv_size += len(data)
    client.close()

    print(json.dumps({'file_name': file_name, 'file_size': file_size, 'received': recv_size}))
    return 0 if recv_size == file_size else 1


if __name__ == '__main__':
    sys.exit(main())
