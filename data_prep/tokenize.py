"""Tokenizers: text chunk -> list of word tokens and boundary markers.

The default is one regular expression applied to a whole chunk of text at once (a few MB): the
per-token cost is then the C regex engine plus one string object, ~0.2 us, instead of a Python
call per line or per token.

Default word pattern (:data:`DEFAULT_TOKEN_PATTERN`), applied after lower-casing::

    [^\\W_]+(?:'[^\\W_]+)*

i.e. a run of Unicode letters and digits, optionally joined by internal apostrophes
("don't", "o'brien", "1990s", "naïve"). Punctuation, underscores and symbols separate tokens
and are dropped.

Besides words, a tokenizer emits *markers* so that the counter can stop windows at boundaries
without a second pass over the text: :data:`LINE` for every line end (a blank line therefore
shows up as two consecutive :data:`LINE` markers: a paragraph end) and :data:`DOC` for a
document boundary (readers put :data:`DOC` on its own line where a document ends). The markers
come after the word pattern in the alternation, so the regex engine tries them only where no
word starts. Whether a line,
paragraph or document ends a window is decided later (``--boundary``), so the token streams of a
first pass stay valid whichever boundary is chosen.

NLTK tokenizers (``nltk:wordpunct``, ``nltk:treebank``, ``nltk:toktok``, ``nltk:tweet``,
``nltk:whitespace``) are applied line by line; tokens without any letter or digit (punctuation)
are dropped so that they do not occupy window positions.
"""
from __future__ import annotations

import re

from lse.errors import LSEError

#: Default word pattern (see module docstring).
DEFAULT_TOKEN_PATTERN = r"[^\W_]+(?:'[^\W_]+)*"
#: Marker for a line end.
LINE = "\n"
#: Marker for a document end (readers write it on a line of its own).
DOC = "\x1d"
#: Marker regex: a line end or a document end.
_MARKERS = "[\n\x1d]"
_HAS_WORD_CHAR = re.compile(r"[^\W_]")

NLTK_TOKENIZERS = {
    "wordpunct": ("nltk.tokenize", "WordPunctTokenizer"),
    "treebank": ("nltk.tokenize", "TreebankWordTokenizer"),
    "toktok": ("nltk.tokenize.toktok", "ToktokTokenizer"),
    "tweet": ("nltk.tokenize", "TweetTokenizer"),
    "whitespace": ("nltk.tokenize", "WhitespaceTokenizer"),
}


MARKERS = (LINE, DOC)


class RegexTokenizer:
    """Lower-case (optional) and ``findall`` one word pattern over a whole chunk of text."""

    def __init__(self, pattern: str = DEFAULT_TOKEN_PATTERN, lowercase: bool = True):
        try:
            word = re.compile(pattern)
        except re.error as exc:
            raise LSEError(f"--token-pattern {pattern!r} is not a valid regular expression: {exc}")
        if word.groups:
            raise LSEError(f"--token-pattern {pattern!r} has capturing groups; use (?:...) instead")
        if word.search("\n") or word.search(DOC):
            raise LSEError(f"--token-pattern {pattern!r} matches a line end; tokens must not "
                           "span lines")
        self.pattern = pattern
        self.lowercase = lowercase
        self._regex = re.compile(f"(?:{pattern})|{_MARKERS}")

    def __call__(self, text: str) -> list[str]:
        return self._regex.findall(text.lower() if self.lowercase else text)

    def __repr__(self) -> str:
        return f"RegexTokenizer(pattern={self.pattern!r}, lowercase={self.lowercase})"


class NLTKTokenizer:
    """An NLTK tokenizer applied per line, keeping tokens that contain a letter or digit."""

    def __init__(self, name: str, lowercase: bool = True):
        if name not in NLTK_TOKENIZERS:
            raise LSEError(f"unknown NLTK tokenizer {name!r}; choose one of "
                           f"{', '.join(sorted(NLTK_TOKENIZERS))}")
        self.name = name
        self.lowercase = lowercase
        self._tok = None
        self._lines = re.compile(_MARKERS)

    def _tokenizer(self):
        if self._tok is None:  # built lazily: the object is pickled to Dask workers
            import importlib
            module, cls = NLTK_TOKENIZERS[self.name]
            self._tok = getattr(importlib.import_module(module), cls)()
        return self._tok

    def __getstate__(self):
        return {"name": self.name, "lowercase": self.lowercase}

    def __setstate__(self, state):
        self.__init__(state["name"], state["lowercase"])

    def __call__(self, text: str) -> list[str]:
        tokenize = self._tokenizer().tokenize
        if self.lowercase:
            text = text.lower()
        out: list[str] = []
        pos = 0
        for m in self._lines.finditer(text):
            out.extend(t for t in tokenize(text[pos:m.start()]) if _HAS_WORD_CHAR.search(t))
            out.append(m.group())
            pos = m.end()
        out.extend(t for t in tokenize(text[pos:]) if _HAS_WORD_CHAR.search(t))
        return out

    def __repr__(self) -> str:
        return f"NLTKTokenizer({self.name!r}, lowercase={self.lowercase})"


def make_tokenizer(spec: str = "regex", *, pattern: str | None = None,
                   lowercase: bool = True) -> RegexTokenizer | NLTKTokenizer:
    """``"regex"`` (with ``pattern``, default :data:`DEFAULT_TOKEN_PATTERN`) or ``"nltk:NAME"``."""
    if spec == "regex":
        return RegexTokenizer(pattern or DEFAULT_TOKEN_PATTERN, lowercase)
    if spec.startswith("nltk:"):
        if pattern:
            raise LSEError("--token-pattern applies to the regex tokenizer only")
        return NLTKTokenizer(spec[5:], lowercase)
    raise LSEError(f"unknown tokenizer {spec!r}; use 'regex' or 'nltk:NAME' with NAME one of "
                   f"{', '.join(sorted(NLTK_TOKENIZERS))}")
