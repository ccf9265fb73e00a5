"""``pgexp plot FIGURE --ROLE PATH ... --output X.pdf``: one figure (PDF + PNG beside it) from result tables.

Figure names and table options come from the figure registry (:mod:`pgexp.figures`): every table role
of a registered figure is an option ``--ROLE PATH`` (a parquet file); a figure takes the roles it
declares, needs the required ones and refuses the others.  A missing or unreadable table, or one of
the wrong kind (rows without a column the figure needs), is one line naming the option and the file;
nothing is written then.  Tables without rows for the figure give a figure that says "no data".
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pgexp.cli.common import check_outputs
from pgexp.errors import UserError

EXAMPLE = ("pgexp plot variance_vs_horizon --metrics results/tables/metrics.parquet "
           "--slopes results/tables/slopes.parquet --output results/figures/variance_vs_horizon.pdf")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from pgexp.figures import FIGURES, option, ordered, table_roles

    p = sub.add_parser("plot", help="one figure (PDF + PNG beside it) from the result tables",
                       description="Draw one registered figure from result tables and write FIGURE.pdf and "
                                   "FIGURE.png (200 dpi of its printed size: 1400 px wide at most) atomically.  "
                                   "Figures and the tables each takes: "
                                   + "; ".join(f"{n} ({', '.join(option(r) for r in FIGURES[n].tables)})"
                                               for n in ordered()) + ".")
    p.add_argument("figure", choices=ordered(), metavar="FIGURE", help=f"one of: {', '.join(ordered())}")
    for role, tables in table_roles().items():
        kinds = ", ".join(tables[:-1]) + (" or " if len(tables) > 1 else "") + tables[-1]
        p.add_argument(option(role), default=None, metavar="PATH", help=f"table {kinds} (parquet)")
    p.add_argument("--output", required=True, metavar="FIGURE.pdf", help="the PNG is written beside it")
    p.set_defaults(func=run)
    return p


def read_table(path: str, what: str):
    """A parquet table, or one line naming ``what`` (the option) and the file."""
    import pyarrow as pa

    from pgexp.io import read_frame

    if not Path(path).is_file():
        raise UserError(f"{what} {path}: no such file")
    try:
        return read_frame(path)
    except (UserError, pa.ArrowException, OSError) as exc:
        raise UserError(f"{what} {path}: not a parquet table ({type(exc).__name__})") from None


def run(args: argparse.Namespace) -> int:
    from pgexp.figures import get_figure, option, table_roles
    from pgexp.io import save_figure

    spec = get_figure(args.figure)
    given = {role: path for role in table_roles() if (path := getattr(args, role, None)) is not None}
    for role in given:
        if role not in spec.tables:
            raise UserError(f"{option(role)}: not a table of figure {spec.name}; it takes "
                            f"{', '.join(option(r) for r in spec.tables)}")
    tables = {role: read_table(path, option(role)) for role, path in given.items()}
    sources = {role: f"{option(role)} {path}" for role, path in given.items()}
    spec.check(tables, sources)  # the tables first (a mistake there is named first), then the outputs, then drawing
    out = Path(args.output)
    check_outputs(args.output, fmt="figure")  # as given (a directory, a trailing '/'), then the two files written
    check_outputs(str(out.with_suffix(".pdf")), str(out.with_suffix(".png")))
    fig = spec.make(tables, sources)
    save_figure(fig, args.output)
    return 0
