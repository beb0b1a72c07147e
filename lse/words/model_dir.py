"""The word-model directory: one format for every model, so index / evaluate treat them alike.

Layout (the directory appears only when complete: :func:`lse.io.atomic_directory`)::

    MODEL/
      config.json      format name + version, model name, dims, hyper-parameters, training
                       summary, and the size + SHA-256 of every other file
      vocab.txt        one word per line; line i is item i (the dataset's vocabulary order)
      embeddings.npy   float32 (n, L, d): the dense vectors (tanh outputs, or SVD vectors),
                       used to rank retrieved words by cosine (hit ratio)
      codes.npy        uint8 (n, L, ceil(bits / 8)): packed binary codes (lse.index.pack_codes
                       layout), the hashes the index is built from
      extra files      e.g. projection.npy (SimHash hyperplanes), training_log.csv

Codes are stored rather than recomputed from the embeddings because not every model hashes
by sign (SimHash hashes random projections). The checksums catch a truncated or edited file
at load time with a message naming it, instead of a confusing failure later.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import LSEError
from ..io import atomic_directory

FORMAT_NAME = "lse-word-model"
FORMAT_VERSION = 1
CONFIG, VOCAB, EMBEDDINGS, CODES = "config.json", "vocab.txt", "embeddings.npy", "codes.npy"


@dataclass
class WordModel:
    """A trained word2hashes model in memory.

    Attributes:
        name: the model (``lse``, ``cos``, ``dch``, ``dhn``, ``svd-sign``, ``svd-simhash``).
        vocab: the words, item i = ``vocab[i]``.
        embeddings: float32 (n, L, d) dense vectors ((n, 1, d) when the L codes hash one
            vector, as SimHash with several tables does).
        codes: uint8 (n, L, nbytes) packed codes of ``bits`` bits each.
        bits: bits per code.
        params: hyper-parameters (JSON-serialisable).
        training: what training reported (time, epochs, losses, dataset).
        arrays: extra named arrays saved as ``NAME.npy`` (e.g. ``projection``).
        files: extra files copied into the directory (name -> source path).
    """

    name: str
    vocab: list[str]
    embeddings: np.ndarray
    codes: np.ndarray
    bits: int
    params: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    def __post_init__(self):
        self.embeddings = np.asarray(self.embeddings, np.float32)
        self.codes = np.asarray(self.codes)
        _check_shapes(self.embeddings, self.codes, len(self.vocab), self.bits, "model")

    @property
    def contexts(self) -> int:
        """L: codes (clusters) per word."""
        return self.codes.shape[1]

    @property
    def dim(self) -> int:
        """Width of the dense embeddings."""
        return self.embeddings.shape[2]

    def config(self) -> dict:
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "model": self.name,
                "n_words": len(self.vocab), "contexts": self.contexts, "dim": self.dim,
                "bits": self.bits, "params": self.params, "training": self.training}


def _check_shapes(embeddings, codes, n_words, bits, where) -> None:
    """codes (n, L, nbytes) and embeddings (n, L, d), or (n, 1, d) shared by the L codes."""
    nbytes = (int(bits) + 7) // 8
    if codes.dtype != np.uint8 or codes.ndim != 3 or codes.shape[0] != n_words \
            or codes.shape[2] != nbytes or codes.shape[1] < 1:
        raise LSEError(f"{where}: codes must be uint8 ({n_words}, L, {nbytes}) for {bits}-bit "
                       f"codes, got {codes.dtype} {codes.shape}")
    if embeddings.ndim != 3 or embeddings.shape[0] != n_words \
            or embeddings.shape[1] not in (1, codes.shape[1]):
        raise LSEError(f"{where}: embeddings must have shape ({n_words}, L, d) or "
                       f"({n_words}, 1, d) with L = {codes.shape[1]}, got {embeddings.shape}")
    if not np.isfinite(embeddings).all():
        raise LSEError(f"{where}: the embeddings contain NaN or infinite values")


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(model: WordModel, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``model`` to the directory ``path`` atomically; return the path."""
    path = Path(path)
    for word in model.vocab:
        if not word or "\n" in word or word != word.strip("\r"):
            raise LSEError(f"cannot save a vocabulary word {word!r}: words must be non-empty "
                           "and contain no line breaks")
    with atomic_directory(path, overwrite=overwrite) as tmp:
        (tmp / VOCAB).write_text("".join(f"{w}\n" for w in model.vocab), encoding="utf-8")
        np.save(tmp / EMBEDDINGS, model.embeddings)
        np.save(tmp / CODES, model.codes)
        for name, array in model.arrays.items():
            np.save(tmp / f"{name}.npy", np.asarray(array))
        for name, source in model.files.items():
            shutil.copyfile(source, tmp / name)
        config = model.config()
        config["arrays"] = sorted(model.arrays)
        config["files"] = {f.name: {"bytes": f.stat().st_size, "sha256": file_sha256(f)}
                           for f in sorted(tmp.iterdir())}
        (tmp / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path


def read_config(path: str | os.PathLike) -> dict:
    """The ``config.json`` of a model directory, checked for format and version."""
    path = Path(path)
    if not path.is_dir():
        hint = " (an index? pass the model directory made by lse train)" if path.is_file() else ""
        raise LSEError(f"model directory {path} does not exist{hint}")
    try:
        config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LSEError(f"{path} is not an lse word model: {CONFIG} is missing") from None
    except (OSError, ValueError) as exc:
        raise LSEError(f"{path / CONFIG}: corrupt model config ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
        raise LSEError(f"{path} is not an lse word model ({CONFIG} has no format "
                       f"{FORMAT_NAME!r})")
    if config.get("version") != FORMAT_VERSION:
        raise LSEError(f"{path}: word model format version {config.get('version')}; this lse "
                       f"reads version {FORMAT_VERSION} (retrain the model)")
    for key in ("model", "n_words", "contexts", "dim", "bits", "files"):
        if key not in config:
            raise LSEError(f"{path / CONFIG}: corrupt model config (no {key!r})")
    return config


def load_model(path: str | os.PathLike, *, verify: bool = True) -> WordModel:
    """Read a model directory written by :func:`save_model`.

    A missing directory or file, a file whose size or checksum differs from ``config.json``
    (``verify``), or arrays of the wrong shape raise :class:`LSEError` naming the problem.
    """
    path = Path(path)
    config = read_config(path)
    for name, meta in config["files"].items():
        f = path / name
        if not f.is_file():
            raise LSEError(f"{path} is incomplete: {name} is missing")
        if f.stat().st_size != meta.get("bytes"):
            raise LSEError(f"{f} is corrupt: {f.stat().st_size} bytes, expected {meta.get('bytes')}")
        if verify and file_sha256(f) != meta.get("sha256"):
            raise LSEError(f"{f} is corrupt: its checksum does not match {CONFIG}")
    for name in (VOCAB, EMBEDDINGS, CODES):
        if name not in config["files"]:
            raise LSEError(f"{path} is incomplete: {name} is missing")
    try:
        vocab = (path / VOCAB).read_text(encoding="utf-8").split("\n")[:-1]
        embeddings = np.load(path / EMBEDDINGS, allow_pickle=False)
        codes = np.load(path / CODES, allow_pickle=False)
        arrays = {name: np.load(path / f"{name}.npy", allow_pickle=False)
                  for name in config.get("arrays", [])}
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise LSEError(f"{path}: unreadable model file ({exc})") from None
    if len(vocab) != config["n_words"]:
        raise LSEError(f"{path / VOCAB}: {len(vocab)} words, config.json says {config['n_words']}")
    _check_shapes(embeddings, codes, len(vocab), config["bits"], str(path))
    return WordModel(config["model"], vocab, embeddings, codes, int(config["bits"]),
                     params=config.get("params", {}), training=config.get("training", {}),
                     arrays=arrays)
