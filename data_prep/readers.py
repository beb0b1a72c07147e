"""Shard -> chunks of text (whole lines, a few MB each), never the whole corpus in memory.

* Files are read as bytes, decompressed on the fly (gzip / bz2 / xz / lzma), cut at line ends and
  decoded incrementally. Undecodable bytes become U+FFFD and are *counted* (``bad_bytes`` in the
  statistics) instead of aborting a long job on one bad byte; a file that is mostly undecodable,
  or contains NUL bytes, is refused as binary / wrongly encoded with an :class:`LSEError`.
* WikiExtractor output: the ``<doc id=... url=... title=...>`` and ``</doc>`` lines are replaced
  by the document marker :data:`data_prep.tokenize.DOC` (they are not text).
* NLTK corpora: plain-text corpora are read file by file as bytes (decoded with the corpus' own
  encoding); ``word/tag`` corpora (Brown) likewise with the tags stripped by a regex; other
  tagged / parsed corpora through their ``tagged_sents`` (one sentence per line, ``-NONE-``
  trace tokens dropped). Each corpus file ends with a document marker.
"""
from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
import re
import threading
import zlib
from dataclasses import dataclass
from typing import Iterator

from lse.errors import LSEError

from .sources import NLTKFiles, Shard, nltk_corpus
from .tokenize import DOC

_OPENERS = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open, "lzma": lzma.open}
_CORRUPT = (lzma.LZMAError, EOFError, zlib.error, gzip.BadGzipFile, OSError)
#: A WikiExtractor ``<doc ...>`` / ``</doc>`` line, matched with its preceding line end (a
#: literal-prefixed pattern is much faster than a ``^``-anchored multiline one).
_DOC_LINE = re.compile(r"\n(?:<doc(?: [^\n]*)?>|</doc>)[^\S\n]*(?=\n|\Z)")
_DOC_LINE_BYTES = re.compile(_DOC_LINE.pattern.encode())
#: ``word/tag`` -> ``word`` (the tag follows the last slash, as in ``nltk.tag.str2tuple``).
_SLASH_TAG = re.compile(r"(\S+)/[^\s/]*")
#: Refuse a file when more than this fraction of its first 64KB does not decode.
MAX_BAD_FRACTION = 0.3
_SNIFF = 1 << 16

_counter = threading.local()


def _count_and_replace(exc: UnicodeDecodeError):
    _counter.bad = getattr(_counter, "bad", 0) + (exc.end - exc.start)
    return "\ufffd", exc.end


codecs.register_error("lse-count", _count_and_replace)


@dataclass
class ReadStats:
    """What a reader saw: raw bytes (after decompression), undecodable bytes, documents."""

    bytes: int = 0
    bad_bytes: int = 0
    documents: int = 0

    def add(self, other: "ReadStats") -> "ReadStats":
        return ReadStats(self.bytes + other.bytes, self.bad_bytes + other.bad_bytes,
                         self.documents + other.documents)


def _decoder(encoding: str):
    try:
        return codecs.getincrementaldecoder(encoding)(errors="lse-count")
    except LookupError:
        raise LSEError(f"unknown text encoding {encoding!r} (--encoding)") from None


def _check_text(raw: bytes, bad: int, where: str, encoding: str) -> None:
    head = raw[:_SNIFF]
    nul = head.find(b"\x00")
    if nul >= 0:
        raise LSEError(f"{where} looks binary (a NUL byte at offset {nul}); not a text corpus")
    if head and bad > MAX_BAD_FRACTION * len(head):
        raise LSEError(f"{where}: {bad} of the first {len(head)} bytes are not valid {encoding}; "
                       "binary file or wrong --encoding?")


def _byte_chunks(fh, start: int, end: int | None, chunk_bytes: int) -> Iterator[bytes]:
    """Chunks of whole lines whose first byte lies in [start, end) (end=None: to EOF)."""
    if start > 0:
        fh.seek(start - 1)
        if fh.read(1) != b"\n":
            fh.readline()  # the line in progress belongs to the previous range
    pos = fh.tell()
    while end is None or pos < end:
        want = chunk_bytes if end is None else min(chunk_bytes, end - pos)
        data = fh.read(want)
        if not data:
            return
        if not data.endswith(b"\n"):
            data += fh.readline()
        pos += len(data)
        yield data


def _file_chunks(shard: Shard, chunk_bytes: int, stats: ReadStats, encoding: str,
                 substitute_bytes: bool) -> Iterator[bytes]:
    """The shard's raw (decompressed) bytes in chunks of whole lines; refuses binary files.

    ``substitute_bytes``: replace WikiExtractor lines and NULs here, on the bytes (only for
    ASCII-compatible encodings; otherwise :func:`_file_text` does it on the decoded text).
    """
    path = shard.source
    opener = _OPENERS.get(shard.compression, open)
    first = True
    try:
        with opener(path, "rb") as fh:
            for data in _byte_chunks(fh, shard.start, shard.end, chunk_bytes):
                if first:
                    _counter.bad = 0
                    _decoder(encoding).decode(data[:_SNIFF])
                    _check_text(data, _counter.bad, path, encoding)
                    first = False
                stats.bytes += len(data)
                if substitute_bytes:
                    if b"\x00" in data:  # NUL never belongs to a token (see WordCounts)
                        data = data.replace(b"\x00", b" ")
                    if b"<doc" in data or b"</doc>" in data:
                        stats.documents += data.count(b"</doc>")
                        data = _DOC_LINE_BYTES.sub(b"\n" + DOC.encode(), b"\n" + data)[1:]
                yield data
    except LSEError:
        raise
    except PermissionError:
        raise LSEError(f"cannot read corpus file {path}: permission denied") from None
    except _CORRUPT as exc:
        what = f"{shard.compression} data" if shard.compression else "file"
        raise LSEError(f"{path}: corrupt or truncated {what} ({exc})") from None


def _file_text(shard: Shard, encoding: str, chunk_bytes: int,
               stats: ReadStats) -> Iterator[str]:
    decoder = _decoder(encoding)
    for data in _file_chunks(shard, chunk_bytes, stats, encoding, False):
        _counter.bad = 0
        text = decoder.decode(data)
        stats.bad_bytes += _counter.bad
        if "\x00" in text:  # NUL never belongs to a token (see vocab.WordCounts)
            text = text.replace("\x00", " ")
        if "<doc" in text or "</doc>" in text:
            stats.documents += text.count("</doc>")
            text = _DOC_LINE.sub("\n" + DOC, "\n" + text)[1:]
        yield text
    _counter.bad = 0
    tail = decoder.decode(b"", final=True)
    stats.bad_bytes += _counter.bad
    if tail:
        yield tail


def read_bytes(shard: Shard, *, chunk_bytes: int = 4 << 20, stats: ReadStats | None = None,
               encoding: str = "utf-8") -> Iterator[bytes]:
    """Like :func:`read_text` for a file shard, but undecoded (for ASCII-compatible
    ``encoding``): WikiExtractor lines already replaced by :data:`DOC`, NULs by spaces.
    Undecodable bytes are left for the caller to count."""
    return _file_chunks(shard, chunk_bytes, stats if stats is not None else ReadStats(),
                        encoding, True)


def nltk_kind(reader, name: str) -> str:
    """How to read an NLTK corpus: ``"raw"`` (plain text), ``"slash"`` (``word/tag`` text, one
    sentence per line, like Brown) or ``"tagged"`` (through NLTK's ``tagged_sents``)."""
    from nltk.corpus.reader import PlaintextCorpusReader, TaggedCorpusReader

    if isinstance(reader, PlaintextCorpusReader):
        return "raw"
    if type(reader).__name__ in ("TaggedCorpusReader", "CategorizedTaggedCorpusReader") \
            and isinstance(reader, TaggedCorpusReader) and getattr(reader, "_sep", None) == "/":
        return "slash"
    if hasattr(reader, "tagged_sents"):
        return "tagged"
    raise LSEError(f"nltk:{name} is a {type(reader).__name__}, not a corpus of running text")


def _nltk_text(shard: Shard, chunk_bytes: int, stats: ReadStats) -> Iterator[str]:
    name = shard.source[5:]
    reader = nltk_corpus(name, shard.nltk_data)
    kind = nltk_kind(reader, name)
    files = NLTKFiles(reader) if kind != "tagged" else None
    buf: list[str] = []
    size = 0
    for fid in shard.fileids:
        where = f"nltk:{name}/{fid}"
        if kind != "tagged":
            data = files.read(fid)
            encoding = reader.encoding(fid) or "utf-8"
            _counter.bad = 0
            text = _decoder(encoding).decode(data, final=True)
            _check_text(data, _counter.bad, where, encoding)
            stats.bad_bytes += _counter.bad
            stats.bytes += len(data)
            text = text.replace("\x00", " ")
            if kind == "slash":  # what tagged_sents yields, 100x faster: drop the /tags
                text = "\n".join(" ".join(_SLASH_TAG.sub(r"\1", line).split())
                                 for line in text.split("\n") if line.strip())
        else:
            text = "\n".join(" ".join(w for w, tag in sent if tag != "-NONE-")
                             for sent in reader.tagged_sents(fid))
            stats.bytes += len(text)
        stats.documents += 1
        buf.append(text)
        buf.append(f"\n{DOC}\n")
        size += len(text)
        if size >= chunk_bytes:
            yield "".join(buf)
            buf, size = [], 0
    if buf:
        yield "".join(buf)


def read_text(shard: Shard, *, encoding: str = "utf-8", chunk_bytes: int = 4 << 20,
              stats: ReadStats | None = None) -> Iterator[str]:
    """Yield the shard's text in chunks of whole lines (about ``chunk_bytes`` each)."""
    stats = stats if stats is not None else ReadStats()
    if shard.is_nltk:
        return _nltk_text(shard, chunk_bytes, stats)
    return _file_text(shard, encoding, chunk_bytes, stats)
