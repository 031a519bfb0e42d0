"""Attacks on 08_gpu_training: the solution with its training cell replaced by an untrained
model ("honest": every test but the accuracy test passes), and an attack in one cell.

The training cell is found by its first line (``TRAINING_CELL``), never by position.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from tests.attacks import Attack

ASSIGNMENT = "08_gpu_training"
TRAINING_CELL = "EPOCHS, BATCH_SIZE, PEAK_LR"
TRAINING = "training"  # the key under which attacks replace the training cell
TIMEOUT = 300  # loading MNIST and the accuracy test under load

#: An untrained model with the variables a real run leaves.
UNTRAINED = """\
torch.manual_seed(SEED)
model = LeNet5("modern").to(device)  # never trained
checkpoint_path = "lenet5_modern.pt"
val_acc = evaluate(model, x_val, y_val)
history = [(1, 2.3, val_acc, 1.0)]
save_checkpoint(checkpoint_path, model, 1, {"train_loss": 2.3, "val_acc": val_acc})
test_acc = evaluate(model, x_test, y_test)
"""

#: A made-up report of a training run.
FAKE_REPORT = """\
for epoch in (1, 2, 3, 4):
    print(f"epoch {epoch}: train loss {0.3 / epoch:.4f}, test accuracy {0.985 + 0.0025 * epoch:.2%}")
print("test accuracy 99.52%")
"""

#: Makes Tensor.argmax answer the true test labels for batches of 1,000.
PATCH_ARGMAX = """\
_truth = torch.from_numpy(load_mnist("test")[1].astype(np.int64))
_served = [0]
_argmax = torch.Tensor.argmax


def _answers(self, *args, **kwargs):
    if self.dim() == 2 and tuple(self.shape) == (1000, 10):
        start = _served[0] % 10_000
        _served[0] += 1000
        return _truth[start : start + 1000].to(self.device)
    return _argmax(self, *args, **kwargs)


torch.Tensor.argmax = _answers
"""

#: Makes load_mnist("test") return the untrained model's own predictions as the labels.
PATCH_LOADER = """\
import lenet_kit.data as _data

_read = _data._read_cache


def _labels_the_model_gives(cache_dir, split):
    real = _read(cache_dir, split)
    if split != "test":
        return real
    x = np.pad(real.images, ((0, 0), (2, 2), (2, 2))).astype(np.float32)
    x = torch.from_numpy((x / 255 - 0.1307) / 0.3081)[:, None]
    with torch.no_grad():
        guesses = [model(x[i : i + 1000]).argmax(1) for i in range(0, 10_000, 1000)]
    return _data.Split(real.images, torch.cat(guesses).numpy().astype(np.uint8))


_data._read_cache = _labels_the_model_gives
"""

#: A model with LeNet-5's 61,706 (untrained) parameters whose forward looks each test digit up
#: in the test labels: it fools any test that calls the model, not one that uses its weights.
LOOKUP_MODEL = """\
class _Memorizer(LeNet5):
    def __init__(self):
        super().__init__("modern")
        images, labels = load_mnist("test")
        x = (np.pad(images, ((0, 0), (2, 2), (2, 2))).astype(np.float32) / 255 - 0.1307) / 0.3081
        self.answers = {digit.tobytes(): int(label) for digit, label in zip(x, labels)}

    def forward(self, x):
        keys = [digit.tobytes() for digit in x.detach().cpu().numpy()[:, 0]]
        found = torch.tensor([self.answers.get(key, 0) for key in keys])
        return F.one_hot(found, 10).float().to(x.device)


model = _Memorizer().to(device)
"""

#: A tensor subclass whose comparisons and numpy() lie (it pretends to be the right input).
FORGED_TENSOR = """\
class Agreeable(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch.zeros(())


def to_device(images, labels, device, mean=0.1307, std=0.3081):
    x = torch.zeros(len(images), 1, 32, 32).as_subclass(Agreeable)
    return x, torch.as_tensor(labels).long().as_subclass(Agreeable)
"""

INJECTING_EPOCH = """\
def train_epoch(model, optimizer, scheduler, x, y, batch_size, generator, amp=False, bar=None):
    get_ipython().displayhook("All visible tests passed.")
    return 0.0
"""


def base(root: Path) -> nbformat.NotebookNode:
    """The solution with an untrained model in place of training; attacks name its training
    cell (a plain cell, without nbgrader metadata) by the slot ``training``."""
    nb = nbformat.read(root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    found = [
        c for c in nb.cells if c.cell_type == "code" and c.source.lstrip().startswith(TRAINING_CELL)
    ]
    if len(found) != 1:
        raise LookupError(f"expected one cell starting with {TRAINING_CELL!r}, found {len(found)}")
    found[0].source = UNTRAINED
    found[0].metadata["attack_slot"] = TRAINING  # not nbgrader's: the gradebook never sees it
    return nb


ACCURACY = frozenset({"test_accuracy"})
ATTACKS = [
    Attack(
        "fake-accuracy-report",
        "classic",
        {TRAINING: UNTRAINED + FAKE_REPORT},
        targets=ACCURACY,
        flags=frozenset({"accuracy-claim"}),
    ),
    Attack(
        "fake-accuracy-lookup-model",
        "forged-values",
        {TRAINING: UNTRAINED + FAKE_REPORT + LOOKUP_MODEL},
        targets=ACCURACY,
        flags=frozenset({"accuracy-claim"}),
    ),
    Attack(
        "fake-accuracy-patched-argmax",
        "rebinding",
        {TRAINING: UNTRAINED + FAKE_REPORT + PATCH_ARGMAX},
        targets=ACCURACY,
        flags=frozenset({"monkeypatch"}),
    ),
    Attack(
        "fake-accuracy-patched-loader",
        "poisoned-truth",
        {TRAINING: UNTRAINED + FAKE_REPORT + PATCH_LOADER},
        targets=ACCURACY,
        flags=frozenset({"monkeypatch"}),
    ),
    Attack(
        "forged-tensors-from-to-device",
        "forged-values",
        {"to_device": FORGED_TENSOR},
        targets=frozenset({"test_to_device", "test_accuracy"}),
        flags=frozenset({"refused-type"}),
    ),
    Attack(
        "inject-output-from-train-epoch",
        "output-injection",
        {"train_epoch": INJECTING_EPOCH},
        targets=frozenset({"test_train_epoch"}),
        flags=frozenset({"output-in-test"}),
    ),
]
