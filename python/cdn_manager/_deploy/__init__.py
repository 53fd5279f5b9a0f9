"""Deploying a site to a CDN origin as one safe step: the sync engine's push
(:mod:`cdn_manager._sync`) with rules, order, conditional writes and
invalidation.

- ``plan``: the engine's push with the rules' headers and entry points;
- ``rules``: per-file headers, compression and entry points;
- ``sources``: the bytes uploaded (planned files, compressed files);
- ``run``: applying a plan in a safe order, with conditional writes;
- ``invalidate`` / ``cloudflare``: the CloudFront invalidation, the
  Cloudflare purge.
"""
