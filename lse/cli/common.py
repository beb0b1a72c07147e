"""Small helpers shared by the CLI commands."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import LSEError, check_int, check_number, int_rule, number_rule
from ..io import atomic_path


def _checked_type(convert, check, rule: str):
    """An argparse ``type``: ``convert`` the text, then ``check`` it with a :mod:`lse.errors`
    check, so that a command line refuses a value at parse time (the option is named, nothing is
    read or trained first) in the library's words, e.g. "must be an integer >= 1 (got 0)"."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {rule} (got {text!r})") from None
        try:
            return check(value)
        except LSEError:
            raise argparse.ArgumentTypeError(f"must be {rule} (got {text})") from None
    return parse


def _int_at_least(minimum: int):
    return _checked_type(int, lambda value: check_int(value, "value", minimum), int_rule(minimum))


positive_int = _int_at_least(1)
nonnegative_int = _int_at_least(0)


def number(*, positive: bool = False, below=None, at_most=None):
    """An argparse ``type``: a real number under :func:`lse.errors.check_number`'s rule."""
    return _checked_type(
        float, lambda value: check_number(value, "value", positive=positive, below=below,
                                          at_most=at_most),
        number_rule(positive=positive, below=below, at_most=at_most))


positive_number, nonnegative_number = number(positive=True), number()
fraction, probability = number(below=1), number(at_most=1)


def output_file(text: str) -> Path:
    """argparse type of an output file such as ``--json PATH``: checked when the command line
    is parsed, so a mistyped directory fails at once, not after an hour of training."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text}: it is a directory")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(
            f"cannot write {text}: directory {path.parent} does not exist")
    return path


def write_json(path: str | Path, payload) -> None:
    """Write ``payload`` as pretty JSON, atomically."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise LSEError(f"cannot write {path}: directory {path.parent} does not exist")
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")


def quiet_tensorflow() -> None:
    """Import TensorFlow without its C++ start-up chatter.

    TF_CPP_MIN_LOG_LEVEL silences TensorFlow's logging once absl is initialised, but TF 2.21
    writes its oneDNN / CUDA notices at import time, *before* that ("All log messages before
    absl::InitializeLog() is called are written to STDERR"), six lines a command's user cannot
    act on. So the first import runs with file descriptor 2 pointed at /dev/null; a failing
    import still raises (and is reported) after stderr is restored.
    """
    import os
    import sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        sys.stderr.flush()
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    import absl.logging  # installed with tensorflow
    absl.logging.set_verbosity(absl.logging.ERROR)
