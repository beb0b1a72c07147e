"""Training loop pieces shared by every model: the fit helper, progress, checkpoints, resume.

``train(model, sampler, epochs)`` feeds a :class:`lse.sampling.PairSampler` into ``model.fit``
and adds what a long run needs:

- a tqdm progress bar with pairs/s and the running loss (:class:`PairProgress`);
- an optional linear ramp of the quantization weight (:class:`QuantizationRamp`): lambda grows
  from 0 to its value over the first part of training, so the pair loss organises the
  embeddings before quantization freezes their signs;
- per-epoch checkpoints written atomically (:class:`EpochCheckpoint`) and ``resume=True``,
  which restores weights, optimizer state and the epoch counter; since sampling and dropout
  are keyed by (seed, epoch) and (seed, step), a resumed run continues exactly as an
  uninterrupted one would.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import keras
import numpy as np

from .errors import LSEError, check_int
from .io import atomic_path


class PairProgress(keras.callbacks.Callback):
    """tqdm bar over all steps of the run, showing epoch, pairs/s and loss."""

    def __init__(self, total_steps: int, pairs_per_step: int, initial_step: int = 0):
        super().__init__()
        self.total_steps, self.pairs_per_step = total_steps, pairs_per_step
        self.initial_step = initial_step
        self.bar = None

    def on_train_begin(self, logs=None):
        # one bar for the whole run, also when it is several ``fit`` calls (one per epoch); the
        # same callback given to a later run (all steps done) opens a new one
        if self.bar is None or self.finished:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=self.total_steps, initial=self.initial_step, unit="step",
                            dynamic_ncols=True, leave=True)
            self.start, self.steps = time.perf_counter(), 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.epoch_steps = epoch + 1, 0

    def on_train_batch_end(self, batch, logs=None):
        # ``batch`` is the last step of the execution (Keras runs steps_per_execution steps
        # per call and reports once)
        done = batch + 1 - self.epoch_steps
        self.epoch_steps = batch + 1
        before, self.steps = self.steps, self.steps + done
        self.bar.update(done)
        if self.steps // 10 > before // 10 or before == 0:
            rate = self.steps * self.pairs_per_step / (time.perf_counter() - self.start)
            loss = float(logs.get("loss", np.nan)) if logs else np.nan
            self.bar.set_postfix_str(f"epoch {self.epoch} loss {loss:.4f} {rate:,.0f} pairs/s")

    @property
    def finished(self) -> bool:
        """Whether the bar has counted every step of its run."""
        return self.initial_step + self.steps >= self.total_steps

    def on_train_end(self, logs=None):
        if self.finished:
            self.bar.close()


class QuantizationRamp(keras.callbacks.Callback):
    """Scale lambda linearly from 0 (first epoch) to 1 at ``fraction`` of ``epochs``."""

    def __init__(self, epochs: int, fraction: float):
        super().__init__()
        self.epochs, self.fraction = epochs, fraction

    def on_epoch_begin(self, epoch, logs=None):
        scale = 1.0 if self.fraction <= 0 else min(1.0, epoch / (self.fraction * self.epochs))
        self.model.quantization_ramp.assign(scale)


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch, save weights + optimizer state + epoch number atomically to ``dir``.

    Two files: ``state.weights.h5`` (Keras ``save_weights``: model and optimizer variables)
    and ``state.json`` (epoch, seed), each replaced atomically, the JSON last: a kill -9 at any
    moment leaves the previous complete checkpoint or the new one, never a mix that resumes.
    """

    WEIGHTS, META = "state.weights.h5", "state.json"

    def __init__(self, directory: str | os.PathLike):
        super().__init__()
        self.directory = Path(directory)

    def on_epoch_end(self, epoch, logs=None):
        self.directory.mkdir(parents=True, exist_ok=True)
        epoch_weights = self.directory / f"epoch{epoch + 1}.weights.h5"
        with atomic_path(epoch_weights) as tmp:
            keras_path = tmp.with_suffix(".weights.h5")
            self.model.save_weights(keras_path)
            os.replace(keras_path, tmp)
        meta = {"epoch": epoch + 1, "weights": epoch_weights.name,
                "logs": {k: float(v) for k, v in (logs or {}).items()}}
        with atomic_path(self.directory / self.META) as tmp:
            tmp.write_text(json.dumps(meta))
        for old in self.directory.glob("epoch*.weights.h5"):
            if old != epoch_weights:
                old.unlink(missing_ok=True)

    @classmethod
    def restore(cls, model: keras.Model, directory: str | os.PathLike) -> int:
        """Load the last checkpoint into a built, compiled ``model``; return its epoch (0 if none)."""
        meta_path = Path(directory) / cls.META
        if not meta_path.exists():
            return 0
        try:
            meta = json.loads(meta_path.read_text())
            weights = Path(directory) / meta["weights"]
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            model.load_weights(weights)
        except (OSError, ValueError, KeyError) as exc:
            raise LSEError(f"cannot resume from {directory}: the checkpoint is unreadable "
                           f"({exc})") from None
        return int(meta["epoch"])


def train(model: keras.Model, sampler, epochs: int, *, initial_epoch: int = 0,
          checkpoint_dir: str | os.PathLike | None = None, resume: bool = False,
          quantization_ramp: float = 0.0, progress: bool = True, csv_log: str | None = None,
          tensorboard_dir: str | None = None, callbacks=(),
          steps_per_execution: int | str = "auto"):
    """Train ``model`` (a compiled :class:`lse.models.PairHashModel`) on ``sampler``'s batches.

    Returns the Keras ``History``. With ``resume=True`` and a checkpoint in ``checkpoint_dir``,
    training continues after the last completed epoch.

    A sampler whose batches depend on the model (``sampler.refreshes``, e.g. mined negatives,
    :meth:`lse.features.FeaturePairs.refresh`) is refreshed with the model before every epoch
    but the first, one ``fit`` call per epoch: ``fit`` prefetches batches ahead of training, so
    a refresh inside one call would reach a varying number of them, and runs would not repeat.

    ``steps_per_execution``: train steps per call of the compiled training function (less
    Python and dispatch overhead per step: ~20% less CPU on small batches). ``"auto"`` picks
    the largest divisor of the steps per epoch up to 32, so that every epoch still ends exactly
    at its boundary (checkpoints, resume, the lambda ramp and the epoch-keyed sampling rely on
    it); batch-level callbacks then run once per execution. An explicit value must divide the
    steps per epoch.
    """
    check_int(epochs, "epochs", 1)
    if model.optimizer is None:
        model.compile()
    if not model.built:
        pairs, kinds = next(iter(sampler.epoch_batches(0)))
        model(pairs[:2])
    if resume:
        if checkpoint_dir is None:
            raise LSEError("resume needs a checkpoint directory")
        initial_epoch = max(initial_epoch, EpochCheckpoint.restore(model, checkpoint_dir))
    cbs = list(callbacks)
    if quantization_ramp > 0:
        cbs.append(QuantizationRamp(epochs, quantization_ramp))
    if checkpoint_dir is not None:
        cbs.append(EpochCheckpoint(checkpoint_dir))
    refreshes = bool(getattr(sampler, "refreshes", False))
    if csv_log:
        if refreshes and not resume:  # each epoch's fit appends to the log this run starts
            Path(csv_log).unlink(missing_ok=True)
        cbs.append(keras.callbacks.CSVLogger(csv_log, append=resume or refreshes))
    if tensorboard_dir:
        cbs.append(keras.callbacks.TensorBoard(tensorboard_dir))
    steps = sampler.steps_per_epoch
    _set_steps_per_execution(model, steps, steps_per_execution)
    if progress:
        cbs.append(PairProgress(epochs * steps, sampler.batch_size, initial_epoch * steps))
    if initial_epoch >= epochs:
        return keras.callbacks.History()

    def fit(first: int, last: int):
        return model.fit(sampler.dataset(start_epoch=first, epochs=last - first), epochs=last,
                         initial_epoch=first, steps_per_epoch=steps, callbacks=cbs, verbose=0,
                         shuffle=False)

    if not refreshes:
        return fit(initial_epoch, epochs)
    history = keras.callbacks.History()  # the per-epoch calls' histories, joined
    history.epoch, history.history = [], {}
    for epoch in range(initial_epoch, epochs):
        if epoch > 0:
            sampler.refresh(model)
        one = fit(epoch, epoch + 1)
        history.epoch += one.epoch
        for key, values in one.history.items():
            history.history.setdefault(key, []).extend(values)
    return history


def _set_steps_per_execution(model: keras.Model, steps_per_epoch: int, value) -> None:
    if value == "auto":
        value = max(d for d in range(1, min(32, steps_per_epoch) + 1) if steps_per_epoch % d == 0)
    if (not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1
            or steps_per_epoch % value):
        raise LSEError(f"steps_per_execution must be 'auto' or a positive divisor of the "
                       f"{steps_per_epoch} steps per epoch (got {value!r})")
    if model.steps_per_execution != value:
        model.steps_per_execution = int(value)
        model.train_function = None  # rebuilt by fit with the new loop length
