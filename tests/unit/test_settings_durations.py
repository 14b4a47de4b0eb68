"""Durations are parsed once from the environment, in its documented units, and read in seconds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from taskroom.cli import main
from taskroom.settings import Milliseconds, Settings, describe_invalid

MILLISECOND_FIELDS = [
    name for name, field in Settings.model_fields.items() if Milliseconds.__metadata__[0] in field.metadata
]


def test_a_millisecond_variable_is_read_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WS_PING_INTERVAL", "1500")
    monkeypatch.setenv("DOC_DESCRIPTION_DELAY", " 0 ")
    monkeypatch.setenv("WS_EVENT_RETENTION", "604_800_000")
    settings = Settings()
    assert settings.ws_ping_interval == 1500  # the documented unit stays on the model (CONNECT shows it)
    assert settings.ws_ping_interval_seconds == 1.5
    assert settings.doc_description_delay_seconds == 0.0
    assert settings.ws_event_retention_seconds == 7 * 24 * 3600


def test_every_millisecond_setting_has_its_seconds() -> None:
    assert len(MILLISECOND_FIELDS) == 17
    settings = Settings()
    for name in MILLISECOND_FIELDS:
        assert getattr(settings, f"{name}_seconds") == getattr(settings, name) / 1000, name


@pytest.mark.parametrize("value", ["30s", "1e3", "1.5", "", "true"])
def test_a_duration_that_is_not_whole_milliseconds_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("WS_AUTH_TIMEOUT", value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert describe_invalid(refused.value) == (
        f"WS_AUTH_TIMEOUT: {value!r} is not a whole number of milliseconds (like 30000)"
    )


def test_a_seconds_variable_says_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_TTL_SECONDS", "1h")
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert (
        describe_invalid(refused.value)
        == "JWT_TTL_SECONDS: '1h' is not a whole number of seconds (like 3600)"
    )


def test_a_duration_out_of_bounds_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WS_PING_INTERVAL", "-5")
    monkeypatch.setenv("WS_HEARTBEAT_INTERVAL", "0")
    with pytest.raises(ValidationError) as refused:
        Settings()
    problems = describe_invalid(refused.value).split("; ")
    assert sorted(problems) == [
        "WS_HEARTBEAT_INTERVAL: Input should be greater than 0",
        "WS_PING_INTERVAL: Input should be greater than 0",
    ]


def test_taskroom_says_one_line_and_exits_1_before_it_serves(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WS_PING_INTERVAL", "30s")
    assert main(["serve", "--port", "1"]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        "error: WS_PING_INTERVAL: '30s' is not a whole number of milliseconds (like 30000)\n"
    )
    assert captured.out == ""
