"""Pair samplers on labels and the feature batches they feed to two-tower models."""
import numpy as np
import pytest
import scipy.sparse as sp

from lse.errors import LSEError
from lse.features import (ClassPairSampler, FeaturePairs, FeatureTable, LabelIds,
                          LabelPairSampler, as_label_matrix)
from lse.sampling import EASY_NEGATIVE, HARD_NEGATIVE, POSITIVE


def test_class_pairs_same_and_other_class():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])  # class 3 has a single item
    s = ClassPairSampler(labels, positives=4, negatives=6, seed=3)
    assert s.batch_size == 10 and s.steps_per_epoch == 3
    lefts = []
    for pairs, kinds in s.epoch_batches(0):
        assert pairs.dtype == np.int32 and pairs.shape == (10, 2)
        np.testing.assert_array_equal(kinds, [POSITIVE] * 4 + [EASY_NEGATIVE] * 6)
        pos, neg = pairs[:4], pairs[4:]
        assert np.all(labels[pos[:, 0]] == labels[pos[:, 1]])
        alone = pos[:, 0] == 9
        assert np.all(pos[~alone, 0] != pos[~alone, 1]) and np.all(pos[alone, 1] == 9)
        assert np.all(labels[neg[:, 0]] != labels[neg[:, 1]])
        lefts.append(pos[:, 0])
    lefts = np.concatenate(lefts)
    assert set(lefts[:10]) == set(range(10))  # every item is the left of one positive per epoch


def test_class_pairs_are_uniform_and_repeatable():
    labels = np.repeat([0, 1, 2], 4)
    s = ClassPairSampler(labels, positives=12, negatives=12, seed=0)
    partners = np.concatenate([b[0][:12, 1][b[0][:12, 0] == 0] for e in range(300)
                               for b in s.epoch_batches(e)])
    counts = np.bincount(partners, minlength=12)
    assert counts[0] == 0 and counts[4:].sum() == 0
    assert counts[1:4].min() > 0.8 * counts[1:4].mean()  # the other three of class 0, evenly
    a, b = next(s.epoch_batches(5)), next(s.epoch_batches(5))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], next(s.epoch_batches(6))[0])


def test_class_pairs_errors():
    with pytest.raises(LSEError, match="two classes"):
        ClassPairSampler(np.zeros(5, int))
    with pytest.raises(LSEError, match="1-D integer"):
        ClassPairSampler(np.array([0.5, 1.0]))
    with pytest.raises(LSEError, match="positives per batch"):
        ClassPairSampler(np.array([0, 1]), positives=0)
    with pytest.raises(LSEError, match=r"negatives per batch must be an integer >= 0 \(got '8'\)"):
        ClassPairSampler(np.array([0, 1]), negatives="8")


Y = sp.csr_matrix(np.array([[1, 1, 0, 0, 0],
                            [0, 1, 1, 0, 0],
                            [0, 0, 0, 1, 0],
                            [0, 0, 0, 1, 1],
                            [0, 0, 0, 0, 0]]))


def test_label_pairs_positives_negatives_and_hard():
    s = LabelPairSampler(Y, positives=3, negative_labels=4, negative_instances=2, hard=3, seed=1)
    assert s.batch_size == 12 and s.steps_per_epoch == 3  # 7 nonzeros
    dense = Y.toarray()
    seen = set()
    for pairs, kinds in s.epoch_batches(0):
        inst, lab = pairs[:, 0], pairs[:, 1]
        is_pos = kinds == POSITIVE
        assert np.all(dense[inst[is_pos], lab[is_pos]] == 1)
        assert np.all(dense[inst[~is_pos], lab[~is_pos]] == 0)
        seen.update(zip(inst[:3].tolist(), lab[:3].tolist()))
        # label negatives keep the positive's instance, instance negatives its label
        np.testing.assert_array_equal(inst[3:7], inst[[0, 1, 2, 0]])
        np.testing.assert_array_equal(lab[7:9], lab[[0, 1]])
        hard = slice(9, 12)
        assert np.all((kinds[hard] == HARD_NEGATIVE) | (kinds[hard] == POSITIVE))
    assert seen == set(zip(*Y.nonzero()))


def test_hard_labels_cooccur_with_an_own_label():
    s = LabelPairSampler(Y, positives=7, negative_labels=0, negative_instances=0, hard=64, seed=0)
    pairs, kinds = next(s.epoch_batches(0))
    hard = pairs[kinds == HARD_NEGATIVE]
    assert len(hard) > 0
    # co-occurrence graph: {0,1,2} are linked through instances 0 and 1, {3,4} through 3
    group = np.array([0, 0, 0, 1, 1])
    own = [Y[i].indices for i in hard[:, 0]]
    assert all(group[l] == group[o[0]] and l not in o for l, o in zip(hard[:, 1], own))
    # instance 2 has label 3 only; its co-occurring labels are 3 (its own) and 4
    inst2 = hard[hard[:, 0] == 2]
    assert np.all(inst2[:, 1] == 4)


def test_mined_labels_come_from_the_pool_once_set():
    s = LabelPairSampler(Y, positives=7, negative_labels=0, negative_instances=0, hard=0,
                         mined=64, mined_pool=2, seed=0)
    assert s.batch_size == 71
    dense = Y.toarray()
    pairs, kinds = next(s.epoch_batches(0))  # no pool yet: co-occurring labels
    mined = pairs[7:][kinds[7:] == HARD_NEGATIVE]
    assert len(mined) and np.all(dense[mined[:, 0], mined[:, 1]] == 0)
    assert np.all(mined[mined[:, 0] == 2, 1] == 4)  # instance 2's only co-occurring label
    pool = np.array([[3, 4], [4, -1], [0, 1], [2, 0], [0, 1]])  # (4 has no positive)
    s.set_mined_pool(pool)
    pairs, kinds = next(s.epoch_batches(1))
    mined, kinds = pairs[7:], kinds[7:]
    pooled = mined[:, 0] != 1
    assert np.all(kinds[pooled] == HARD_NEGATIVE)
    assert all(label in pool[i] for i, label in mined[pooled])
    # instance 1's pool has one label and a -1, which falls back to a co-occurring label (0)
    assert set(mined[~pooled, 1]) <= {0, 4} and 4 in mined[~pooled, 1]
    assert {tuple(p) for p in mined if p[0] == 2} == {(2, 0), (2, 1)}  # both pool entries drawn
    with pytest.raises(LSEError, match="shape"):
        s.set_mined_pool(pool[:, :1])
    with pytest.raises(LSEError, match="label ids"):
        s.set_mined_pool(np.full((5, 2), 5))


def test_label_pairs_flag_unavoidable_positives():
    full = sp.csr_matrix(np.ones((2, 2)))  # every pair is a positive: negatives cannot exist
    pairs, kinds = next(LabelPairSampler(full, 2, 2, 0).epoch_batches(0))
    assert np.all(kinds == POSITIVE)


def test_as_label_matrix_and_errors():
    np.testing.assert_array_equal(as_label_matrix(np.array([2, 0])).toarray(), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(LSEError, match="0/1"):
        as_label_matrix(np.array([[0, 2]]))
    with pytest.raises(LSEError, match="no nonzeros"):
        LabelPairSampler(sp.csr_matrix((3, 2)))


def test_feature_table_sparse_rows_match_dense():
    import tensorflow as tf

    X = sp.random(20, 7, density=0.3, random_state=0, format="csr", dtype=np.float64)
    table = FeatureTable(X)
    ids = np.array([3, 3, 0, 19])
    batch = table.rows(ids)
    assert isinstance(batch, tf.SparseTensor)
    np.testing.assert_allclose(tf.sparse.to_dense(batch).numpy(), X[ids].toarray(), rtol=1e-6)
    np.testing.assert_array_equal(FeatureTable(X.toarray()).rows(ids), X[ids].toarray().astype(np.float32))
    with pytest.raises(LSEError, match="NaN"):
        FeatureTable(np.array([[np.nan]]))


def test_distinct_rows_send_each_row_once():
    import tensorflow as tf

    X = sp.random(20, 7, density=0.3, random_state=0, format="csr", dtype=np.float64)
    ids = np.array([3, 19, 3, 0, 19, 3])
    for table in (FeatureTable(X), FeatureTable(X.toarray())):
        rows, position = table.distinct_rows(ids)
        dense = tf.sparse.to_dense(rows).numpy() if table.sparse else rows
        assert dense.shape == (3, 7) and position.dtype == np.int32
        np.testing.assert_array_equal(position, [1, 2, 1, 0, 2, 1])  # rows of ids 0, 3, 19
        np.testing.assert_allclose(dense[position], X[ids].toarray(), rtol=1e-6)
    np.testing.assert_array_equal(LabelIds(20).distinct_rows(ids), ids)


def test_feature_pairs_dataset_shapes_and_ids():
    X = sp.random(5, 6, density=0.5, random_state=1, format="csr")
    pairs = FeaturePairs(LabelPairSampler(Y, 2, 2, 1, seed=0), X, LabelIds(5))
    ((rows, position), labels), kinds = next(iter(pairs.dataset(epochs=1)))
    raw, _ = next(pairs.sampler.epoch_batches(0))
    distinct = np.unique(raw[:, 0])
    assert tuple(rows.dense_shape.numpy()) == (len(distinct), 6) and labels.dtype.name == "int32"
    np.testing.assert_array_equal(distinct[position.numpy()], raw[:, 0])
    assert kinds.shape == (5,) and pairs.steps_per_epoch == 4
    np.testing.assert_array_equal(labels.numpy(), raw[:, 1])
    (x, _), _ = next(iter(FeaturePairs(pairs.sampler, X, LabelIds(5), distinct=False).dataset(1)))
    assert tuple(x.dense_shape.numpy()) == (5, 6)


def test_distinct_rows_give_the_same_loss_and_gradients():
    """A tower run once per distinct row, gathered back to the pairs, is the per-pair tower."""
    import keras
    import tensorflow as tf

    from lse.models import InstanceLabelHasher

    X = sp.random(6, 9, density=0.5, random_state=2, format="csr")
    pairs = FeaturePairs(LabelPairSampler(Y, 4, 4, 4, hard=2, seed=0), X, LabelIds(5))
    model = InstanceLabelHasher(9, 5, 8, hidden=(16,), similarity="lse", k=4, dropout=0.0)
    raw, kinds = next(pairs.sampler.epoch_batches(0))
    assert len(np.unique(raw[:, 0])) < len(raw)  # the batch repeats instances
    results = []
    for distinct in (True, False):
        inputs, _ = next(FeaturePairs(pairs.sampler, X, LabelIds(5), distinct=distinct)
                         .epoch_batches(0))
        with tf.GradientTape() as tape:
            loss, _, _ = model.objective(inputs, kinds)
        results.append((loss.numpy(), tape.gradient(loss, model.trainable_variables)))
    (loss_a, grads_a), (loss_b, grads_b) = results
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-6)
    for a, b in zip(grads_a, grads_b):
        np.testing.assert_allclose(tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy(),
                                   rtol=1e-5, atol=1e-7)
    keras.backend.clear_session()


def test_two_tower_trains_on_sparse_class_pairs():
    """A shared tower on bag-of-words rows separates two classes after a few steps."""
    import keras

    from lse.metrics import map_at_r
    from lse.models import TwoTowerHasher
    from lse.training import train

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    dense = (rng.random((80, 30)) < 0.1) * 1.0
    dense[:40, :5] += rng.random((40, 5)) < 0.6   # class 0 words
    dense[40:, 5:10] += rng.random((40, 5)) < 0.6  # class 1 words
    X = sp.csr_matrix(np.minimum(dense, 1))
    model = TwoTowerHasher(30, 8, hidden=(16,), k=4, seed=0)
    model.compile(learning_rate=0.05, run_eagerly=True)
    train(model, FeaturePairs(ClassPairSampler(labels, 40, 40), X), 10, progress=False)
    codes = model.hash(X)[:, 0]
    assert map_at_r(codes, codes, labels, labels) > 0.95
    keras.backend.clear_session()


def test_label_tower_on_label_features():
    """Instance tower vs a label *feature* tower (TwoTowerHasher, shared=False)."""
    import keras

    from lse.label_retrieval import dense_topk
    from lse.models import TwoTowerHasher
    from lse.training import train

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 60)
    X = np.eye(4)[y] * 2 + rng.random((60, 4))       # instance features announce the label
    label_features = np.hstack([np.eye(4), np.ones((4, 2))])  # 6 features per label
    model = TwoTowerHasher(4, 8, hidden=(16,), shared=False, right_input_dim=6, k=2, seed=0)
    model.compile(learning_rate=0.05, run_eagerly=True)
    pairs = FeaturePairs(LabelPairSampler(y, 60, 60, 0), X, label_features)
    ((xl, left), (xr, right)), _ = next(pairs.epoch_batches(0))
    assert xl.shape == (60, 4) and xr.shape == (4, 6)  # each instance / label once
    assert left.shape == right.shape == (120,)
    train(model, pairs, 10, progress=False)
    top = dense_topk(model.encode(X)[:, 0], model.encode(label_features, side="right")[:, 0], 1)
    assert (top[:, 0] == y).mean() > 0.9
    keras.backend.clear_session()


def test_mined_pools_are_refreshed_from_the_model_each_epoch():
    """train() refreshes a mining sampler before every epoch but the first (one fit per epoch),
    and a refresh pools each instance's highest-cosine labels it does not have."""
    import keras

    from lse.models import InstanceLabelHasher
    from lse.training import PairProgress, train

    class Counting(FeaturePairs):
        calls = 0

        def refresh(self, model):
            Counting.calls += 1
            super().refresh(model)

    X = sp.random(5, 6, density=0.5, random_state=1, format="csr")
    assert not FeaturePairs(LabelPairSampler(Y, 7, 4, 4), X, LabelIds(5)).refreshes
    pairs = Counting(LabelPairSampler(Y, 7, 4, 4, mined=4, mined_pool=2, seed=0), X, LabelIds(5))
    assert pairs.refreshes and pairs.sampler.pool is None
    model = InstanceLabelHasher(6, 5, dim=8, hidden=(8,), k=2, seed=0)
    model.compile(learning_rate=0.05)
    progress = PairProgress(3 * pairs.steps_per_epoch, pairs.batch_size)
    history = train(model, pairs, 3, progress=False, callbacks=[progress])
    assert Counting.calls == 2 and history.epoch == [0, 1, 2] and len(history.history["loss"]) == 3
    assert progress.bar.n == 3 * pairs.steps_per_epoch  # one bar across the three fit calls
    pairs.refresh(model)
    u = model.encode(X)[:, 0]
    v = model.encode(None, side="right")[:, 0]
    u, v = u / np.linalg.norm(u, axis=1, keepdims=True), v / np.linalg.norm(v, axis=1)[:, None]
    cos = u @ v.T
    cos[Y.toarray() > 0] = -np.inf
    hardest = np.argsort(-cos, axis=1, kind="stable")[:, :2]
    np.testing.assert_array_equal(pairs.sampler.pool, hardest)
    keras.backend.clear_session()


def test_mined_pools_through_the_hash_index():
    """``mining_radius`` r: each pool holds only labels within Hamming radius r of the
    instance's code (minus its own labels), ranked by cosine; r = the code length reaches every
    label and gives the dense pool."""
    import keras

    from lse.label_retrieval import HashedRetriever
    from lse.models import InstanceLabelHasher

    X = sp.random(5, 6, density=0.5, random_state=1, format="csr")
    model = InstanceLabelHasher(6, 5, dim=4, hidden=(8,), k=2, seed=0)
    u, v = model.encode(X), model.encode(None, side="right")
    pools = {}
    for radius in (None, 0, 1, 4):
        pairs = FeaturePairs(LabelPairSampler(Y, 7, 4, 4, mined=4, mined_pool=3, seed=0), X,
                             LabelIds(5), mining_radius=radius)
        pairs.refresh(model)
        pools[radius] = pairs.sampler.pool
    np.testing.assert_array_equal(pools[4], pools[None])
    codes_u, codes_v = u[:, 0] > 0, v[:, 0] > 0
    distance = (codes_u[:, None, :] != codes_v[None, :, :]).sum(-1)  # (5 instances, 5 labels)
    for radius in (0, 1):
        expected = HashedRetriever(v).topk(u, 3, radius=radius, exclude=Y)
        np.testing.assert_array_equal(pools[radius], expected)
        for i, row in enumerate(pools[radius]):
            kept = row[row >= 0]
            assert np.all(distance[i, kept] <= radius) and not Y[i, kept].toarray().any()
    assert (pools[0] >= 0).sum() <= (pools[1] >= 0).sum() <= (pools[None] >= 0).sum()
    with pytest.raises(LSEError, match="mining_radius"):
        FeaturePairs(LabelPairSampler(Y, 7, 4, 4, mined=4), X, LabelIds(5), mining_radius=-1)
    keras.backend.clear_session()
