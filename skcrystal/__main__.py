"""``python -m skcrystal``: the command line."""

from .cli import main

raise SystemExit(main())
