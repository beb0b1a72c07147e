"""A tiny structured corpus for the word2hashes tests: topics of real English words.

Every line draws its words from ONE topic, so the cooccurrence pairs D are (almost) cliques,
one per topic: a hashing model that works puts each topic in one bucket (F1 near 1), and the
words are WordNet nouns, so WP can be computed too.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

TOPICS = {
    "animals": "dog cat horse cow sheep pig goat rabbit",
    "fruits": "apple banana cherry grape lemon mango peach pear",
    "vehicles": "car truck bus train bicycle boat plane tractor",
    "tools": "hammer saw drill wrench screwdriver chisel pliers shovel",
    "instruments": "piano guitar violin drum flute trumpet cello harp",
    "body": "arm leg hand foot head knee elbow shoulder",
    "weather": "rain snow wind storm fog thunder hail cloud",
    "furniture": "table chair sofa bed desk shelf cabinet stool",
}


def topic_of() -> dict[str, str]:
    return {w: t for t, words in TOPICS.items() for w in words.split()}


def write_corpus(path: Path, lines: int = 800, words_per_line: int = 10, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    topics = [t.split() for t in TOPICS.values()]
    text = []
    for _ in range(lines):
        words = topics[rng.integers(len(topics))]
        text.append(" ".join(rng.choice(words, size=words_per_line)))
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def make_dataset(directory: Path, *, holdout: int = 16, seed: int = 0) -> Path:
    """Prepare the topic corpus into ``directory / 'dataset'`` (in-process, ~1 s)."""
    from data_prep.pipeline import PrepareConfig, prepare
    from data_prep.vocab import VocabOptions

    corpus = write_corpus(directory / "topics.txt", seed=seed)
    config = PrepareConfig(vocab=VocabOptions(min_count=1, drop_top=0), top_k=20,
                           holdout=holdout, seed=seed)
    out = directory / "dataset"
    prepare([str(corpus)], out, config, workers=0, progress=False)
    return out
