#!/usr/bin/env python3
"""The chat server of the classic socket course, as it is taught.

It accepts one client, prints what each recv(1024) returns, and answers it
with the same bytes in capitals; recv() returning b'' (the client closed) ends
the conversation. The course listens on a fixed port and replies with input();
here the port is the kernel's (printed first, for the test) and the reply is
computed, so that a test can drive it.

    classic_chat_server.py   (stderr: "port N"; stdout: one line per recv())
"""
import socket
import sys


def main():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(('127.0.0.1', 0))
    server.listen(5)
    print("port", server.getsockname()[1], file=sys.stderr, flush=True)
    conn, addr = server.accept()
    while True:
        data = conn.recv(1024)
        if not data:
            break
        print(data.decode('utf-8'), flush=True)
        conn.send(data.upper())
    conn.close()
    server.close()


if __name__ == '__main__':
    main()
