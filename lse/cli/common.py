"""Small helpers shared by the CLI commands."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import LSEError
from ..io import atomic_path


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def write_json(path: str | Path, payload) -> None:
    """Write ``payload`` as pretty JSON, atomically."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise LSEError(f"cannot write {path}: directory {path.parent} does not exist")
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up chatter before it is imported."""
    import os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import absl.logging  # noqa: F401  (installed with tensorflow)
    absl.logging.set_verbosity(absl.logging.ERROR)
