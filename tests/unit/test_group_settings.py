"""Consumer-group timing settings: heartbeat against session timeout, and what Faust gets."""

from __future__ import annotations

import pytest

from streamproc.app import create_app
from streamproc.settings import Settings, SettingsError

BASE = {"STREAMPROC_STORE": "memory://", "STREAMPROC_BOOTSTRAP_SERVERS": "127.0.0.1:1"}


@pytest.mark.parametrize(
    ("env", "heartbeat_s", "session_s"),
    [
        ({}, 3, 45),
        ({"STREAMPROC_HEARTBEAT_INTERVAL_S": "15"}, 15, 45),
        ({"STREAMPROC_SESSION_TIMEOUT_S": "10", "STREAMPROC_HEARTBEAT_INTERVAL_S": "1"}, 1, 10),
    ],
)
def test_heartbeat_reaches_faust(env: dict[str, str], heartbeat_s: int, session_s: int) -> None:
    settings = Settings.from_env({**BASE, **env})
    app, _ = create_app(settings)
    assert app.conf.broker_heartbeat_interval == heartbeat_s
    assert app.conf.broker_session_timeout == session_s


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STREAMPROC_HEARTBEAT_INTERVAL_S": "16"}, "at most a third of"),
        ({"STREAMPROC_SESSION_TIMEOUT_S": "6"}, "STREAMPROC_HEARTBEAT_INTERVAL_S=3 must be"),
        ({"STREAMPROC_HEARTBEAT_INTERVAL_S": "0"}, "must be positive"),
        ({"STREAMPROC_HEARTBEAT_INTERVAL_S": "soon"}, "is not a whole number"),
    ],
)
def test_a_heartbeat_the_session_cannot_hold_is_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**BASE, **env})
