"""word2hashes: every word of a cooccurrence dataset gets L binary codes, each a cluster of
related words found by a hash-table lookup alone (SPEC sections 1, 5, 6; the paper's 4.3).

One module per step, all working on the dataset directory of ``lse prepare``
(:func:`data_prep.dataset.load_dataset`):

- :mod:`lse.words.model_dir` - the model directory every model is saved in (config.json,
  vocab.txt, dense embeddings, packed codes; written atomically, checked on load);
- :mod:`lse.words.train`     - LSE / COS / DCH / DHN multi-context models: defaults, per-epoch
  checkpoints, resume, logs;
- :mod:`lse.words.svd`       - the baselines a user would pick instead: PPMI + truncated SVD,
  hashed by sign or by random-hyperplane SimHash;
- :mod:`lse.words.evaluate`  - the word index (codes + embeddings), query sets, P / R / F1, WP,
  HR@n, clusters, and the per-word cluster listing of ``lse query``.

The command line is ``lse train`` / ``lse index`` / ``lse query`` / ``lse evaluate``.
"""
from .model_dir import WordModel, load_model, save_model  # noqa: F401

NEURAL_MODELS = ("lse", "cos", "dch", "dhn")
SVD_MODELS = ("svd-sign", "svd-simhash")
#: Every model ``lse train --model`` accepts.
MODELS = NEURAL_MODELS + SVD_MODELS
