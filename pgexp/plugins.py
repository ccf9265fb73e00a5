"""Plug-ins: a user's module that registers estimators or baselines, imported before the registry is read.

The Gymnasium way (``make("module:Env")`` imports ``module`` first): a plug-in is any importable module
(or a ``.py`` file) that calls ``pgexp.register_estimator(...)`` at import.  It is named

* on any command: ``pgexp COMMAND --plugin MODULE`` (repeatable; the dispatcher imports it before it builds
  the parser, so the plug-in's names are valid choices);
* in a study config: ``plugins: [MODULE]`` (imported by the Snakefile before the config is validated, and
  passed to every ``pgexp`` call of the workflow through :data:`ENV_VAR`);
* in the environment: ``PGEXP_PLUGINS=MODULE,MODULE``.

``MODULE`` is a module name, imported with the current directory on ``sys.path`` (as ``python -m``
does), or a path to a ``.py`` file.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

from pgexp.errors import UserError

ENV_VAR = "PGEXP_PLUGINS"
LOADED: list[str] = []  # what this process imported, in order (recorded in provenance)


def import_plugin(spec: str) -> ModuleType:
    """Import one plug-in (module name or ``.py`` path); a failure is one line naming it."""
    text = str(spec).strip()
    if not text:
        raise UserError("--plugin: empty name; allowed: a module name or a path to a .py file")
    try:
        if text.endswith(".py"):
            path = Path(text).resolve()
            if not path.is_file():
                raise UserError(f"--plugin {text}: no such file")
            name = f"pgexp_plugin_{path.stem}"
            if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
                return sys.modules[name]
            loader = importlib.util.spec_from_file_location(name, path)
            assert loader is not None and loader.loader is not None
            module = importlib.util.module_from_spec(loader)
            sys.modules[name] = module
            loader.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path and "" not in sys.path:
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(text)
    except UserError as exc:  # a registration the registry refused (a taken name, a bad field), or no such file
        raise UserError(str(exc) if str(exc).startswith("--plugin") else f"--plugin {text}: {exc}") from None
    except KeyboardInterrupt:
        raise
    except SystemExit as exc:  # a plug-in that exits would end the command silently, with its status
        raise UserError(f"--plugin {text}: import failed (the module called sys.exit({exc.code!r}))") from None
    except BaseException as exc:
        detail = " ".join(str(exc).split())[:200]
        raise UserError(f"--plugin {text}: import failed ({type(exc).__name__}: {detail})") from None
    if text not in LOADED:
        LOADED.append(text)
    return module


def load_plugins(specs: Iterable[str]) -> list[ModuleType]:
    """Import every plug-in of ``specs`` (duplicates once), in order."""
    import pgexp.estimators  # noqa: F401 - built-ins first, so plug-ins come after them in the registry

    seen: list[str] = []
    for s in specs:
        if s and s not in seen:
            seen.append(s)
    return [import_plugin(s) for s in seen]


def plugins_in(argv: Sequence[str]) -> list[str]:
    """The ``--plugin MODULE`` / ``--plugin=MODULE`` values of a command line."""
    out = []
    for i, arg in enumerate(argv):
        if arg == "--plugin" and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith("--plugin="):
            out.append(arg.partition("=")[2])
    return out


def plugins_from_env() -> list[str]:
    return [s.strip() for s in os.environ.get(ENV_VAR, "").split(",") if s.strip()]
