#!/usr/bin/env python3
"""pyftpdlib comparison server for bench/ftpbench.py (loopback only).

usage: pyftpd_server.py ROOT USER PASSWORD
Prints `listening on 127.0.0.1:PORT` once bound (port chosen by the OS).
"""
import logging
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.log import config_logging
from pyftpdlib.servers import FTPServer


def main():
    root, user, password = sys.argv[1:4]
    config_logging(level=logging.INFO)  # like ferroftp's default: a line per connect/transfer
    auth = DummyAuthorizer()
    auth.add_user(user, password, root, perm="elradfmwMT")
    handler = FTPHandler
    handler.authorizer = auth
    handler.timeout = 600
    server = FTPServer(("127.0.0.1", 0), handler)
    server.max_cons = 2000
    server.max_cons_per_ip = 0
    port = server.socket.getsockname()[1]
    print(f"listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever(timeout=1.0)


if __name__ == "__main__":
    main()
