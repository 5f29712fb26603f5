"""`python -m devkit up|down`: argument handling and error reporting (no real planes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devkit.cli import main
from devkit.devplane.render import ProcessRecord, render_state


def test_down_on_an_empty_directory_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["down", "--dir", str(tmp_path)]) == 0
    assert "no running planes recorded" in capsys.readouterr().err


def test_corrupt_state_is_one_located_line_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "planes.json").write_text("[1, 2")
    assert main(["down", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("python -m devkit down: ") and "planes.json:1:" in err
    assert "Traceback" not in err


def test_start_failure_is_reported_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRDSYNC_ETCD", str(tmp_path / "missing-etcd"))
    assert main(["up", "--dir", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert "python -m devkit up: CRDSYNC_ETCD:" in err and "does not exist" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["up"],
        ["up", "--dir", "x", "--plane", "Bad_Name"],
        ["sideways", "--dir", "x"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: python -m devkit" in capsys.readouterr().out


def test_duplicate_planes_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--dir", str(tmp_path), "--plane", "a", "--plane", "a"]) == 2
    assert "distinct" in capsys.readouterr().err


def test_down_after_the_planes_died_clears_the_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dead = ProcessRecord("etcd", 2**22 + 1, 1, "http://127.0.0.1:1")
    (tmp_path / "planes.json").write_text(json.dumps(render_state([dead])))
    assert main(["down", "--dir", str(tmp_path)]) == 0
    assert "had already stopped" in capsys.readouterr().err
    assert not (tmp_path / "planes.json").exists()
