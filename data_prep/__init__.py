"""Data preparation: corpus -> word-cooccurrence pair dataset (``lse prepare``), and the SBM graph.

Modules, one concept each:

- :mod:`data_prep.sources`   - corpus arguments (files, dirs, globs, ``nltk:NAME``) -> shards
- :mod:`data_prep.readers`   - shard -> text chunks (decompression, bad bytes, ``<doc>`` lines)
- :mod:`data_prep.tokenize`  - tokenizers (default regex, NLTK) and boundary markers
- :mod:`data_prep.bytescan`  - fast path of the default tokenizer on UTF-8 bytes
- :mod:`data_prep.scan`      - first pass: word counts + token stream as local ids
- :mod:`data_prep.vocab`     - merged counts, vocabulary filters (rare / extremely common)
- :mod:`data_prep.cooccur`   - windowed 1/distance counting, exact, in bounded memory
- :mod:`data_prep.filtering` - atypicality (PMI) filter and per-row top-k
- :mod:`data_prep.pairs`     - symmetrise, held-out pairs, degree statistics
- :mod:`data_prep.sparse_io` - CSR matrices on disk (memory-mapped runs, streamed ``.npz``)
- :mod:`data_prep.executor`  - in-process or Dask execution, tree reduction, peak memory
- :mod:`data_prep.tasks`     - the pipeline's worker tasks and work-directory files
- :mod:`data_prep.pipeline`  - :func:`~data_prep.pipeline.prepare`, the whole job
- :mod:`data_prep.dataset`   - the dataset directory and :func:`~data_prep.dataset.load_dataset`
- :mod:`data_prep.sbm`       - the stochastic-block-model benchmark graph
"""
