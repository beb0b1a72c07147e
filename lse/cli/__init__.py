"""The ``lse`` command line.

Each sub-command lives in its own module under :mod:`lse.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (a callable taking the parsed
``argparse.Namespace`` and returning an exit code). Heavy imports (TensorFlow, Dask) happen
inside ``func`` so that ``lse --help`` stays instant.

Errors: an :class:`lse.errors.LSEError` (or a bad argument) prints one line ``lse: error: ...``
and exits with status 2; Ctrl-C exits with 130. Nothing prints a traceback unless
``LSE_DEBUG=1`` is set.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import LSEError

#: Sub-command modules, in the order ``lse --help`` lists them.
COMMANDS = ("demo", "sbm", "prepare", "train", "index", "query", "evaluate",
            "map_benchmark", "label_benchmark")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lse",
        description="Semantic hashing with Locality Sensitive Embeddings: prepare data, train "
                    "hashing models, build exact-hash indexes, query and evaluate them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:  # a command not built yet
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LSEError as exc:
        if os.environ.get("LSE_DEBUG"):
            raise
        print(f"lse: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lse: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
