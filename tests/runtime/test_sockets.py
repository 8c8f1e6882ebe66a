"""Socket owners: the pid behind a flow, from the socket tables and fds."""

from __future__ import annotations

import os
import socket

from watchkeeper.runtime.sockets import SocketOwners, _inodes_for_port

TABLE = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0
   1: 0200D50A:9C40 01D5D50A:01BB 01 00000000:00000000 00:00000000 00000000     0        0 777 1 0
   2: 0200D50A:9C41 01D5D50A:01BB 06 00000000:00000000 00:00000000 00000000     0        0 0 1 0
garbage line
"""


def test_inodes_for_port() -> None:
    assert _inodes_for_port(TABLE, 3306) == {4242}
    assert _inodes_for_port(TABLE, 40000) == {777}
    assert _inodes_for_port(TABLE, 40001) == set()  # TIME_WAIT: no inode
    assert _inodes_for_port(TABLE, 1) == set()


def test_finds_the_owner_of_a_live_socket_and_caches_it() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname())
    try:
        port = client.getsockname()[1]
        owners = SocketOwners(lambda sandbox: [1, os.getpid()] if sandbox == "me" else [])
        assert owners.owner("me", "tcp", "127.0.0.1", port, "127.0.0.1", 1) == os.getpid()
        assert owners.owner("me", "tcp", "127.0.0.1", port, "127.0.0.1", 1) == os.getpid()
        assert (owners.lookups, owners.found) == (1, 1)
        assert owners.owner("other", "tcp", "127.0.0.1", port) is None
        assert owners.owner("me", "icmp", "127.0.0.1", port) is None
        before = owners.lookups
        owners.forget("me")
        assert owners.owner("me", "tcp", "127.0.0.1", port, "127.0.0.1", 1) == os.getpid()
        assert owners.lookups == before + 1
    finally:
        client.close()
        server.close()
