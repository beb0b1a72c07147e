"""LSEClassifier inside scikit-learn pipelines, on the digits bundled with scikit-learn.

    python examples/sklearn_pipeline.py [--json PATH]

1. scale -> hash -> predict: the class is found by looking the image's 32-bit code up in a hash
   table of the 10 class codes (exact collision), ranked by the dense score;
2. scale -> hash -> k-NN in Hamming space on the codes (``code_format="bits"``);
3. a plain logistic regression on the same split, for reference.

Prints accuracies, the share of test images whose code collides exactly with a class code, and
the number of distinct codes per class.
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from lse.estimator import LSEClassifier  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0,
                                                        stratify=y)
    params = dict(dim=32, hidden=(128,), epochs=60, batch_size=256, learning_rate=0.03,
                  exhaustive_fallback=False)
    results = {}

    start = time.perf_counter()
    hasher = make_pipeline(StandardScaler(), LSEClassifier(**params)).fit(X_train, y_train)
    est = hasher[-1]
    emb = est.embed(hasher[:-1].transform(X_test))
    found, _ = est.retriever_.candidates(emb)
    collide = np.diff(found.indptr) > 0
    top = est.predict_topk(hasher[:-1].transform(X_test), 1)[:, 0]
    codes = est.transform(hasher[:-1].transform(X_test))
    per_class = [len(np.unique(codes[y_test == c], axis=0)) for c in range(10)]
    results["hash_lookup"] = {
        "accuracy": float(np.mean(np.where(top >= 0, est.classes_[np.maximum(top, 0)], -1) == y_test)),
        "exact_collision_rate": float(collide.mean()),
        "accuracy_when_colliding": float(np.mean(est.classes_[top[collide]] == y_test[collide])),
        "distinct_codes_per_class": per_class, "seconds": time.perf_counter() - start}

    start = time.perf_counter()
    knn = make_pipeline(StandardScaler(), LSEClassifier(**params, code_format="bits"),
                        KNeighborsClassifier(5, metric="hamming")).fit(X_train, y_train)
    results["hamming_knn"] = {"accuracy": float(knn.score(X_test, y_test)),
                              "seconds": time.perf_counter() - start}

    start = time.perf_counter()
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X_train, y_train)
    results["logistic_regression"] = {"accuracy": float(linear.score(X_test, y_test)),
                                      "seconds": time.perf_counter() - start}

    h = results["hash_lookup"]
    print(f"digits: {len(X_train)} train / {len(X_test)} test images, 32-bit codes")
    print(f"hash lookup (exact collision only): accuracy {h['accuracy']:.3f}; "
          f"{h['exact_collision_rate']:.1%} of test codes collide with a class code, "
          f"accuracy {h['accuracy_when_colliding']:.3f} on those")
    print(f"distinct test codes per class: {h['distinct_codes_per_class']}")
    print(f"5-NN in Hamming space on the codes: accuracy {results['hamming_knn']['accuracy']:.3f}")
    print(f"logistic regression on the pixels:  accuracy "
          f"{results['logistic_regression']['accuracy']:.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
