"""Allows `python -m devkit`."""

from devkit.cli import main

raise SystemExit(main())
