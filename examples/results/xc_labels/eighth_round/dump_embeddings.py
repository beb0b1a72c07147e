"""Train one model as ``lse label-benchmark`` does and save what its hashed retrieval saw.

    python dump_embeddings.py DATA_DIR NAME MODEL SEED EPOCHS OUT_DIR [test]

NAME is ``bibtex`` or ``delicious`` (``NAME_train.txt.xz`` in DATA_DIR); without ``test`` the
training file's 80 / 20 validation split (seed 0) is used, as in ``xc_val.py``. Writes
``OUT_DIR/NAME_MODEL_sSEED[_test].npz``: the documents' and labels' embeddings, each document's
exact-collision candidates, the training label counts and size, and the evaluation labels. Read by
``prior_rerank.py``. (An experiment record, not library code.)
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import lse.label_benchmark as lb  # noqa: E402
import lse.label_retrieval as lr  # noqa: E402
from lse.datasets import read_xc  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
data_dir, name, model, seed, epochs, out = sys.argv[1:7]
test = sys.argv[7:] == ["test"]
train = read_xc(f"{data_dir}/{name}_train.txt.xz")
if test:
    evaluation = read_xc(f"{data_dir}/{name}_test.txt.xz")
else:
    train, evaluation = train.split(0.2, seed=0)

saved = {}
candidates = lr.HashedRetriever.candidates


def first_candidates(self, queries, *args, **kwargs):
    """Keep the first lookup (radius 0, the hashed result); later ones are the radius curve."""
    found = candidates(self, queries, *args, **kwargs)
    if "found" not in saved:
        saved.update(queries=np.asarray(queries), labels=self.items,
                     found=found[0].tocsr())
    return found


lr.HashedRetriever.candidates = first_candidates
result = lb.run_label_trial(model, train, evaluation,
                            lb.LabelBenchmarkConfig(epochs=int(epochs)), seed=int(seed))
Y = evaluation.Y.tocsr()
path = f"{out}/{name}_{model}_s{seed}{'_test' if test else ''}.npz"
np.savez(path, q=saved["queries"], v=saved["labels"], cand_indptr=saved["found"].indptr,
         cand_indices=saved["found"].indices, counts=np.asarray(train.Y.sum(0)).ravel(),
         Y_indptr=Y.indptr, Y_indices=Y.indices, n_train=train.X.shape[0],
         hashed_p1=result["hashed"]["all"]["P@1"])
print(path, result["hashed"]["all"]["P@1"], result["retrieval"]["mean_candidates"])
