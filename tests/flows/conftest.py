"""One temporary Prefect server (SQLite) for every flow test, with nothing phoning home."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.settings import (
    PREFECT_SERVER_ANALYTICS_ENABLED,
    PREFECT_SERVER_UI_ENABLED,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness

# Prefect's default of 30 s is too short when several test suites share a small machine.
SERVER_STARTUP_SECONDS = 180


@pytest.fixture(scope="package", autouse=True)
def prefect_server() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DVC_NO_ANALYTICS", "1")
        with temporary_settings(
            updates={PREFECT_SERVER_ANALYTICS_ENABLED: False, PREFECT_SERVER_UI_ENABLED: False}
        ):
            with prefect_test_harness(server_startup_timeout=SERVER_STARTUP_SECONDS):
                yield
