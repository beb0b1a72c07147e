"""lse.training.train: several steps per execution change nothing but the speed."""
import numpy as np
import pytest

from data_prep.sbm import generate_sbm
from lse.errors import LSEError
from lse.models import EmbeddingHasher
from lse.sampling import PairSampler
from lse.training import PairProgress, train


def trained_table(steps_per_execution, callbacks=()):
    D, _ = generate_sbm(factions=20, size=6, seed=0)
    sampler = PairSampler(D, 66, 64, 64, seed=1)  # 792 positives: 12 steps
    assert sampler.steps_per_epoch == 12
    model = EmbeddingHasher(D.shape[0], 8, seed=2)
    model.compile(learning_rate=0.05)
    train(model, sampler, 2, progress=False, callbacks=callbacks,
          steps_per_execution=steps_per_execution)
    return model, model.table.numpy()


def test_steps_per_execution_gives_the_same_model():
    _, one = trained_table(1)
    model, auto = trained_table("auto")
    assert model.steps_per_execution == 12  # the largest divisor of 12 steps up to 32
    np.testing.assert_allclose(auto, one, atol=1e-6)
    assert int(model.optimizer.iterations) == 24


def test_progress_counts_steps_not_executions():
    progress = PairProgress(24, 194)
    trained_table(4, callbacks=[progress])
    assert progress.steps == 24 and progress.bar.n == 24
    first = progress.bar
    trained_table(4, callbacks=[progress])  # a finished bar is not continued by the next run
    assert progress.bar is not first and progress.steps == 24 and progress.bar.n == 24


@pytest.mark.parametrize("value", [5, 0, "many"])
def test_steps_per_execution_must_divide_the_epoch(value):
    with pytest.raises(LSEError, match="steps_per_execution"):
        trained_table(value)
