"""Figures in the report: the PNG beside each figure's PDF, embedded (base64), with its one caption.

The Summary opens with :data:`SUMMARY_FIGURE` where the study built it (no section shows it again).
Captions come from the figure registry (:func:`caption`): the same text as the figure rules' captions,
never a second copy in the report.  A figure is shown at the width of the text; a click on it (or on
"Open full size") opens it at its full resolution over the page (``assets/report.js``: the same
embedded image, not a second copy), Escape or a click closes it.
"""

from __future__ import annotations

import base64
from pathlib import Path

from pgexp.report.format import esc

#: The figure the report's Summary opens with: every estimator~baseline's per-trajectory variance relative to
#: REINFORCE, one mark per environment (:mod:`pgexp.figures.variance_ratios`), drawn to read on the first screen.
SUMMARY_FIGURE = "variance_ratios"


def caption(name: str) -> str:
    """The figure's caption from the figure registry (``Figure NAME.`` for a figure it does not know)."""
    from pgexp.figures import FIGURES

    spec = FIGURES.get(name)
    return spec.caption if spec is not None else f"Figure {name}."


def figure_html(name: str, path: str | Path) -> str:
    """``<figure>`` with the embedded PNG and its caption; raises when the PNG is missing."""
    png = Path(path).with_suffix(".png")
    if not png.is_file():
        raise FileNotFoundError(f"report: figure {name!r}: no PNG beside {path} (expected {png})")
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    pdf = Path(path).with_suffix(".pdf")
    vec = f' Vector version: <span class="mono">{esc(pdf.name)}</span>.' if pdf.is_file() else ""
    return (
        f'<figure id="fig-{esc(name)}" class="zoomable"><img alt="{esc(name)}" loading="eager" '
        f'title="Click to open full size" src="data:image/png;base64,{data}">'
        f"<figcaption><strong>{esc(name)}.</strong> {esc(caption(name))}{vec} "
        f'<button type="button" class="zoom">Open full size</button></figcaption></figure>'
    )
