"""Allows `python -m crdsync`."""

from crdsync.cli import main

raise SystemExit(main())
