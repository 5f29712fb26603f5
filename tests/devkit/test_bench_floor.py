"""devkit.benchmark.floor: the restart floor child fails with a located message, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit.benchmark.floor import main


def test_a_kubeconfig_that_does_not_exist_is_exit_1_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.kubeconfig"
    code = main(["--host-kubeconfig", str(missing), "--virtual-kubeconfig", str(missing), "--host-namespace", "ns"])
    assert code == 1
    err = capsys.readouterr().err
    assert str(missing) in err and "does not exist" in err
