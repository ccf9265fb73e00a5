"""Synthetic result tables with the shape of the default study (``config/config.yaml``), for the figure tests.

The values follow simple laws (variance ``c · H^p``, MSE ``∝ 1/N``); the *shape* is the default study's:
11 panels of environments and policy points (ten environments, ``garnet_positive`` at two θ), every
estimator~baseline pair the config asks for (20 at the uniform policy, 10 at a random one, 5 on the
positive control, 7 on the linear-quadratic regulator ``lqr``), five horizons (4 to 160; ``lqr`` 4 to 64,
its reference cell at H = 16), three batch sizes, the GAE trade-off on the four environments that
study GAE, the paired comparisons with REINFORCE at the reference cells, two training environments, one neural
task and the practice audit's six columns.  The
heavy tails the study really meets are built in (seeded): variance intervals up to ``1e41`` and ``1e10``
(a fitted baseline at a rare far reward), an infinite bound, a zero variance, a cosine interval ten
times wider than the others.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FULL = {"reinforce": ["none", "constant", "value_exact", "value_learned", "optimal"],
        "reward_to_go": ["none", "constant", "value_exact", "value_learned", "optimal"],
        "advantage_exact": ["none"], "gae": ["none", "value_exact", "value_learned"],
        "rollin_rollout": ["none", "constant", "value_exact", "value_learned", "optimal"], "actor_critic": ["none"]}
RANDOM = {"reinforce": ["none", "value_exact", "value_learned", "optimal"],
          "reward_to_go": ["none", "value_exact", "value_learned", "optimal"],
          "advantage_exact": ["none"], "actor_critic": ["none"]}
POSITIVE = {"reinforce": ["none", "value_exact"], "reward_to_go": ["none", "value_exact"], "advantage_exact": ["none"]}
LQR = {"reinforce": ["none", "value_exact"], "reward_to_go": ["none", "value_exact"], "advantage_exact": ["none"],
       "gae": ["none", "value_exact"]}
# (env_name, theta_name) -> (pairs, variance scale, exponent shift)
PANELS = {("corridor", "init"): (FULL, 30.0, 0.0), ("corridor.random", "random"): (RANDOM, 20.0, 0.2),
          ("garnet", "init"): (FULL, 4.0, 0.0), ("garnet.random", "random"): (RANDOM, 3.0, 0.0),
          ("garnet_positive", "init"): (POSITIVE, 1.0, 0.4), ("garnet_positive", "random"): (POSITIVE, 0.8, 0.4),
          ("chain", "init"): (FULL, 0.01, 0.3), ("chain.random", "random"): (RANDOM, 0.005, 0.0),
          ("frozenlake", "init"): (FULL, 0.002, -0.8), ("frozenlake.random", "random"): (RANDOM, 0.001, -1.0),
          ("lqr", "init"): (LQR, 60.0, -0.2)}
EXPONENT = {"reinforce": 2.6, "reward_to_go": 2.0, "advantage_exact": 1.0, "gae": 1.1, "rollin_rollout": 2.8,
            "actor_critic": 1.0}
BASE_FACTOR = {"none": 1.0, "constant": 0.6, "value_exact": 0.2, "value_learned": 0.35, "optimal": 0.4}
BIAS = {"gae": 0.05, "actor_critic": 0.2}  # squared bias per unit ‖∇J‖² (others unbiased)
HORIZONS, BATCHES, REF_H, REF_N = (4, 10, 25, 64, 160), (4, 16, 64), 25, 16
# environments whose horizon sweep differs: env_name -> (horizons, reference horizon)
OWN_HORIZONS = {"lqr": ((4, 8, 16, 32, 64), 16)}
# the heavy tails the default study meets: (env_name, estimator, baseline, H, N) -> upper bound of var_per_traj
HEAVY = {("garnet.random", "reward_to_go", "optimal", 4, 16): 5.3e41,
         ("frozenlake.random", "reward_to_go", "optimal", 25, 16): 1.0e10,
         ("frozenlake.random", "reward_to_go", "optimal", 64, 16): np.inf}


def _ci(v: float, rel: float) -> tuple[float, float]:
    return v * (1 - rel), v * (1 + rel)


def metrics(seed: int = 0) -> pd.DataFrame:
    """The estimation metrics: the horizon sweep at N = 16 and the batch sweep at H = 25 (``sweep`` both at
    the reference cell), one row per cell."""
    rng = np.random.default_rng(seed)
    rows = []
    for (env, theta), (pairs, scale, shift) in PANELS.items():
        g2 = 0.3 * scale
        for est, bases in pairs.items():
            for base in bases:
                horizons, ref_h = OWN_HORIZONS.get(env, (HORIZONS, REF_H))
                cells = [(h, REF_N, "both" if h == ref_h else "horizon") for h in horizons]
                cells += [(ref_h, n, "batch") for n in BATCHES if n != REF_N]
                for h, n, sweep in cells:
                    var = scale * BASE_FACTOR[base] * h ** (EXPONENT[est] + shift) * float(np.exp(rng.normal(0, .1)))
                    if est == "advantage_exact" and env == "garnet_positive" and h == 4:
                        var = 0.0  # an exact zero (a deterministic first steps): no place on a log axis
                    tc = var / n
                    bias = BIAS.get(est, 0.0) * g2 * (1 + 0.1 * rng.normal())
                    mse = tc + bias
                    steps = 0.8 * h * n * (2 if base in ("value_learned", "optimal") else 1)
                    cos = float(1 / np.sqrt(1 + mse / g2))
                    row = dict(env_name=env, theta_name=theta, estimator=est, baseline=base, horizon=h, batch_size=n,
                               sweep=sweep, seed=0, replicates=400, env_steps_mean=steps / n, trace_cov=tc,
                               var_per_traj=var, mse=mse, rel_mse=mse / g2, cosine=cos, bias_sq=bias,
                               work_normalized_variance=tc * steps, grad_norm_exact=np.sqrt(g2))
                    for m in ("trace_cov", "var_per_traj", "mse", "rel_mse", "work_normalized_variance"):
                        row[f"{m}_lo"], row[f"{m}_hi"] = _ci(row[m], 0.25 if n == 4 else 0.14)
                    half = 0.05 * (1 - cos) + 0.004
                    row["cosine_lo"], row["cosine_hi"] = cos - half, min(1.0, cos + half)
                    se = 2.0 * tc / np.sqrt(400)
                    row["bias_sq_lo"], row["bias_sq_hi"] = bias - se, bias + se
                    heavy = HEAVY.get((env, est, base, h, n))
                    if heavy is not None:
                        row["var_per_traj_hi"] = heavy
                        row["trace_cov_hi"] = heavy / n
                    rows.append(row)
    df = pd.DataFrame(rows)
    wide = (df["env_name"] == "chain") & (df["estimator"] == "actor_critic") & (df["batch_size"] == 4)
    df.loc[wide, "cosine_lo"] = df.loc[wide, "cosine"] - 0.6  # one cosine interval far wider than the rest
    return df


def slopes(m: pd.DataFrame) -> pd.DataFrame:
    """Least-squares log-log fits of the horizon sweep (at N = 16)."""
    rows = []
    h = m[m["sweep"].isin(["horizon", "both"]) & (m["var_per_traj"] > 0)]
    for (env, theta, est, base), g in h.groupby(["env_name", "theta_name", "estimator", "baseline"]):
        slope, intercept = np.polyfit(np.log(g["horizon"]), np.log(g["var_per_traj"]), 1)
        rows.append(dict(env_name=env, theta_name=theta, estimator=est, baseline=base, batch_size=REF_N, seed=0,
                         slope=slope, slope_lo=slope - 0.1, slope_hi=slope + 0.1, intercept=intercept,
                         n_horizons=len(g), h_min=float(g["horizon"].min()), h_max=float(g["horizon"].max())))
    return pd.DataFrame(rows)


# the heavy tails of paired ratios at the reference cell: (env_name, estimator, baseline) -> var_ratio_lo of
# reinforce~none / pair (a fitted baseline's variance, heavy-tailed: the ratio's interval reaches 0)
HEAVY_RATIO = {("garnet.random", "reward_to_go", "optimal"): 0.0,
               ("frozenlake.random", "reward_to_go", "optimal"): 1e-9}


def comparisons(m: pd.DataFrame) -> pd.DataFrame:
    """The paired comparisons of reinforce~none (``A``, first in registry order) with every other pair at each
    panel's reference cell: ``var_ratio`` = the metrics' ratio, its paired interval ×/÷ 1.2, heavy-tailed ones
    (:data:`HEAVY_RATIO`) down to 0."""
    rows = []
    ref = m[m["sweep"] == "both"]
    for (env, theta), g in ref.groupby(["env_name", "theta_name"], sort=False):
        a = g[(g["estimator"] == "reinforce") & (g["baseline"] == "none")].iloc[0]
        for b in g.itertuples():
            if (b.estimator, b.baseline) == ("reinforce", "none"):
                continue
            r = a["var_per_traj"] / b.var_per_traj if b.var_per_traj > 0 else np.inf
            lo = HEAVY_RATIO.get((env, b.estimator, b.baseline), r / 1.2)
            rows.append(dict(env_name=env, theta_name=theta, horizon=b.horizon, batch_size=b.batch_size, seed=0,
                             estimator_a="reinforce", baseline_a="none", estimator_b=b.estimator,
                             baseline_b=b.baseline, paired=True, var_ratio=r, var_ratio_lo=lo, var_ratio_hi=r * 1.2,
                             replicates=400, confidence=0.95))
    return pd.DataFrame(rows)


def exact(m: pd.DataFrame) -> pd.DataFrame:
    """Exact values where the exact engine has them (the unbiased estimators with an exact or no baseline)."""
    keep = m["baseline"].isin(["none", "value_exact"]) & ~m["estimator"].isin(["gae", "actor_critic"])
    e = m[keep & m["sweep"].isin(["horizon", "both", "batch"])]
    out = e[["env_name", "theta_name", "estimator", "baseline", "horizon", "batch_size"]].copy()
    for col in ("var_per_traj", "rel_mse", "cosine", "trace_cov", "mse"):
        out[f"{col}_exact"] = e[col].to_numpy() * (1.02 if col != "cosine" else 1.0)
    return out.reset_index(drop=True)


def tradeoff() -> pd.DataFrame:
    """GAE's exact λ trade-off on the four environments that study GAE, three value functions, four N."""
    rows = []
    for env, scale in (("chain", 0.01), ("corridor", 30.0), ("frozenlake", 0.002), ("garnet", 4.0)):
        for value, b0 in (("none", 1.0), ("perturbed", 0.5), ("exact", 0.0)):
            for n in (1, 4, 16, 64):
                cells = []
                for lam in np.linspace(0, 1, 21):
                    bias = scale * b0 * (1 - lam) ** 2
                    tc = scale * (1 + 30 * lam**6) / n
                    cells.append(dict(env_name=env, theta_name="init", horizon=25, estimator="gae", value=value,
                                      lam=lam, batch_size=n, bias_sq=bias, trace_cov=tc, mse=bias + tc))
                best = min(range(len(cells)), key=lambda i: cells[i]["mse"])
                rows += [{**c, "best": i == best} for i, c in enumerate(cells)]
    return pd.DataFrame(rows)


def deep_quality(seed: int = 1) -> pd.DataFrame:
    """The neural task (cartpole): the batch sweep at N = 2, 10, 100, two baselines, three estimators."""
    rng = np.random.default_rng(seed)
    rows = []
    for est, p in (("reinforce", 1.0), ("reward_to_go", 0.4), ("gae", 0.2)):
        for base in ("none", "value_learned"):
            for n in (2, 10, 100):
                var = 4e4 * p * (0.3 if base == "value_learned" else 1.0) * float(np.exp(rng.normal(0, .1)))
                rel = var / n / 500.0
                cos = float(1 / np.sqrt(1 + rel))
                row = dict(env_name="cartpole", theta_name="init", estimator=est, baseline=base, horizon=500,
                           batch_size=n, sweep="both" if n == 100 else "batch", seed=0, var_per_traj=var,
                           rel_mse=rel, mse=rel * 500, cosine=cos, work_normalized_variance=var * 60,
                           trace_cov=var / n, bias_sq=0.0)
                for m in ("var_per_traj", "rel_mse", "mse", "work_normalized_variance", "trace_cov"):
                    row[f"{m}_lo"], row[f"{m}_hi"] = _ci(row[m], 0.5 if n == 2 else 0.2)
                row["cosine_lo"], row["cosine_hi"] = cos - 0.25 * (1 - cos) - 0.05, min(1.0, cos + 0.05)
                rows.append(row)
    return pd.DataFrame(rows)


def practice_audit(seed: int = 2) -> dict[str, pd.DataFrame]:
    """The audit's six columns (no γʰ and normalised advantages on chain and garnet, a cut on corridor and
    discounted garnet) and the enumerated normalisation bias of two problems."""
    rng = np.random.default_rng(seed)
    rows = []
    text = "reward_to_go~value_exact~plain"
    gae_text = "gae~value_exact~plain"

    def row(env, choice, variant, est, ref, n, bias, var, cos, **kw):
        r = dict(env_name=env, theta_name="audit", choice=choice, variant=variant, estimator=est,
                 baseline="value_exact", reference=ref, batch_size=n, normalize_advantages="norm" in variant,
                 truncate=kw.get("truncate", np.nan), truncate_bootstrap=kw.get("boot"), rel_bias_sq=bias,
                 rel_mse=bias + var, cosine_mean=cos, rel_bias_sq_exact=bias, rel_mse_exact=bias + var,
                 cosine_mean_exact=cos)
        for m in ("rel_bias_sq", "rel_mse"):
            r[f"{m}_lo"], r[f"{m}_hi"] = _ci(r[m], 0.3 if n == 4 else 0.1)
        half = kw.get("cos_half", 0.001)
        r["cosine_mean_lo"], r["cosine_mean_hi"] = cos - half, min(1.0, cos + half)
        # effective step sizes (a normalised variant's are the scale's: the default chain's ~1/0.025) and the angle
        k = 240.0 if "norm" in variant else 1.0
        for name, q in (("step_k_q10", 0.55), ("step_k_median", 1.0), ("step_k_q90", 1.08)):
            r[name], r[f"{name}_lo"], r[f"{name}_hi"] = k * q, 0.98 * k * q, 1.02 * k * q
        angle = float(np.degrees(np.arccos(min(cos, 1.0))))
        r["angle_deg"], r["angle_deg_lo"], r["angle_deg_hi"] = angle, 0.8 * angle, 1.2 * angle
        return r

    for n in (4, 16, 64):
        for env in ("chain", "garnet"):
            var = float(np.exp(rng.normal(0, .1))) * 20 / n
            wide = 0.08 if (env == "chain" and n == 4) else 0.001  # one heavy-tailed cell
            for est, ref in (("reward_to_go", text), ("gae", gae_text)):
                rows.append(row(env, "textbook", ref, est, ref, n, 1e-4 / n, var, 1.0, cos_half=wide))
                rows.append(row(env, "common", f"{est}_common~value_exact~plain", f"{est}_common", ref, n, 3.0,
                                4 * var, 0.999, cos_half=wide))
                rows.append(row(env, "normalize", f"{est}_common~value_exact~norm", f"{est}_common", ref, n,
                                2.0 + 1 / n, 3 * var, 0.995))
            rows.append(row(env, "normalize", "reward_to_go~value_exact~norm", "reward_to_go", text, n, 0.5 / n,
                            0.9 * var, 0.998))
        for env, cut in (("corridor", 8), ("garnet_discounted", 10)):
            var = 2.0 / n
            rows.append(row(env, "textbook", text, "reward_to_go", text, n, 1e-3 / n, var, 1.0))
            for boot, b in (("none", 0.5), ("value_exact", 0.2), ("value_learned", 0.25)):
                rows.append(row(env, "truncate", f"reward_to_go~value_exact~cut{cut}-{boot}", "reward_to_go", text,
                                n, b, var, 0.99, truncate=cut, boot=boot))
    sizes = {"bandit": [2, 4, 8, 16, 32, 64, 128, 256], "short": [1, 2, 3, 4]}
    norm = []
    for problem, ns in sizes.items():
        for est in (["reward_to_go"] if problem == "bandit" else ["reward_to_go", "reward_to_go_common"]):
            for n in ns:
                b = 1.3 / n**2
                norm.append(dict(problem=problem, env="garnet", estimator=est, baseline="value_exact", batch_size=n,
                                 enumerated=True, rel_bias_sq_exact=b, rate_slope=-1.0, rel_bias_sq=b,
                                 rel_bias_sq_lo=0.7 * b, rel_bias_sq_hi=1.4 * b))
    return {"practice_audit": pd.DataFrame(rows), "practice_audit_normalization": pd.DataFrame(norm)}


def default_study_tables() -> dict[str, pd.DataFrame]:
    """Table name (``results/tables/<name>.parquet``) -> a synthetic table of the default study's shape."""
    from test_plots_training import make_training_tables

    m = metrics()
    training = make_training_tables()  # two environments, as the default study trains on
    deep = deep_quality()
    return {"metrics": m, "slopes": slopes(m), "exact_variance": exact(m), "comparisons": comparisons(m),
            "gae_lambda_tradeoff": tradeoff(),
            "learning_curves": training["curves"], "training_summary": training["summary"],
            "performance_profiles": training["profiles"],
            "variance_along_training": training["training_variance"], "deep_quality": deep,
            "deep_learning_curves": training["curves"], "deep_training_summary": training["summary"],
            **practice_audit()}
