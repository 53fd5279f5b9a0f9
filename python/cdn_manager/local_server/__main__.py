"""``python -m cdn_manager.local_server [BUCKET]``: a local server for a
parent process (the test suite), described as one JSON line on standard
output, serving until standard input closes."""

from . import main

main()
