"""Every operation of a manager, once, for both faces.

- ``operations``: single objects, batches, listings, syncs and deploys;
- ``guard``: names checked, failures turned into precise errors with context;
- ``housekeeping``: what interrupted runs left, swept once per manager;
- ``seed``: the seed module's bool results;
- ``listing``: a prefix listed one folder per thread where it is large;
- ``audit``: the least-privilege check of both keys.
"""
