"""The two faces of a manager: :class:`CDNManager` (``manager``) and
:class:`AsyncCDNManager` (``aio``, on the worker hand-off of ``offload``),
thin shells over the same operations layer."""
