"""Moving one object, or a batch, on a manager's planes.

- ``kit``: what a manager moves objects with (clients, planes, workers,
  retry quota, bandwidth limit);
- ``upload`` / ``download``: the transfer flows; ``verify``: what a
  download must match;
- ``sources``: what uploads read; ``parts``: running parts and batches.
"""
