"""lse: semantic hashing with Locality Sensitive Embeddings (LSE).

Train embeddings whose sign bits collide for related items, binarize them, and retrieve with a
plain hash-table lookup. Modules, one per concept:

- :mod:`lse.similarities` - pair probabilities (LSE angular psi^K, COS, DCH Cauchy, DHN logistic)
- :mod:`lse.losses`       - weighted pair BCE and quantization losses (Keras ``Loss`` objects)
- :mod:`lse.optimizers`   - row-wise (lazy) Adam for embedding tables
- :mod:`lse.models`       - Keras models: embedding tables (1 or L contexts) and two-tower MLPs
- :mod:`lse.sampling`     - positives, hard and easy negatives, batches, the input pipeline
- :mod:`lse.index`        - bit packing, exact-collision hash index, Hamming-ball search
- :mod:`lse.metrics`      - precision / recall / F1, clusters, MAP, label-retrieval metrics
"""
__version__ = "0.1.0"

from .errors import LSEError  # noqa: F401
