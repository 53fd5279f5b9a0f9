"""One sync engine under push, pull and verify.

- ``engine``: walk a folder and list a prefix, pair, prove, compare, plan;
- ``compare``: the one comparison of a file's bytes with an object's;
- ``plan`` / ``outcome``: a plan's actions with their reasons, a report;
- ``local`` / ``remote``: the files of a folder, what an object holds;
- ``memory``: local checksums and proven objects remembered between runs;
- ``filters`` / ``globs`` / ``shard``: which paths a sync covers;
- ``pull``: carrying out a pull (a push is a deploy: :mod:`.._deploy`);
- ``receipt``: receipts of either direction, and verifying them later;
- ``store``: what the engine needs of a manager;
- ``target``: where a deploy invalidates, and what it made there.
"""
