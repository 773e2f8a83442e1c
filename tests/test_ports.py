"""Ports for servers the stack and the tests start: never where outgoing connections take
theirs, so no client of another test takes a broker's port between the pick and the bind."""

from __future__ import annotations

import socket

from devstack.ports import _ephemeral_low, free_port


def test_a_free_port_is_below_the_ephemeral_range_and_can_be_bound() -> None:
    low = _ephemeral_low()
    for _ in range(50):
        port = free_port()
        assert 1024 <= port < low
        with socket.socket() as server:
            # As the servers bind (Mosquitto, uvicorn, PostgreSQL): a port some connection of
            # another test left in TIME_WAIT is free to them.
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", port))


def test_outgoing_connections_do_not_take_a_picked_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        clients = [socket.create_connection(server.getsockname()) for _ in range(50)]
        try:
            taken = {client.getsockname()[1] for client in clients}
            assert all(port >= _ephemeral_low() for port in taken)
            assert free_port() not in taken
        finally:
            for client in clients:
                client.close()
