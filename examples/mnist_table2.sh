#!/bin/sh
# Image hashing on MNIST pixels, the paper's Table 2 protocol: for LSE, COS, DCH and DHN at 16, 32,
# 48 and 64 bits, train an MLP tower (784 -> 512 ReLU -> bits tanh) on pairs "same class =
# relevant" of the 60,000 training images; queries = the 10,000 test images, database = the
# training images; MAP@R over the Hamming ranking (R = 60,000, ties in database order) and
# precision / recall within Hamming radius 2. Optimisation (the command's defaults): Adam at 0.01,
# 10% linear warm-up, cosine decay, gradient norm clipped to 1.
#   sh examples/mnist_table2.sh [DATA_DIR] [JSON]
# Any labelled IDX image set in the MNIST layout works (Fashion-MNIST, KMNIST, ...).
set -e
DATA=${1:-../shared/data/images/mnist}
JSON=${2:-mnist_table2.json}
exec lse map-benchmark "$DATA" --bits 16,32,48,64 --model all --epochs 3 --json "$JSON"
