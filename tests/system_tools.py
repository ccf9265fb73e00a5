"""What a few tests need from the system (Chromium for the report's browser test, a local SLURM for the cluster
test), brought up when it can be, and otherwise a skip whose reason pytest prints (``-ra`` in pyproject.toml).

On a machine with only pip (README's set-up), ``python -m pytest`` passes: a test that cannot have its tool
is skipped with the reason, never failed.  CI must run them all: ``.ci/run`` sets
``PGEXP_REQUIRE_SYSTEM_TESTS=1`` (:data:`REQUIRE_VAR`), which turns every such skip into a failure.

"Can be brought up" means: the tool is on the PATH, or this process may install it with Debian's packages
(``apt-get``, as root or with password-less ``sudo``) -- what ``scripts/local-slurm.sh`` and this module do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import NoReturn

import pytest

REQUIRE_VAR = "PGEXP_REQUIRE_SYSTEM_TESTS"
APT_TIMEOUT = 1200  # seconds: a first install downloads packages


def required() -> bool:
    """Whether system tests are mandatory here (CI)."""
    return os.environ.get(REQUIRE_VAR, "").strip() not in ("", "0")


def unavailable(reason: str) -> NoReturn:
    """Skip with ``reason`` (printed by ``-ra``), or fail where system tests are mandatory."""
    if required():
        pytest.fail(f"{reason} ({REQUIRE_VAR}=1: this test must run here)", pytrace=False)
    pytest.skip(reason)


def can_install_packages() -> tuple[bool, str]:
    """Whether Debian packages can be installed by this process, and if not, why."""
    if shutil.which("apt-get") is None:
        return False, "no apt-get (not a Debian/Ubuntu system)"
    if os.geteuid() == 0:
        return True, ""
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return True, ""
    return False, "not root and no password-less sudo"


def apt_install(*packages: str) -> tuple[bool, str]:
    """``apt-get install`` ``packages`` (after an update); ``(ok, the last lines of the output)``."""
    ok, why = can_install_packages()
    if not ok:
        return False, why
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    out = []
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=120",
                 *packages]):
        try:
            proc = subprocess.run([*sudo, *cmd], capture_output=True, text=True, timeout=APT_TIMEOUT, env=env,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return False, f"{' '.join(cmd)} ran past {APT_TIMEOUT} s"
        out.append(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            return False, " ".join(" ".join(out).split())[-300:]
    return True, ""


def chromium() -> str:
    """The path of a Chromium executable: on the PATH, or installed now from Debian's packages; else a skip."""
    names = ("chromium", "chromium-browser")
    found = next((shutil.which(n) for n in names if shutil.which(n)), None)
    if found:
        return found
    _, why = apt_install("chromium")
    found = next((shutil.which(n) for n in names if shutil.which(n)), None)
    if found:
        return found
    unavailable(f"chromium is not installed and could not be installed here ({why or 'no executable after install'})"
                "; install Debian's package (apt-get install chromium) to run the report's browser test")


__all__ = ["REQUIRE_VAR", "apt_install", "can_install_packages", "chromium", "required", "unavailable"]
