"""``python -m cdn_manager``: the ``cdn-manager`` command."""

from .cli import main

raise SystemExit(main())
