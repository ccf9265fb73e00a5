"""The tests that need the system skip with their reason where it cannot be brought up, and fail instead where
``PGEXP_REQUIRE_SYSTEM_TESTS=1`` (``.ci/run``) makes them mandatory."""

from __future__ import annotations

import pytest
import system_tools
from system_tools import REQUIRE_VAR, chromium, unavailable


def test_a_missing_tool_is_a_skip_with_the_reason(monkeypatch):
    monkeypatch.delenv(REQUIRE_VAR, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no widget here"):
        unavailable("no widget here")


def test_ci_makes_a_missing_tool_a_failure(monkeypatch):
    monkeypatch.setenv(REQUIRE_VAR, "1")
    with pytest.raises(pytest.fail.Exception, match=f"no widget here \\({REQUIRE_VAR}=1"):
        unavailable("no widget here")


def test_chromium_that_cannot_be_installed_is_skipped_with_why(monkeypatch):
    monkeypatch.delenv(REQUIRE_VAR, raising=False)
    monkeypatch.setattr(system_tools.shutil, "which", lambda name: None)  # not on the PATH, no apt-get
    with pytest.raises(pytest.skip.Exception, match=r"chromium is not installed .*no apt-get"):
        chromium()
    monkeypatch.setattr(system_tools, "can_install_packages", lambda: (False, "not root and no password-less sudo"))
    with pytest.raises(pytest.skip.Exception, match="not root"):
        chromium()
