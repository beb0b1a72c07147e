#!/bin/sh
# Extreme multi-label retrieval on Bibtex and Delicious (XC repository format): for LSE, COS, DCH
# and DHN (32-bit codes), retrieve the labels whose code equals the document's and rank them by
# the dense score; compare with exact dense top-k of the same model and a one-vs-rest logistic
# regression; P@k, nDCG@5, PSP@k, R@5 on all / head / torso / tail labels, and the query
# throughput of hashed vs dense retrieval.
#   sh examples/xc_labels.sh [DATA_DIR] [OUT_PREFIX] [SEEDS]
# SEEDS: space-separated seeds, default "0" (examples/README.md reports "0 1 2"); the
# (deterministic) linear model runs with the first seed only.
set -e
DATA=${1:-../shared/data/multilabel}
OUT=${2:-xc}
SEEDS=${3:-0}
# Training length: 20 passes over Bibtex's 11.6K (document, label) positives, 5 over Delicious'
# 246K (about 460 and 2,400 steps). Each model's K, beta, lambda, hard negatives and learning
# rate: the command's defaults (chosen on validation splits, see examples/README.md).
LINEAR=""
for s in $SEEDS; do
    lse label-benchmark "$DATA/bibtex_train.txt.xz" "$DATA/bibtex_test.txt.xz" \
        --model all --bits 32 --epochs 20 --seed "$s" $LINEAR --json "${OUT}_bibtex_s$s.json"
    lse label-benchmark "$DATA/delicious_train.txt.xz" "$DATA/delicious_test.txt.xz" \
        --model all --bits 32 --epochs 5 --seed "$s" $LINEAR --json "${OUT}_delicious_s$s.json"
    LINEAR="--no-linear"
done
