"""``pgexp envs``: list the problems and their spec keys."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("envs", help="list the problems and their spec keys")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from pgexp.problems import REGISTRY

    for name, entry in sorted(REGISTRY.items()):
        keys = ", ".join(f"{k}={v}" for k, v in entry.defaults.items()) or "-"
        print(f"{name:16s} {entry.doc}\n{'':16s} keys: {keys}; gamma, horizon")
    return 0
