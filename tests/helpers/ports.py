"""Ports for the servers the suite starts on loopback.

``bind(0)`` picks from the kernel's ephemeral range and forgets the port as
soon as the probe socket closes. So two ports asked for before either server
binds can be the same one (the likely cause of a CI failure where requests
to a Garage node's S3 port got its admin API's JSON 400), the other xdist
worker can be handed it, and while a killed node is down any outgoing
connection on the machine may take its port as a local one, so the node
cannot bind it again. Ports here come from below the ephemeral range, where
the kernel never hands out a port by itself, from a block of their own per
xdist worker, and never twice in a process.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

#: Ports per xdist worker: more than a whole suite's servers.
BLOCK = 1000

_lock = threading.Lock()
_handed: set[int] = set()


def _ephemeral_low() -> int:
    """The lowest port the kernel picks by itself (Linux's default elsewhere)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _block() -> range:
    """This process's ports: the block just below the ephemeral range for
    worker gw0, the one below it for gw1, and so on."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw") or 0)
    end = _ephemeral_low() - index * BLOCK
    if end - BLOCK < 1024:
        raise RuntimeError(f"no room below the ephemeral ports for worker {index}")
    return range(end - BLOCK, end)


def _bindable(port: int) -> bool:
    # Without SO_REUSEADDR: a port still in TIME_WAIT from an earlier run is
    # skipped too.
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def reserve_port() -> int:
    """A loopback port nothing listens on, never handed out before in this
    process; it stays free for the caller to bind (and bind again after a
    restart) while the suite runs."""
    with _lock:
        for port in _block():
            if port not in _handed and _bindable(port):
                _handed.add(port)
                return port
    raise RuntimeError("every port of this worker's block has been handed out")
