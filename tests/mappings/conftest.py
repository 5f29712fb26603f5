"""`--update-golden` for tests/mappings (same as CRDSYNC_UPDATE_GOLDEN=1)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", default=False, help="rewrite tests/mappings/golden from the samples"
    )
