"""The stochastic-block-model benchmark (SPEC sections 5-7, the paper's Table 1), end to end.

generate graph (:func:`data_prep.sbm.generate_sbm`) -> train a hashing model on its edges ->
index the sign codes -> retrieve every node's exact-collision set -> precision / recall / F1
against the node's faction (self excluded).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .errors import LSEError

#: The paper's tuned hyper-parameters (Table 1) and its reported (P, R, F1), mean of 10 trials.
PAPER_TABLE1 = {
    "cos": {"k": 4, "beta": 1.0, "hard_negatives": False, "quantization_weight": 0.3,
            "paper": (0.724, 0.679, 0.701)},
    "dch": {"k": 2, "beta": 2.0, "hard_negatives": False, "quantization_weight": 3.0,
            "paper": (0.924, 0.916, 0.920)},
    "dhn": {"k": 2, "beta": 4.0, "hard_negatives": False, "quantization_weight": 0.3,
            "paper": (0.415, 0.124, 0.191)},
    "lse": {"k": 2, "beta": 1.0, "hard_negatives": True, "quantization_weight": 0.1,
            "paper": (0.992, 0.986, 0.989)},
}
MODELS = tuple(PAPER_TABLE1)

#: Our tuned values for this implementation (``benchmarks/tune_sbm.py``, tuning graph seed 100,
#: reported trials use seeds 0..). They differ from Table 1 because the paper leaves the
#: learning rate, schedule, dropout rate, initialisation and the normalisation of the
#: quantization loss unstated, and K / beta / lambda interact with all of them: with Table 1's
#: LSE values (K=2, beta=1) our implementation reaches F1 ~0.94 (measured), with K=4, beta=0.5
#: it reaches the paper's 0.98-0.99.
TUNED = {
    "lse": {"k": 4, "beta": 0.5, "hard_negatives": True, "quantization_weight": 0.1},
    "cos": {"k": 4, "beta": 0.5, "hard_negatives": False, "quantization_weight": 0.1},
    "dch": {"k": 2, "beta": 0.5, "hard_negatives": True, "quantization_weight": 0.01},
    "dhn": {"k": 4, "beta": 0.5, "hard_negatives": False, "quantization_weight": 0.1},
}
PARAM_SETS = {"tuned": TUNED, "paper": PAPER_TABLE1}


@dataclass
class SBMConfig:
    """Everything a trial depends on. Training settings the paper does not state (learning
    rate, dropout rate, initialisation) are ours, chosen on the SBM benchmark itself."""

    factions: int = 500
    size: int = 10
    p_in: float = 0.8
    p_near: float = 0.1
    p_background: float = 0.0
    epochs: int = 50
    dim: int = 32
    positives: int = 1024
    hard: int = 1024
    easy: int = 2048
    learning_rate: float = 0.15
    dropout: float = 0.1
    init_scale: float = 0.05
    params: str = "tuned"
    overrides: dict = field(default_factory=dict)

    def model_params(self, model: str) -> dict:
        if model not in PAPER_TABLE1:
            raise LSEError(f"unknown model {model!r}; choose one of {', '.join(MODELS)} or all")
        if self.params not in PARAM_SETS:
            raise LSEError(f"unknown parameter set {self.params!r}; choose tuned or paper")
        params = {k: v for k, v in PARAM_SETS[self.params][model].items() if k != "paper"}
        params.update(self.overrides)
        return params


def run_trial(model: str, config: SBMConfig, seed: int = 0, progress: bool = False) -> dict:
    """Train and evaluate one model on one freshly generated SBM graph (``seed`` drives the
    graph, the sampler, the initialisation and dropout). Returns the metrics and timings."""
    import keras

    from data_prep.sbm import faction_truth, generate_sbm

    from .index import HashIndex
    from .metrics import count_clusters, precision_recall_f1
    from .models import EmbeddingHasher
    from .optimizers import RowAdam
    from .sampling import PairSampler
    from .training import train

    params = config.model_params(model)
    start = time.perf_counter()
    D, labels = generate_sbm(config.factions, config.size, p_in=config.p_in,
                             p_near=config.p_near, p_background=config.p_background, seed=seed)
    sampler = PairSampler(D, config.positives, config.hard, config.easy,
                          hard_negatives=params.pop("hard_negatives"), seed=seed)
    keras.utils.set_random_seed(seed)
    net = EmbeddingHasher(D.shape[0], config.dim, similarity=model, dropout=config.dropout,
                          init_scale=config.init_scale, seed=seed, **params)
    total_steps = config.epochs * sampler.steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, total_steps)
    net.compile(optimizer=RowAdam(schedule))
    train(net, sampler, config.epochs, progress=progress)
    trained = time.perf_counter()
    codes = net.hash()
    index = HashIndex(codes, config.dim)
    nodes = np.arange(D.shape[0])
    scores = precision_recall_f1(index.query_ids(nodes), faction_truth(labels), query_ids=nodes)
    return {"model": model, "seed": seed, "precision": scores["precision"],
            "recall": scores["recall"], "f1": scores["f1_of_means"],
            "f1_per_query": scores["f1"],
            "clusters": count_clusters(codes), "train_seconds": trained - start,
            "seconds": time.perf_counter() - start}


def summarize(trials: list[dict]) -> dict:
    """Mean and standard deviation of every metric over trials of one model."""
    out = {}
    for key in ("precision", "recall", "f1", "clusters", "seconds"):
        values = np.array([t[key] for t in trials], dtype=float)
        out[key] = {"mean": float(values.mean()), "std": float(values.std())}
    return out
