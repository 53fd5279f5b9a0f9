"""Runs ``cdn_manager.local_server`` (moto with IAM enforced) in a process
of its own and prints how to reach it as one JSON line; stops when stdin
closes.

moto keeps its IAM switch and its backends per process: an enforcing server
in the test process would enforce IAM on the open ``moto_server`` too.
"""

from __future__ import annotations

import json
import sys

from cdn_manager.local_server import start_local_server

if __name__ == "__main__":
    server = start_local_server(bucket=sys.argv[1])
    print(
        json.dumps(
            {
                "endpoint": server.endpoint,
                "credentials": server.credentials.__dict__,
                "admin_key": server.admin_key,
            }
        ),
        flush=True,
    )
    sys.stdin.read()
    server.stop()
