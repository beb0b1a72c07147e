"""Corpus arguments -> a list of shards, the unit of parallel work.

A corpus argument is a file (plain, ``.gz``, ``.bz2``, ``.xz``; the compression is recognised by
its magic bytes, not its name), a directory (every non-hidden file below it, recursively), a
glob (``"wiki/*.xz"``, ``**`` allowed) or ``nltk:NAME`` (an NLTK corpus, read from the NLTK data
path, e.g. ``nltk:brown``).

Shards: a compressed file is one shard (it cannot be split without decompressing it); an
uncompressed file larger than ``shard_size`` bytes is cut into byte ranges, each starting at a
line start, so one big file still keeps every worker busy; an NLTK corpus is one shard per
``shard_size`` bytes of its files. A shard boundary is also a window boundary (it always falls at
a line end, so only ``--boundary document`` windows are shortened there). The plan depends only
on the corpus and ``shard_size``, never on the number of workers, so every run of the same job
counts the same windows.
"""
from __future__ import annotations

import glob
import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lse.errors import LSEError

_MAGIC = {b"\x1f\x8b": "gz", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz", b"\x5d\x00\x00": "lzma"}
_REFUSE = {b"PK\x03\x04": "a zip archive (for an NLTK corpus use nltk:NAME)",
           b"\x7fELF": "an executable", b"%PDF": "a PDF file", b"\x89PNG": "a PNG image",
           b"\xff\xd8\xff": "a JPEG image", b"\x93NUMPY": "a numpy array file"}


@dataclass(frozen=True)
class Shard:
    """One unit of work: a byte range of a file, or a group of files of an NLTK corpus."""

    source: str                      # the path, or "nltk:NAME"
    compression: str | None = None   # None, "gz", "bz2", "xz", "lzma"
    start: int = 0                   # byte range [start, end) of an uncompressed file
    end: int | None = None
    size: int = 0                    # bytes on disk (for progress and balancing)
    mtime_ns: int = 0
    fileids: tuple[str, ...] = ()    # NLTK corpus files
    nltk_data: tuple[str, ...] = ()  # NLTK data directories to search

    @property
    def is_nltk(self) -> bool:
        return self.source.startswith("nltk:")

    def key(self) -> str:
        """A fingerprint that changes when the shard's content may have changed."""
        text = repr((self.source, self.compression, self.start, self.end, self.size,
                     self.mtime_ns, self.fileids))
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def describe(self) -> str:
        if self.is_nltk:
            return f"{self.source} ({len(self.fileids)} files)"
        if self.start or self.end is not None:
            return f"{self.source} [bytes {self.start}-{self.end}]"
        return self.source


def detect_compression(path: str | os.PathLike) -> str | None:
    """``"gz"``/``"bz2"``/``"xz"``/``"lzma"`` from the magic bytes, ``None`` for plain files;
    :class:`LSEError` for files that are clearly not text (zip, PDF, images, executables)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise LSEError(f"cannot read corpus file {path}: {exc.strerror or exc}") from None
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    for magic, what in _REFUSE.items():
        if head.startswith(magic):
            raise LSEError(f"corpus file {path} is {what}, not text")
    return None


def _expand(arg: str) -> list[Path]:
    if any(ch in arg for ch in "*?["):
        hits = sorted(glob.glob(arg, recursive=True))
        files = [Path(h) for h in hits if Path(h).is_file()]
        if not files:
            raise LSEError(f"corpus pattern {arg!r} matches no file")
        return files
    path = Path(arg)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not files:
            raise LSEError(f"corpus directory {arg} contains no file")
        return files
    if not path.exists():
        raise LSEError(f"corpus file {arg} does not exist")
    if not path.is_file():
        raise LSEError(f"corpus path {arg} is not a regular file or directory")
    return [path]


def _file_shards(path: Path, shard_size: int) -> list[Shard]:
    compression = detect_compression(path)
    st = path.stat()
    source = str(path.resolve())
    if compression or st.st_size <= shard_size:
        return [Shard(source, compression, size=st.st_size, mtime_ns=st.st_mtime_ns)]
    cuts = list(range(0, st.st_size, shard_size)) + [st.st_size]
    return [Shard(source, None, a, b, size=b - a, mtime_ns=st.st_mtime_ns)
            for a, b in zip(cuts[:-1], cuts[1:])]


def nltk_corpus(name: str, nltk_data: tuple[str, ...] = ()):
    """The NLTK corpus reader ``nltk.corpus.NAME``, searching ``nltk_data`` first."""
    import nltk

    for path in reversed(nltk_data):
        if path not in nltk.data.path:
            nltk.data.path.insert(0, path)
    if not name.isidentifier():
        raise LSEError(f"nltk:{name}: not a corpus name")
    reader = getattr(nltk.corpus, name, None)
    if reader is None:
        raise LSEError(f"nltk:{name}: NLTK has no corpus of that name")
    try:
        reader.fileids()
    except LookupError:
        where = ", ".join(nltk.data.path[:4])
        raise LSEError(f"nltk:{name}: corpus not found in the NLTK data path ({where}, ...); "
                       "set NLTK_DATA or pass --nltk-data DIR") from None
    return reader


class NLTKFiles:
    """Sizes and bytes of an NLTK corpus' files. A zipped corpus is opened once with
    :mod:`zipfile` (NLTK's own pointers reopen the archive for every file: seconds for the
    10,788 files of Reuters)."""

    def __init__(self, reader):
        zipped = getattr(reader.root, "zipfile", None)  # ZipFilePathPointer or a directory
        self.archive = zipped.filename if zipped is not None else None
        self.root = reader.root.entry if zipped is not None else reader.root.path
        self._zip = zipfile.ZipFile(self.archive) if self.archive else None

    @property
    def path(self) -> str:
        return self.archive or self.root

    def size(self, fid: str) -> int:
        if self._zip is not None:
            return self._zip.getinfo(self.root + fid).file_size
        return os.path.getsize(os.path.join(self.root, fid))

    def read(self, fid: str) -> bytes:
        if self._zip is not None:
            return self._zip.read(self.root + fid)
        with open(os.path.join(self.root, fid), "rb") as fh:
            return fh.read()


#: NLTK corpus files are grouped into shards of at most this many bytes (or --shard-size if
#: smaller): tagged corpora are parsed by NLTK in Python, slowly, so they need several shards
#: to keep every worker busy.
NLTK_SHARD_BYTES = 4 << 20


def _nltk_shards(name: str, shard_size: int, nltk_data: tuple[str, ...]) -> list[Shard]:
    reader = nltk_corpus(name, nltk_data)
    from .readers import nltk_kind
    nltk_kind(reader, name)  # refuse word lists early, on the client
    files = NLTKFiles(reader)
    shard_size = min(shard_size, NLTK_SHARD_BYTES)
    groups: list[list[str]] = [[]]
    sizes = [0]
    for fid in reader.fileids():
        size = files.size(fid)
        if groups[-1] and sizes[-1] + size > shard_size:
            groups.append([])
            sizes.append(0)
        groups[-1].append(fid)
        sizes[-1] += size
    if not groups[0]:
        raise LSEError(f"nltk:{name}: the corpus has no files")
    mtime = os.stat(files.path).st_mtime_ns
    return [Shard(f"nltk:{name}", None, size=s, mtime_ns=mtime, fileids=tuple(g),
                  nltk_data=nltk_data) for g, s in zip(groups, sizes)]


def plan_shards(corpus: list[str] | tuple[str, ...], *, shard_size: int = 64 << 20,
                nltk_data: tuple[str, ...] | list[str] = ()) -> list[Shard]:
    """Expand corpus arguments into shards (in argument order; files sorted by name)."""
    if not corpus:
        raise LSEError("no corpus given")
    if shard_size < 1 << 16:
        raise LSEError(f"--shard-size must be at least 64KB (got {shard_size} bytes)")
    nltk_data = tuple(str(p) for p in nltk_data)
    shards: list[Shard] = []
    seen: set[str] = set()
    for arg in corpus:
        if arg.startswith("nltk:"):
            if arg not in seen:
                shards += _nltk_shards(arg[5:], shard_size, nltk_data)
            seen.add(arg)
            continue
        for path in _expand(arg):
            real = str(path.resolve())
            if real in seen:  # the same file named twice (e.g. a dir and a glob) is read once
                continue
            seen.add(real)
            shards += _file_shards(path, shard_size)
    return shards
