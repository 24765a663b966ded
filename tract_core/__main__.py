"""``python -m tract_core``: the ``tract`` command line."""

from .cli import main

raise SystemExit(main())
