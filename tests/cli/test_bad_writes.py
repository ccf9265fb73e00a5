"""Nothing destroyed: one rule for every write (:mod:`pgexp.io`).

Targets are made in a temporary folder -- a FIFO, a socket, a symlink or hard link to an input, a read-only
file, a read-only directory -- never a real device: the tests run as root, and root would replace
``/dev/full`` itself.  Every refusal is one line naming the option, before any work, and the target and the
inputs are left exactly as they were.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from pgexp import io
from pgexp.cli import main
from pgexp.errors import UserError

EST = ["estimate", "--env", "short_corridor", "--estimator", "reinforce", "--batch-size", "2", "--replicates", "3",
       "--seed", "0"]


@pytest.fixture(scope="module")
def est(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("est")
    path = d / "est.parquet"
    assert main(["-q", *EST, "--horizon", "3", "--output", str(path)]) == 0
    return path


def snapshot(*paths: Path) -> list:
    """What a path is (type, size, mtime, inode): unchanged means untouched, not merely equal content."""
    out = []
    for p in paths:
        st = os.lstat(p)
        out.append((p.name, stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, st.st_ino))
    return out


def refused(argv: list[str], capsys, *must: str) -> str:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for text in must:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    return lines[0]


def test_a_fifo_is_never_replaced(tmp_path, capsys):
    fifo, fifo_json = tmp_path / "out.parquet", tmp_path / "out.json"
    os.mkfifo(fifo)
    os.mkfifo(fifo_json)
    before = snapshot(fifo, fifo_json)
    refused([*EST, "--output", str(fifo)], capsys, "--output", "is a FIFO", "regular file")
    refused(["exact", "--env", "short_corridor", "--output", str(fifo_json)], capsys, "is a FIFO")
    assert snapshot(fifo, fifo_json) == before and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "out.parquet"]


def test_a_socket_is_never_replaced(tmp_path, capsys):
    path = tmp_path / "s.parquet"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        before = snapshot(path)
        refused([*EST, "--output", str(path)], capsys, "--output", "is a socket")
        assert snapshot(path) == before


def test_a_symlink_to_a_device_is_refused_not_followed_into_it(tmp_path, capsys):
    """A link to a character device (``/dev/null``: nothing is written to it, the test only names it)."""
    if not Path("/dev/null").exists() or not stat.S_ISCHR(os.stat("/dev/null").st_mode):
        pytest.skip("no /dev/null character device on this platform")
    link = tmp_path / "null.parquet"
    link.symlink_to("/dev/null")
    refused([*EST, "--output", str(link)], capsys, "--output", "character device")
    assert link.is_symlink() and stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_the_library_writer_refuses_a_fifo_too(tmp_path):
    """Without the CLI's up-front check, :func:`pgexp.io.atomic_path` itself never renames over a FIFO."""
    fifo = tmp_path / "t.parquet"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="is a FIFO"):
        io.write_frame(pd.DataFrame({"a": [1]}), fifo, {})
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]


def test_an_output_that_is_an_input_is_refused(est, tmp_path, capsys, monkeypatch):
    """By its name, through a symlink, through a hard link, as OUT.csv beside the parquet: never overwritten."""
    monkeypatch.chdir(tmp_path)
    work = tmp_path / "est.parquet"
    shutil.copy(est, work)
    link, hard = tmp_path / "link.parquet", tmp_path / "hard.parquet"
    link.symlink_to(work)
    os.link(work, hard)
    before = snapshot(work, link, hard)
    refused(["metrics", "est.parquet", "--output", "est.parquet"], capsys, "--output est.parquet",
            "is also an input")
    refused(["metrics", str(work), "--output", "link.parquet"], capsys, "--output link.parquet", "is also an input")
    refused(["metrics", "link.parquet", "--output", str(work)], capsys, "is also an input")
    refused(["slopes", "est.parquet", "--output", "hard.parquet"], capsys, "--output hard.parquet", "is also an input")
    refused(["metrics", "est.parquet", "--out", "est.parquet"], capsys, "is also an input")  # argparse's abbreviation
    refused(["metrics", "est.parquet", "--output=est.parquet"], capsys, "is also an input")
    (tmp_path / "cmp.csv").write_text("a\n1\n")
    refused(["compare", "est.parquet", "cmp.csv", "--output", "cmp.parquet"], capsys, "cmp.csv")  # OUT.csv
    refused(["curves", "est.parquet", "--curves", "c.parquet", "--summary", "est.parquet"], capsys,
            "--summary est.parquet", "is also an input")
    assert snapshot(work, link, hard) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.csv", "est.parquet", "hard.parquet", "link.parquet"]


def test_a_problem_file_is_an_input_too(tmp_path, capsys, monkeypatch):
    """``--env file:mdp.json --output mdp.json`` would replace the problem with its own exact values."""
    import json

    monkeypatch.chdir(tmp_path)
    mdp = {"P": [[[0.0, 1.0]], [[0.0, 1.0]]], "r": [[1.0], [0.0]], "mu": [1.0, 0.0], "gamma": 0.9}
    Path("mdp.json").write_text(json.dumps(mdp))
    before = snapshot(tmp_path / "mdp.json")
    refused(["exact", "--env", "file:mdp.json", "--output", "mdp.json"], capsys, "--output mdp.json",
            "is also an input")
    assert snapshot(tmp_path / "mdp.json") == before


def test_a_read_only_output_file_is_refused_before_the_work(tmp_path, capsys, monkeypatch):
    """A file with no write bit is write-protected (refused even as root, who would bypass the bits)."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.parquet"
    out.write_text("keep me")
    out.chmod(0o444)
    calls = []
    monkeypatch.setattr("pgexp.runs.estimate.run_grid", lambda *a, **k: calls.append(1))
    refused([*EST, "--output", "out.parquet"], capsys, "--output out.parquet", "read-only")
    assert calls == [] and out.read_text() == "keep me"


def test_an_immutable_output_file_is_refused(tmp_path, capsys):
    """``chattr +i``: not even root may replace it; found before the work, not as a PermissionError after."""
    out = tmp_path / "out.parquet"
    out.write_text("keep me")
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(out)], capture_output=True).returncode != 0:
        print("SKIP REASON: chattr +i is not available here (no chattr, not root, or the file system has no "
              "immutable flag); the read-only case covers the check through the mode bits")
        pytest.skip("chattr +i not available (no chattr, not root, or no immutable flag on this file system)")
    try:
        refused([*EST, "--output", str(out)], capsys, "--output", "read-only")
        assert out.read_text() == "keep me"
    finally:
        subprocess.run([chattr, "-i", str(out)], check=True)


def test_a_read_only_directory_is_refused(tmp_path, capsys):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    try:
        refused([*EST, "--output", str(d / "o.parquet")], capsys, "--output", "not writable")
        assert list(d.iterdir()) == []
    finally:
        d.chmod(0o755)


def test_a_virtual_file_system_is_found_by_a_probe_before_the_work(capsys, monkeypatch):
    """``/proc`` takes no new files: the probe (a temp file created and removed) finds it up front."""
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc on this platform")
    calls = []
    monkeypatch.setattr("pgexp.runs.estimate.run_grid", lambda *a, **k: calls.append(1))
    refused([*EST, "--output", "/proc/pgexp-test.parquet"], capsys, "--output /proc/pgexp-test.parquet")
    assert calls == [] and not Path("/proc/pgexp-test.parquet").exists()


def test_too_little_free_space_is_refused_before_the_work(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(io, "free_bytes", lambda directory: 1000.0)
    refused([*EST, "--output", "o.parquet"], capsys, "--output o.parquet", "free on its file system")
    assert list(tmp_path.iterdir()) == []


def test_a_symlink_output_is_written_through(tmp_path, monkeypatch):
    """A link to a regular file (not an input): the target gets the table, the link stays a link."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real.parquet").write_text("old")
    (tmp_path / "link.parquet").symlink_to("real.parquet")
    assert main(["-q", *EST, "--output", "link.parquet"]) == 0
    assert (tmp_path / "link.parquet").is_symlink()
    assert len(pd.read_parquet(tmp_path / "real.parquet")) == 3


@pytest.mark.parametrize("output,fmt", [("o.csv", "parquet"), ("o.json", "parquet"), ("o.yaml", "parquet")])
def test_an_output_named_for_another_format_is_refused(output, fmt, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused([*EST, "--output", output], capsys, f"--output {output}", f"writes {fmt}", ".parquet")
    assert list(tmp_path.iterdir()) == []


def test_exact_json_output_named_parquet_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(["exact", "--env", "short_corridor", "--output", "x.parquet"], capsys, "--output x.parquet", "json")
    assert list(tmp_path.iterdir()) == []


def test_a_rerun_may_replace_its_own_previous_output(tmp_path, monkeypatch):
    """The output existing already is no input: a rerun replaces it (atomically)."""
    monkeypatch.chdir(tmp_path)
    assert main(["-q", *EST, "--output", "o.parquet"]) == 0
    assert main(["-q", *EST, "--seed", "1", "--output", "o.parquet"]) == 0
    assert set(pd.read_parquet("o.parquet")["seed"]) == {1}
