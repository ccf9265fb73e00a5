"""The Snakemake study end to end, through the CLI in a temporary copy (the stable surface).

One module-scoped run of the `.test` study; then reruns are asserted with `snakemake -n`:
nothing to do when nothing changed, exactly the affected jobs when one setting changes, a clear
error for a bad config before any job, and a kill -9 mid-run that the next plain run finishes with
the same tables, bit for bit.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from figure_checks import study_problems
from system_tools import chromium
from test_plugins import REWARD_TO_GO

from pgexp.figures import FIGURES, figures_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TEST_CONFIG = ".test/config/config.yaml"


def copy_workflow(dest: Path, *, plugin: bool = False) -> Path:
    for item in ("Snakefile", "workflow", "config", ".test", "profiles"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / item)
    if plugin:
        add_plugin(dest)
    return dest


def add_plugin(cwd: Path) -> None:
    """A user's estimator in a module of the study directory, named in the config's ``plugins:`` and run
    on the garnet like a built-in (its estimates, metrics, comparisons, figures and report)."""
    (cwd / "my_estimators.py").write_text(REWARD_TO_GO)
    _edit_config(cwd, lambda c: (c.__setitem__("plugins", ["my_estimators.py"]),
                                 c["environments"]["garnet"]["estimators"].append("my_reward_to_go")))


def snakemake(cwd: Path, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", *args, "--cores", "2", "--configfile", TEST_CONFIG]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def planned_jobs(cwd: Path, *targets: str) -> dict[str, int]:
    """Rule -> job count of a dry run (empty when nothing is to be done)."""
    proc = snakemake(cwd, *targets, "-n", "--quiet", "rules")
    out = proc.stdout + proc.stderr
    counts = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([a-z_]+)\s+(\d+)\s*$", line)
        if m and m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts


def tables(cwd: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(cwd / "results" / "tables" / f"{name}.parquet") for name in ("metrics", "slopes")}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    cwd = copy_workflow(tmp_path_factory.mktemp("study"), plugin=True)
    snakemake(cwd)
    return cwd


def exact_tables(study):
    return pd.read_parquet(study / "results" / "tables" / "exact_variance.parquet")


def test_outputs_exist_and_are_valid(study):
    t = tables(study)
    cfg = yaml.safe_load((study / TEST_CONFIG).read_text())
    # corridor: 4 estimators x their baselines in [none, value_exact]; garnet: 2 estimators and the plug-in;
    # lqr: the 3 estimators of the lqr track (no roll-in/roll-out) x [none, value_exact]
    jobs = {"corridor": 2 + 2 + 2 + 2, "garnet": 2 + 2 + 2, "lqr": 2 + 2 + 2}
    cells = len(cfg["horizons"]) * len(cfg["batch_sizes"])
    assert len(t["metrics"]) == sum(jobs.values()) * cells
    m = t["metrics"]
    assert m[["trace_cov", "mse", "bias_sq"]].notna().all().all()
    # cosine is undefined exactly where the exact gradient vanishes (the corridor at H = 3)
    assert (m["cosine"].isna() == (m["grad_norm_exact"] == 0)).all()
    assert set(t["metrics"]["sweep"]) == {"horizon", "batch", "both", "grid"}
    assert len(t["slopes"]) > 0 and t["slopes"]["slope"].between(-1, 8).all()
    for ext in ("csv", "parquet"):
        assert (study / "results" / "tables" / f"metrics.{ext}").stat().st_size > 0
    figures = figures_for(cfg)
    # the .test study builds every registered figure but the paper studies' (tests/study/test_studies.py builds those)
    assert set(figures) == {n for n, spec in FIGURES.items() if spec.section != "study"}
    for fig in figures:
        pdf = study / "results" / "figures" / f"{fig}.pdf"
        png = study / "results" / "figures" / f"{fig}.png"
        assert pdf.read_bytes()[:5] == b"%PDF-"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (study / "results" / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= len(figures)
    summary = pd.read_parquet(study / "results" / "tables" / "training_summary.parquet")
    assert summary.groupby(["estimator", "baseline"])["selected"].sum().eq(1).all()  # one step size each
    assert (study / "results" / "training" / "corridor" / "path.theta20.npy").exists()
    deep = pd.read_parquet(study / "results" / "tables" / "deep_quality.parquet")
    assert set(deep["batch_size"]) == {2, 8} and deep["cosine"].between(-1, 1).all()
    assert set(deep["env_name"]) == {"cartpole", "invpendulum"}  # MuJoCo's InvertedPendulum: a Gaussian policy
    assert "lqr" in set(exact_tables(study)["env_name"])
    # continuous-state jobs run through the same `estimate` rule and paths as the tabular ones
    assert (study / "results" / "estimates" / "cartpole" / "init" / "seed0.parquet").exists()
    # the plug-in ran like a built-in: its rows beside the built-in's, on the same trajectories
    mine = t["metrics"][t["metrics"]["estimator"] == "my_reward_to_go"]
    assert len(mine) == 2 * cells and mine["unbiased"].all()
    paired = pd.read_parquet(study / "results" / "tables" / "comparisons.parquet")
    assert ((paired["estimator_b"] == "my_reward_to_go") & paired["paired"]).any()
    assert "Neural policies" in page
    exact = pd.read_parquet(study / "results" / "tables" / "exact_variance.parquet")
    assert len(exact) > 0 and "var_per_traj_exact" in t["metrics"].columns
    assert {"mse_exact", "snr_exact", "cosine_normal"} <= set(t["metrics"].columns)
    assert set(exact["batch_size"]) == {2, 4}
    tradeoff = pd.read_parquet(study / "results" / "tables" / "gae_lambda_tradeoff.parquet")
    assert (tradeoff.groupby(["env_name", "value", "batch_size"])["best"].sum() == 1).all()
    dec = pd.read_parquet(study / "results" / "tables" / "decomposition.parquet")
    assert {"initial_state", "actions", "transitions", "actions_share", "step"} <= set(dec.columns)
    assert 'id="summary"' in page and "slope" in page
    # the coverage seeds: the pairs with an exact variance again on seed 1, joined with the exact values; the report
    # judges the intervals on them and labels the study's own seed 0 in-sample
    held = pd.read_parquet(study / "results" / "tables" / "metrics_heldout.parquet")
    assert set(held["seed"]) == {1} and set(held["env_name"]) == {"corridor", "garnet", "lqr"}
    assert held["exact_in_ci"].notna().all() and set(held["baseline"]) == {"none", "value_exact"}
    own = t["metrics"][t["metrics"]["exact_in_ci"].notna()]
    key = ["env_name", "estimator", "baseline", "horizon", "batch_size"]
    assert sorted(map(tuple, held[key].to_numpy())) == sorted(map(tuple, own[key].to_numpy()))  # the same cells
    assert (study / "results" / "estimates_heldout" / "garnet" / "init" / "seed1.parquet").exists()
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))
    for n, g in held.groupby("batch_size"):
        k = int(g["exact_in_ci"].astype(bool).sum())
        assert re.search(r"On held-out seed 1 \(not used to choose the interval method\), the exact per-trajectory "
                         rf"variance lies inside its 95% interval in .*?at N = {n} \({k} of {len(g)} cells", text)
    assert "In-sample, on the study's own seed 0 (where the interval method was chosen" in text
    assert not re.search(r"""(src|href)=["']https?://""", page)  # opens offline


# ------------------------------------------------------------------- the report in a real browser

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")
# Appended to a copy of the page: once loaded (and the tables built), write what the test checks into the DOM.
MEASURE = """<script>
window.addEventListener("load", function () { setTimeout(function () {
  var s = document.getElementById("summary").getBoundingClientRect();
  var out = {innerWidth: window.innerWidth, innerHeight: window.innerHeight,
    scrollWidth: document.documentElement.scrollWidth, scrollHeight: document.documentElement.scrollHeight,
    summaryTop: s.top + window.scrollY, summaryBottom: s.bottom + window.scrollY,
    summaryFirst: document.querySelector("#summary h2").nextElementSibling.id,
    headline: Array.prototype.map.call(document.querySelectorAll("#summary figure img"), function (i) {
      var r = i.getBoundingClientRect(); return [r.top + window.scrollY, r.bottom + window.scrollY, r.width]; }),
    question: document.querySelector("#summary .question").getBoundingClientRect().top + window.scrollY,
    images: Array.prototype.map.call(document.images, function (i) { return [i.alt, i.complete, i.naturalWidth]; }),
    wrappers: Array.prototype.map.call(document.querySelectorAll(".gridjs-wrapper"), function (w) {
      return [w.closest(".dt").id, w.scrollWidth, w.clientWidth]; }),
    tablesDeclared: document.querySelectorAll("div.dt").length,
    tablesBuilt: document.querySelectorAll("div.dt table.gridjs-table").length,
    tocSticky: getComputedStyle(document.getElementById("toc")).position};
  var pre = document.createElement("pre"); pre.id = "pgexp-measure"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 300); });
</script>"""


@pytest.fixture(scope="session")
def chromium_exe() -> str:
    """Chromium, found or installed (Debian's package) before the study runs; else a skip with the reason, so a
    machine without it does not run the whole study first (system_tools; mandatory in CI)."""
    return chromium()


def measure_in_chromium(exe: str, page: Path, tmp: Path, width: int = 1400, height: int = 900) -> dict:
    """Render ``page`` in headless Chromium ``exe`` at ``width x height`` and measure it."""
    copy = tmp / "measured.html"
    copy.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    profile = tmp / "chromium-profile"
    profile.mkdir()
    proc = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                           "--virtual-time-budget=10000", "--dump-dom", copy.as_uri()],
                          capture_output=True, text=True, timeout=180)
    m = re.search(r'<pre id="pgexp-measure">([^<]*)</pre>', proc.stdout)
    assert m, f"chromium rendered no measurement (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
    return json.loads(html.unescape(m.group(1)))


def test_every_figure_the_study_builds_is_fit_to_print(study):
    """The checks of ``test_figure_layout.py`` (``figure_checks.py``) on each figure the study builds, drawn
    from its own tables: real intervals, real labels, a continuous-action environment beside tabular ones."""
    cfg = yaml.safe_load((study / TEST_CONFIG).read_text())
    found = study_problems(study / "results" / "tables", figures_for(cfg))
    assert set(found) == set(figures_for(cfg))  # every figure the study builds has its tables
    bad = {name: problems for name, problems in found.items() if problems}
    assert not bad, "\n".join(f"{name}:\n  " + "\n  ".join(p) for name, p in bad.items())


def test_report_in_a_browser(chromium_exe, study, tmp_path):
    """Headless Chromium at 1400 x 900: the summary opens with the headline figure, which is on the first screen
    and at most 600 px tall, nothing overflows sideways (the page and every table: no clipped columns), every
    figure image loads, every table is built, the contents stay put."""
    cfg = yaml.safe_load((study / TEST_CONFIG).read_text())
    m = measure_in_chromium(chromium_exe, study / "results" / "report.html", tmp_path)
    assert m["innerWidth"] == 1400
    assert m["summaryFirst"] == "fig-variance_ratios", m  # the summary opens with the headline figure ...
    ((top, bottom, _width),) = m["headline"]
    assert bottom <= m["innerHeight"] and bottom - top <= 600, m  # ... whole on the first screen
    assert m["question"] > bottom  # the question and the headline findings follow it
    assert m["scrollWidth"] <= m["innerWidth"], m
    clipped = [w for w in m["wrappers"] if w[1] > w[2] + 1]
    assert not clipped, f"tables wider than their box at 1400 px: {clipped}"
    assert len(m["images"]) == len(figures_for(cfg)) and all(ok and w > 0 for _, ok, w in m["images"]), m["images"]
    assert m["tablesDeclared"] > 0 and m["tablesBuilt"] == m["tablesDeclared"]
    assert m["tocSticky"] == "sticky"
    print(f"report: {m['scrollHeight']} px tall; headline figure {bottom - top:.0f} px (ends at {bottom:.0f} of a "
          f"{m['innerHeight']} px first screen); summary {m['summaryBottom'] - m['summaryTop']:.0f} px")


# Imported by nothing of Snakemake's own no-op (which imports numpy and pandas itself): the workflow's config
# checks read the registries' metadata only, once the config has been checked in full (tests/study/test_check_record.py)
NOT_FOR_A_NOOP = ("scipy", "gymnasium", "torch", "numba", "matplotlib", "jsonschema")


def imported_modules(importtime: str) -> set[str]:
    """The modules a ``python -X importtime`` run imported (from its stderr)."""
    return {line.rpartition("|")[2].strip() for line in importtime.splitlines() if line.startswith("import time:")}


def test_nothing_changed_means_nothing_to_do_quickly(study):
    # what makes it quick is checked, not timed (a timed test fails on a loaded machine; `pgexp bench study` and
    # README quote the measured figure): the no-op imports none of the numerics
    proc = snakemake(study, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    cmd = [sys.executable, "-X", "importtime", "-m", "snakemake", "-n", "--cores", "2", "--configfile", TEST_CONFIG]
    proc = subprocess.run(cmd, cwd=study, capture_output=True, text=True, timeout=600)
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert not imported_modules(proc.stderr) & set(NOT_FOR_A_NOOP)


def _edit_config(cwd: Path, edit) -> None:
    path = cwd / TEST_CONFIG
    cfg = yaml.safe_load(path.read_text())
    edit(cfg)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


DOWNSTREAM = {"aggregate": 1, "figure": 5, "report_html": 1, "all": 1}  # the five estimation figures
# an environment's held-out coverage job runs its pairs with an exact variance on the same grid and replicates
HELDOUT = {"estimate_heldout": 1, "metrics_heldout": 1, "aggregate_heldout": 1}


def test_one_changed_parameter_reruns_exactly_its_jobs(study, tmp_path):
    cwd = tmp_path / "copy"
    shutil.copytree(study, cwd)
    _edit_config(cwd, lambda c: c["environments"]["garnet"].__setitem__("replicates", 13))
    # the garnet's one job (every pair of the environment), then its tables (metrics, slopes and comparisons: one job);
    # its held-out coverage job (the same replicates), its metrics and their table
    assert planned_jobs(cwd) == {"estimate": 1, "metrics": 1, **HELDOUT, **DOWNSTREAM}


def test_changing_lambda_reruns_only_jobs_with_gae(study, tmp_path):
    cwd = tmp_path / "copy"
    shutil.copytree(study, cwd)
    _edit_config(cwd, lambda c: c.__setitem__("lam", 0.5))
    # the jobs of the environments with a GAE pair (corridor, lqr; not the garnet), their tables and exact curves,
    # corridor's decomposition (the exact lambda trade-off sweeps lambda itself: it does not rerun); the practice
    # audit's garnet job (its GAE variants), its table and figure -- not its normalisation problem, whose pair
    # has no lambda; the held-out coverage jobs of the environments with GAE (its exact pairs), their metrics and table
    assert planned_jobs(cwd) == {"estimate": 2, "metrics": 2, "exact_curves": 2, "decompose": 1,
                                 "estimate_heldout": 2, "metrics_heldout": 2, "aggregate_heldout": 1,
                                 "practice_estimate": 1, "practice_audit_table": 1,
                                 **DOWNSTREAM, "figure": DOWNSTREAM["figure"] + 1}


def test_an_added_estimator_reruns_only_its_environment(study, tmp_path):
    cwd = tmp_path / "copy"
    shutil.copytree(study, cwd)
    _edit_config(cwd, lambda c: c["environments"]["garnet"]["estimators"].append("advantage_exact"))
    # the garnet's job; its tables, and its exact curves and decomposition (advantage_exact has an exact form), and so
    # its held-out coverage job (advantage_exact's coverage is judged)
    assert planned_jobs(cwd) == {"estimate": 1, "metrics": 1, "exact_curves": 1, "decompose": 1, **HELDOUT,
                                 **DOWNSTREAM}


def test_changed_coverage_seeds_rerun_only_the_held_out_jobs(study, tmp_path):
    cwd = tmp_path / "copy"
    shutil.copytree(study, cwd)
    _edit_config(cwd, lambda c: c.__setitem__("coverage", {"seeds": [2]}))
    # one held-out job per environment with exact pairs (corridor, garnet, lqr), their metrics and table, the report:
    # no estimate, metric, exact curve or figure of the study's own
    assert planned_jobs(cwd) == {"estimate_heldout": 3, "metrics_heldout": 3, "aggregate_heldout": 1,
                                 "report_html": 1, "all": 1}


def test_a_changed_training_step_size_reruns_only_training(study, tmp_path):
    cwd = tmp_path / "copy"
    shutil.copytree(study, cwd)
    _edit_config(cwd, lambda c: c["training"].__setitem__("step_sizes", [0.05, 0.1]))
    # the figures of the learning_curves job's tables: learning_curves and performance_profiles (the checkpoint
    # estimates follow the exact path, which has its own step size: variance_along_training does not rerun)
    assert planned_jobs(cwd) == {"train": 1, "learning_curves": 1, "figure": 2, "report_html": 1, "all": 1}


def test_each_figure_is_its_own_target(tmp_path):
    cwd = copy_workflow(tmp_path)
    jobs = planned_jobs(cwd, "results/figures/variance_vs_horizon.pdf")
    assert jobs.get("figure") == 1 and jobs.get("aggregate") == 1
    assert not {"report_html", "all", "train", "deep_estimate", "learning_curves"} & set(jobs)


def test_a_figure_outside_the_config_is_refused_by_name(tmp_path):
    cwd = copy_workflow(tmp_path)
    _edit_config(cwd, lambda c: c.pop("training"))
    proc = snakemake(cwd, "results/figures/learning_curves.pdf", "-n", check=False)
    assert proc.returncode != 0
    assert "results/figures/learning_curves: not a figure of the config" in proc.stdout + proc.stderr


def test_the_snakemake_report_shows_the_registry_captions(study, tmp_path):
    proc = snakemake(study, "--report", str(tmp_path / "report.html"), timeout=300)
    page = (tmp_path / "report.html").read_text()
    for name, spec in FIGURES.items():
        if spec.section == "study":  # the paper studies' figures belong to their own workflows
            continue
        ascii_start = re.match(r"[ -~]*", spec.caption).group()[:60]  # the page escapes non-ASCII characters
        assert len(ascii_start) > 20 and ascii_start in page, name
    assert "snakemake.params" not in page, proc.stderr


@pytest.mark.parametrize("edit,match", [
    (lambda c: c.__setitem__("estimators", ["reinforc"]), "reinforc"),
    (lambda c: c.__setitem__("horizons", [0, 5]), "horizons"),
    (lambda c: c["environments"]["garnet"].__setitem__("colour", "red"), "colour"),
    (lambda c: c["environments"]["garnet"].__setitem__("env", "garnett:states=5"), "unknown problem 'garnett'"),
    (lambda c: c.__setitem__("reference", {"horizon": 7, "batch_size": 2}), "reference.horizon"),
    (lambda c: c.__setitem__("coverage", {"seeds": [0]}), "seed 0 is also a coverage seed"),
])
def test_bad_config_fails_before_any_job(tmp_path, edit, match):
    cwd = copy_workflow(tmp_path)
    _edit_config(cwd, edit)
    proc = snakemake(cwd, check=False)
    assert proc.returncode != 0
    assert match in proc.stdout + proc.stderr
    assert not (cwd / "results").exists()


def test_killed_run_resumes_and_matches_an_uninterrupted_run(study, tmp_path):
    cwd = copy_workflow(tmp_path, plugin=True)
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", TEST_CONFIG]
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    estimates = cwd / "results" / "estimates"
    while time.monotonic() < deadline and len(list(estimates.rglob("*.parquet"))) < 3:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # kill -9 snakemake and its running jobs
    proc.wait(timeout=30)
    assert not (cwd / "results" / "report.html").exists()
    snakemake(cwd)  # a plain rerun finishes the rest
    a, b = tables(study), tables(cwd)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)
