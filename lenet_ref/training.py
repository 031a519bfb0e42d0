"""One training loop for both LeNet-5s: the history it returns, the events it calls back with,
stopping (a stop event, early stopping on validation accuracy) and the progress bar.

:func:`lenet_ref.numpy_train.train` and :func:`lenet_ref.torch_train.train` take the same
arguments and return the same :class:`History`; each hands :func:`fit` a :class:`Steps` that
says how its library draws batches, takes a step and measures accuracy. Validation data, never
the test set, is what the loop watches: measure the test set once, after training.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

#: The per-epoch series of a :class:`History` (see :meth:`History.series`).
SERIES = ("epoch", "train_loss", "train_acc", "val_acc", "lr", "seconds")


@dataclass
class EpochRecord:
    """One epoch: mean training loss and accuracy (on the batches as they were trained),
    validation accuracy (None without validation data, or for an unfinished epoch), the learning
    rate of its last step, training seconds and validation seconds (wall clock)."""

    epoch: int
    train_loss: float
    train_acc: float
    val_acc: float | None
    lr: float
    seconds: float
    eval_seconds: float = 0.0
    complete: bool = True


@dataclass
class History:
    """What training returns: one :class:`EpochRecord` per epoch and every batch's loss.

    ``stopped``: training ended before its last epoch (stop event or early stopping);
    ``best_epoch``: with early stopping, the epoch whose parameters the model was given back.
    """

    epochs: list[EpochRecord] = field(default_factory=list)
    batch_losses: list[float] = field(default_factory=list)
    stopped: bool = False
    best_epoch: int | None = None
    device: str = "cpu"

    @property
    def epoch(self) -> list[int]:
        return [e.epoch for e in self.epochs]

    @property
    def train_loss(self) -> list[float]:
        return [e.train_loss for e in self.epochs]

    @property
    def train_acc(self) -> list[float]:
        return [e.train_acc for e in self.epochs]

    @property
    def val_acc(self) -> list[float | None]:
        return [e.val_acc for e in self.epochs]

    @property
    def lr(self) -> list[float]:
        return [e.lr for e in self.epochs]

    @property
    def seconds(self) -> list[float]:
        return [e.seconds for e in self.epochs]

    def series(self) -> dict[str, list]:
        """The per-epoch series by name (:data:`SERIES`), one entry per epoch."""
        return {name: getattr(self, name) for name in SERIES}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainEvent:
    """What ``callback`` receives: ``kind`` "batch" after every step, "epoch" after each epoch
    (its validation included). ``epoch`` counts from 1, ``batch`` from 0 within the epoch,
    ``step`` is the number of steps taken so far; ``record`` is the epoch's (epoch events)."""

    kind: str
    epoch: int
    batch: int
    batches_per_epoch: int
    step: int
    history: History
    model: Any
    record: EpochRecord | None = None
    #: The batch's loss as the library computed it (a 0-d tensor stays on its device).
    raw_loss: Any = None

    @property
    def loss(self) -> float:
        """The batch's mean loss (the epoch's, for epoch events); reading it waits for the
        device, so a callback that never reads it costs the GPU nothing."""
        return float(self.raw_loss)


Callback = Callable[[TrainEvent], None]


class Steps:
    """How one library trains a model: :func:`fit` calls these. Subclasses implement
    :meth:`batches`, :meth:`step`, :meth:`lr` and :meth:`validate` (when they have validation
    data), and override the rest where their library needs it."""

    def __init__(self, model: Any, batches_per_epoch: int, has_validation: bool) -> None:
        self.model = model
        self.batches_per_epoch = batches_per_epoch
        self.has_validation = has_validation

    def batches(self) -> Iterable[tuple[Any, Any]]:
        """One epoch of (x, y) batches, in a fresh random order."""
        raise NotImplementedError

    def step(self, x: Any, y: Any) -> tuple[Any, Any]:
        """One optimizer step on (x, y) -> (mean loss, number of correct predictions)."""
        raise NotImplementedError

    def lr(self) -> float:
        """The learning rate the next step uses."""
        raise NotImplementedError

    def validate(self) -> float:
        """Accuracy in [0, 1] on the validation data."""
        raise NotImplementedError

    def sync(self) -> None:
        """Wait until the device has done all the work queued so far (timing needs it)."""

    def floats(self, values: list[Any]) -> list[float]:
        """Losses as returned by :meth:`step`, as Python floats."""
        return [float(v) for v in values]

    def snapshot(self) -> Any:
        """A copy of the model's parameters."""
        raise NotImplementedError

    def restore(self, state: Any) -> None:
        """Put a :meth:`snapshot` back into the model."""
        raise NotImplementedError


def check_arguments(
    epochs: Any,
    batch_size: Any,
    patience: int | None,
    has_validation: bool,
    choices: dict[str, tuple[str, tuple[str, ...]]],
) -> None:
    """Raise ``ValueError`` for arguments no training run can use.

    choices: ``{argument name: (value given, allowed values)}``, e.g. the optimizer.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    for name, (value, allowed) in choices.items():
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}.")
    if patience is not None and (not has_validation or patience < 1):
        raise ValueError("patience needs validation data (val_data) and patience >= 1.")


class _Progress:
    """One tqdm bar per epoch showing loss and accuracy (nothing when disabled)."""

    def __init__(self, enabled: bool, epochs: int, total: int, where: str) -> None:
        self.enabled, self.epochs, self.total, self.where = enabled, epochs, total, where
        self.bar: Any = None

    def start(self, epoch: int) -> None:
        if self.enabled:
            from tqdm.auto import tqdm

            desc = f"epoch {epoch}/{self.epochs}{self.where}"
            self.bar = tqdm(total=self.total, desc=desc, unit="batch", leave=True)

    def update(self, batch: int, loss: Any, correct: Any, seen: int) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if batch % 20 == 0:
                self.bar.set_postfix(loss=f"{float(loss):.4f}", acc=f"{int(correct) / seen:.4f}")

    def close(self, record: EpochRecord | None) -> None:
        if self.bar is None:
            return
        if record is not None:
            shown = {"loss": f"{record.train_loss:.4f}", "acc": f"{record.train_acc:.4f}"}
            if record.val_acc is not None:
                shown["val_acc"] = f"{record.val_acc:.4f}"
            self.bar.set_postfix(**shown)
        self.bar.close()
        self.bar = None


class _EarlyStopping:
    """Keeps the parameters of the best validation accuracy; says when ``patience`` epochs
    passed without a better one."""

    def __init__(self, patience: int | None) -> None:
        self.patience, self.best_acc, self.best_epoch, self.state, self.waited = (
            patience, -1.0, None, None, 0
        )  # fmt: skip

    def should_stop(self, steps: Steps, record: EpochRecord) -> bool:
        if self.patience is None or record.val_acc is None:
            return False
        if record.val_acc > self.best_acc:
            self.best_acc, self.best_epoch, self.waited = record.val_acc, record.epoch, 0
            self.state = steps.snapshot()
            return False
        self.waited += 1
        return self.waited >= self.patience


def fit(
    steps: Steps,
    *,
    epochs: int,
    patience: int | None = None,
    progress: bool = True,
    callback: Callback | None = None,
    stop: threading.Event | None = None,
    device: str = "cpu",
) -> History:
    """Train for ``epochs`` passes and return the :class:`History`.

    After each epoch the validation accuracy is measured (when ``steps`` has validation data);
    ``patience``: stop after that many epochs without a better one, and give the model back the
    parameters of the best. ``callback(event)``: after every batch and every epoch (see
    :class:`TrainEvent`). ``stop``: checked before every batch; once it is set, training returns
    at once with the partial history (the unfinished epoch recorded with ``complete=False``).
    """
    history = History(device=device)
    early = _EarlyStopping(patience)
    where = "" if device == "cpu" else f" on {device}"
    bar = _Progress(progress, epochs, steps.batches_per_epoch, where)
    taken = 0
    try:
        for epoch in range(1, epochs + 1):
            bar.start(epoch)
            steps.sync()
            start = time.perf_counter()
            losses, sizes, correct, seen, lr = [], [], 0, 0, math.nan
            for batch, (x, y) in enumerate(steps.batches()):
                if stop is not None and stop.is_set():
                    history.stopped = True
                    break
                lr = steps.lr()
                loss, hits = steps.step(x, y)
                taken += 1
                losses.append(loss)
                sizes.append(len(y))
                correct += hits
                seen += len(y)
                bar.update(batch, loss, correct, seen)
                if callback is not None:
                    callback(
                        TrainEvent(
                            "batch", epoch, batch, steps.batches_per_epoch, taken, history,
                            steps.model, raw_loss=loss,
                        )
                    )  # fmt: skip
            steps.sync()
            seconds = time.perf_counter() - start
            values = steps.floats(losses)
            history.batch_losses.extend(values)
            if not seen:  # stopped before this epoch's first batch
                break
            record = EpochRecord(
                epoch=epoch,
                train_loss=sum(v * n for v, n in zip(values, sizes, strict=True)) / seen,
                train_acc=int(correct) / seen,
                val_acc=None,
                lr=lr,
                seconds=seconds,
                complete=not history.stopped,
            )
            if steps.has_validation and record.complete:
                start = time.perf_counter()
                record.val_acc = steps.validate()
                record.eval_seconds = time.perf_counter() - start
            history.epochs.append(record)
            bar.close(record)
            if history.stopped:
                break
            if callback is not None:
                callback(
                    TrainEvent(
                        "epoch", epoch, steps.batches_per_epoch - 1, steps.batches_per_epoch,
                        taken, history, steps.model, record, raw_loss=record.train_loss,
                    )
                )  # fmt: skip
            if early.should_stop(steps, record):
                history.stopped = True
                break
    finally:
        bar.close(None)
    if early.state is not None:
        steps.restore(early.state)
        history.best_epoch = early.best_epoch
    return history
