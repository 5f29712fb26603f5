"""What `python -m devkit up|down|build` share: how a failure of the local planes or a build is reported.

Bad input and start-up failures print one located message `python -m devkit ACTION: ...` and exit 1; no traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from devkit.cli import PROG
from devkit.devplane.build import BuildError
from devkit.devplane.certmanager import CertManagerError
from devkit.devplane.launcher import PlanesError
from devkit.devplane.render import StateError


def guarded(action: str, directory: Path | None, body: Callable[[], int]) -> int:
    """`body()`, with the planes' and builds' expected failures turned into one stderr line and exit 1."""
    try:
        return body()
    except (BuildError, CertManagerError, PlanesError, StateError, ValueError) as exc:
        print(f"{PROG} {action}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{PROG} {action}: {exc.filename or directory}: {exc.strerror or exc}", file=sys.stderr)
        return 1
