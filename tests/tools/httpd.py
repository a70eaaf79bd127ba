#!/usr/bin/env python3
"""A static HTTP server for tests: http.server with a deep accept queue,
so hundreds of concurrent clients are not dropped at the listen backlog.
Usage: httpd.py ADDR PORT DIR"""
import functools
import http.server
import socket
import sys


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.0"


def main():
    addr, port, directory = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if ":" in addr:
        Server.address_family = socket.AF_INET6
    handler = functools.partial(QuietHandler, directory=directory)
    with Server((addr, port), handler) as httpd:
        print("serving %s on %s port %d" % (directory, addr, port), flush=True)
        httpd.serve_forever()


if __name__ == "__main__":
    main()
