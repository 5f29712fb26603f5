"""Log formats: JSON lines that parse one by one with the fields a pipeline indexes, text lines the benchmark can
time, and `crdsync run`'s --log-format/--log-level settings (flags, -v, CRDSYNC_LOG_*)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from crdsync import cli, logs
from crdsync.commands.run_settings import SettingsError, resolve_settings
from crdsync.engine.keys import Key, ObjectName, Task
from devkit.benchmark.metrics import parse_log_time

BASE_ENV = {"CRDSYNC_MAPPING": "m.yaml", "CRDSYNC_VIRTUAL_KUBECONFIG": "/v", "CRDSYNC_HOST_KUBECONFIG": "/h",
            "CRDSYNC_HOST_NAMESPACE": "ns", "CRDSYNC_VCLUSTER": "vc"}  # fmt: skip


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def emit(fmt: str, level: str = "debug") -> list[str]:
    stream = io.StringIO()
    logs.setup(fmt, level, stream=stream)
    log = logging.getLogger("crdsync.test")
    key = Key(Task.TO_HOST, "example.com", "Widget", ObjectName("apps", "web"))
    log.info("plain line")
    log.warning("%s: SyncFailed: %s", key, 'quote " and newline \n inside', extra=logs.key_fields(key.logged))
    log.debug(
        "cluster-scoped %s",
        "x",
        extra=logs.key_fields(Key(Task.FROM_HOST, "example.com", "Shared", ObjectName(None, "s")).logged),
    )
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    logging.getLogger("urllib3").warning("not ours, %s", object())
    return stream.getvalue().splitlines()


def test_json_logs_are_one_object_per_line_with_the_fields_a_pipeline_indexes(restore_root: None) -> None:
    lines = emit("json")
    entries = [json.loads(line) for line in lines]  # every line parses on its own
    assert len(entries) == 5
    for entry in entries:
        assert {"time", "level", "logger", "msg"} <= set(entry)
        assert entry["time"].endswith("Z") and "T" in entry["time"]
    plain, keyed, cluster, failed, foreign = entries
    assert plain == {**plain, "level": "info", "logger": "crdsync.test", "msg": "plain line"}
    assert "key" not in plain
    assert keyed["level"] == "warning"
    assert keyed["msg"].startswith('toHost Widget.example.com apps/web: SyncFailed: quote " and newline \n inside')
    assert (keyed["key"], keyed["kind"], keyed["namespace"], keyed["name"]) == (
        "toHost Widget.example.com apps/web",
        "Widget",
        "apps",
        "web",
    )
    assert "namespace" not in cluster and cluster["name"] == "s"
    assert failed["level"] == "error" and "RuntimeError: boom" in failed["exc"]
    assert foreign["logger"] == "urllib3" and foreign["msg"].startswith("not ours, <object")


def test_text_logs_keep_the_format_the_benchmark_times(restore_root: None) -> None:
    lines = emit("text")
    assert lines[0].endswith(" INFO crdsync.test: plain line")
    assert parse_log_time(lines[0]) is not None


def test_levels_filter(restore_root: None) -> None:
    lines = emit("json", "warning")
    assert [json.loads(line)["level"] for line in lines] == ["warning", "error", "warning"]


def test_unknown_format_or_level_is_refused() -> None:
    with pytest.raises(ValueError, match="log format"):
        logs.setup("xml")
    with pytest.raises(ValueError, match="log level"):
        logs.level_of("loud")


def test_setup_leaves_handlers_installed_by_others_alone(restore_root: None) -> None:
    root = logging.getLogger()
    foreign = logging.StreamHandler(io.StringIO())
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(foreign)
    logs.setup("json", "info")
    assert root.handlers == [foreign]
    assert root.level == logging.INFO


def settings_of(argv: list[str], env: dict[str, str]) -> tuple[str, str]:
    args = cli.build_parser(argv).parse_args(argv)
    settings = resolve_settings(args, {**BASE_ENV, **env}, Path("/nonexistent"))
    return settings.log_format, settings.log_level


def test_run_log_settings_flags_win_then_v_then_environment() -> None:
    assert settings_of(["run"], {}) == ("text", "info")
    assert settings_of(["run"], {"CRDSYNC_LOG_FORMAT": "json", "CRDSYNC_LOG_LEVEL": "warning"}) == ("json", "warning")
    assert settings_of(["run", "--log-format", "text"], {"CRDSYNC_LOG_FORMAT": "json"}) == ("text", "info")
    assert settings_of(["-v", "run"], {"CRDSYNC_LOG_LEVEL": "error"}) == ("text", "debug")
    assert settings_of(["-v", "run", "--log-level", "error"], {}) == ("text", "error")
    with pytest.raises(SettingsError, match="CRDSYNC_LOG_LEVEL"):
        settings_of(["run"], {"CRDSYNC_LOG_LEVEL": "loud"})
    with pytest.raises(SettingsError, match="CRDSYNC_LOG_FORMAT"):
        settings_of(["run"], {"CRDSYNC_LOG_FORMAT": "xml"})


def test_run_bind_address_settings() -> None:
    args = cli.build_parser(["run"]).parse_args(["run", "--metrics-bind-address", "0"])
    settings = resolve_settings(args, {**BASE_ENV, "CRDSYNC_HEALTH_PROBE_BIND_ADDRESS": "127.0.0.1:9000"}, Path("/x"))
    assert (settings.metrics_bind_address, settings.health_probe_bind_address) == ("0", "127.0.0.1:9000")
    default = resolve_settings(cli.build_parser(["run"]).parse_args(["run"]), BASE_ENV, Path("/x"))
    assert (default.metrics_bind_address, default.health_probe_bind_address) == (":8080", ":8081")
    with pytest.raises(SettingsError, match="--metrics-bind-address"):
        resolve_settings(cli.build_parser(["run"]).parse_args(["run", "--metrics-bind-address", "8080"]), BASE_ENV,
                         Path("/x"))  # fmt: skip
