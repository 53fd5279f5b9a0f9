"""``python -m cdn_manager``: the ``cdn-manager`` command."""

from ._cli import main

raise SystemExit(main())
