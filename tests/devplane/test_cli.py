"""`crdsync dev`: argument handling and error reporting (no real planes)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from crdsync.devplane import cli
from crdsync.devplane.render import ProcessRecord, render_state


def main(argv: Sequence[str]) -> int:
    # The module's own parser, as crdsync.cli mounts it under `dev`; keeps these tests independent of other commands.
    parser = argparse.ArgumentParser(prog="crdsync")
    sub = parser.add_subparsers(dest="command")
    cli.add_arguments(sub.add_parser("dev"))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.error("a command is required")
    return cli.run(args)


def test_down_on_an_empty_directory_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "down", "--dir", str(tmp_path)]) == 0
    assert "no running planes recorded" in capsys.readouterr().err


def test_corrupt_state_is_one_located_line_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "planes.json").write_text("[1, 2")
    assert main(["dev", "down", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("crdsync dev down: ") and "planes.json:1:" in err
    assert "Traceback" not in err


def test_start_failure_is_reported_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRDSYNC_ETCD", str(tmp_path / "missing-etcd"))
    assert main(["dev", "up", "--dir", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert "crdsync dev up: CRDSYNC_ETCD:" in err and "does not exist" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["dev"],
        ["dev", "up"],
        ["dev", "up", "--dir", "x", "--plane", "Bad_Name"],
        ["dev", "sideways", "--dir", "x"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_duplicate_planes_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "up", "--dir", str(tmp_path), "--plane", "a", "--plane", "a"]) == 2
    assert "distinct" in capsys.readouterr().err


def test_down_after_the_planes_died_clears_the_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dead = ProcessRecord("etcd", 2**22 + 1, 1, "http://127.0.0.1:1")
    (tmp_path / "planes.json").write_text(json.dumps(render_state([dead])))
    assert main(["dev", "down", "--dir", str(tmp_path)]) == 0
    assert "had already stopped" in capsys.readouterr().err
    assert not (tmp_path / "planes.json").exists()
