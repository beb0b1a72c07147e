"""Bad input gives one clear LSEError naming the problem, and leaves nothing behind."""
from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import pytest

from data_prep.dataset import load_dataset
from data_prep.pipeline import PrepareConfig, prepare
from data_prep.vocab import VocabOptions
from lse.errors import LSEError

SHARED = Path(__file__).parents[1].parent / "shared" / "data"
NLTK_DATA = SHARED / "text" / "nltk_data"
TEXT = "the quick brown fox jumps over the lazy dog\nand the dog sleeps while the fox runs\n"
CONFIG = PrepareConfig(vocab=VocabOptions(min_count=1, drop_top=0), holdout=2)


def run(tmp_path: Path, corpus, config=CONFIG, **kw):
    return prepare([str(c) for c in corpus], tmp_path / "out", config, workers=0,
                   progress=False, **kw)


def leftovers(tmp_path: Path, inputs: set[str]) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name not in inputs)


def fails(tmp_path: Path, corpus, match: str, config=CONFIG):
    inputs = {p.name for p in tmp_path.iterdir()}
    with pytest.raises(LSEError, match=match):
        run(tmp_path, corpus, config)
    left = leftovers(tmp_path, inputs)
    # no output directory and no temporary file; the work directory survives only with
    # finished shard scans in it (for --resume)
    assert left in ([], ["out.work"])
    if left:
        names = [p.name for p in (tmp_path / "out.work").iterdir()]
        assert names and all(n.startswith("scan-") and not n.endswith(".tmp") for n in names)
        import shutil
        shutil.rmtree(tmp_path / "out.work")


def test_good_corpus_works(tmp_path):
    (tmp_path / "a.txt").write_text(TEXT * 3)
    (tmp_path / "empty.txt").write_text("")  # an empty shard among others is fine
    stats = run(tmp_path, [tmp_path / "a.txt", tmp_path / "empty.txt"])
    ds = load_dataset(tmp_path / "out")
    assert stats["corpus"]["tokens"] == 3 * 17 and len(ds.vocab) == 12
    assert stats["corpus"]["shards"] == 2
    assert leftovers(tmp_path, {"a.txt", "empty.txt"}) == ["out"]


def test_binary_file(tmp_path):
    (tmp_path / "bin.dat").write_bytes(b"GIF89a\x00\x01\x02" + bytes(range(256)) * 40)
    fails(tmp_path, [tmp_path / "bin.dat"], r"bin\.dat looks binary \(a NUL byte")


def test_zip_and_images_are_refused_by_magic(tmp_path):
    (tmp_path / "c.txt").write_bytes(b"PK\x03\x04" + b"x" * 100)
    fails(tmp_path, [tmp_path / "c.txt"], r"c\.txt is a zip archive.*nltk:NAME")


def test_wrong_encoding_is_refused(tmp_path):
    (tmp_path / "latin.txt").write_bytes("déjà été à ça où".encode("utf-16-le").replace(
        b"\x00", b"\xff") * 50)
    fails(tmp_path, [tmp_path / "latin.txt"], r"latin\.txt: \d+ of the first \d+ bytes are "
                                              r"not valid utf-8")


def test_bad_bytes_are_replaced_and_counted(tmp_path):
    data = TEXT.encode() * 20 + b"caf\xe9 au lait \xff\xfe ok\n"
    (tmp_path / "mixed.txt").write_bytes(data)
    stats = run(tmp_path, [tmp_path / "mixed.txt"])
    assert stats["corpus"]["bad_bytes"] == 3
    words = load_dataset(tmp_path / "out").vocab
    assert "caf" in words and "lait" in words and "ok" in words


def test_empty_corpus(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "punct.txt.gz").write_bytes(gzip.compress(b"... !!! ---\n"))
    fails(tmp_path, [tmp_path / "empty.txt", tmp_path / "punct.txt.gz"],
          r"the corpus contains no tokens")


def test_vocabulary_empty_after_filtering(tmp_path):
    (tmp_path / "a.txt").write_text(TEXT)
    config = PrepareConfig(vocab=VocabOptions(min_count=1000))
    fails(tmp_path, [tmp_path / "a.txt"], r"vocabulary is empty after filtering: 12 distinct "
                                          r"words, 0 with count >= --min-count 1000", config)


def test_output_directory_exists(tmp_path):
    (tmp_path / "a.txt").write_text(TEXT)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.me").write_text("x")
    with pytest.raises(LSEError, match=r"out already exists; choose another --out or pass "
                                       r"--force"):
        run(tmp_path, [tmp_path / "a.txt"])
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.me"]
    run(tmp_path, [tmp_path / "a.txt"], overwrite=True)
    assert (tmp_path / "out" / "pairs.npz").exists()
    assert not (tmp_path / "out" / "keep.me").exists()


def test_missing_paths(tmp_path):
    fails(tmp_path, [tmp_path / "nope.txt"], r"corpus file .*nope\.txt does not exist")
    fails(tmp_path, [tmp_path / "*.xz"], r"corpus pattern .*\*\.xz' matches no file")
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "empty_dir" / ".hidden").write_text(TEXT)
    fails(tmp_path, [tmp_path / "empty_dir"], r"corpus directory .*empty_dir contains no file")


def test_truncated_compressed_file(tmp_path):
    data = lzma.compress(TEXT.encode() * 5000)
    (tmp_path / "cut.txt.xz").write_bytes(data[: len(data) // 2])
    fails(tmp_path, [tmp_path / "cut.txt.xz"], r"cut\.txt\.xz: corrupt or truncated xz data")


def test_unreadable_file(tmp_path, monkeypatch):
    import builtins

    import data_prep.sources

    path = tmp_path / "secret.txt"
    path.write_text(TEXT)

    def deny(file, *args, **kwargs):  # chmod 000 does not stop root, so simulate it
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(data_prep.sources, "open", deny, raising=False)
    fails(tmp_path, [path], r"cannot read corpus file .*secret\.txt: Permission denied")


def test_bad_nltk_corpora(tmp_path):
    config = PrepareConfig(nltk_data=(str(tmp_path / "no_nltk_here"),))
    fails(tmp_path, ["nltk:not_a_corpus"], r"nltk:not_a_corpus: NLTK has no corpus", config)
    if not (NLTK_DATA / "corpora" / "words.zip").is_file():
        pytest.skip(f"shared NLTK data not found at {NLTK_DATA}")
    config = PrepareConfig(nltk_data=(str(NLTK_DATA),))
    fails(tmp_path, ["nltk:words"], r"nltk:words is a WordListCorpusReader, not a corpus of "
                                    r"running text", config)


def test_bad_options():
    with pytest.raises(LSEError, match="--window must be between 1 and 20"):
        PrepareConfig(window=30)
    with pytest.raises(LSEError, match="--boundary must be one of line, paragraph, document"):
        PrepareConfig(boundary="sentence")
    with pytest.raises(LSEError, match="--min-count must be an integer >= 1"):
        VocabOptions(min_count=0)
    with pytest.raises(LSEError, match=r"--max-frequency must be a number in \(0, 1\] \(got 0\)"):
        VocabOptions(max_frequency=0)
    with pytest.raises(LSEError, match=r"--top-k must be an integer >= 1 \(got 0\)"):
        PrepareConfig(top_k=0)
    with pytest.raises(LSEError, match=r"--holdout must be an integer >= 0 \(got -1\)"):
        PrepareConfig(holdout=-1)
