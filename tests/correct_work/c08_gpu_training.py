"""Correct work for 08_gpu_training: one submission (grading it trains LeNet-5 for 4 epochs)."""

# ruff: noqa: E501 - notebook code kept in strings (notebooks allow long lines)

from tests.correct_work import Submission, code

ASSIGNMENT = "08_gpu_training"

DATALOADER = Submission(
    "a DataLoader, a convolutional C5 and careful devices",
    "C5 as the paper's 5x5 nn.Conv2d(16, 120) over S4's maps; pick_device that also checks "
    "the CUDA device index against torch.cuda.device_count(); to_device padding the uint8 "
    "pixels with NumPy before they cross, then standardizing on the device; train_epoch "
    "through a seeded DataLoader(TensorDataset(x, y), shuffle=True, generator=generator) "
    "instead of torch.randperm (once 2 points lost for a different but valid order); "
    "evaluate under torch.inference_mode counting in Python ints; a checkpoint with an extra "
    "'format' entry, loaded with map_location=device",
    {
        "your_model": code(
            '''
            class LeNet5(nn.Module):
                """LeNet-5 with C5 as the paper's 5x5 convolution over S4's 5x5 maps."""

                def __init__(self, variant="classic"):
                    super().__init__()
                    if variant not in {"classic", "modern"}:
                        raise ValueError(f"variant {variant!r}: expected 'classic' or 'modern'")
                    self.variant = variant
                    Pool = nn.MaxPool2d if variant == "modern" else nn.AvgPool2d
                    self.act = nn.ReLU() if variant == "modern" else nn.Tanh()
                    self.C1, self.S2 = nn.Conv2d(1, 6, 5), Pool(2)
                    self.C3, self.S4 = nn.Conv2d(6, 16, 5), Pool(2)
                    self.C5 = nn.Conv2d(16, 120, 5)  # (N, 120, 1, 1): a dense layer in disguise
                    self.F6, self.OUT = nn.Linear(120, 84), nn.Linear(84, 10)

                def forward(self, x):
                    x = self.S2(self.act(self.C1(x)))
                    x = self.S4(self.act(self.C3(x)))
                    x = self.act(self.C5(x)).flatten(1)
                    return self.OUT(self.act(self.F6(x)))
            '''
        ),
        "pick_device": code(
            '''
            def _available(device):
                if device.type == "cuda":
                    if not torch.cuda.is_available():
                        return False
                    index = 0 if device.index is None else device.index
                    return index < torch.cuda.device_count()
                if device.type == "mps":
                    return torch.backends.mps.is_available()
                return True


            def pick_device(preferred=None):
                """CUDA, then MPS, then the CPU; or the device asked for, if it is there."""
                if preferred in (None, "auto"):
                    for name in ("cuda", "mps"):
                        if _available(torch.device(name)):
                            return torch.device(name)
                    return torch.device("cpu")
                device = torch.device(preferred)
                if not _available(device):
                    found = [n for n in ("cuda", "mps") if _available(torch.device(n))] + ["cpu"]
                    raise RuntimeError(f"{preferred!r} was asked for but is not available; available: {found}")
                return device
            '''
        ),
        "to_device": code(
            """
            def to_device(images, labels, device, mean=0.1307, std=0.3081):
                padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # still uint8: a new array
                x = torch.from_numpy(padded).to(device).unsqueeze(1).to(torch.float32)
                x = x.div_(255).sub_(mean).div_(std)
                y = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device)
                return x, y
            """
        ),
        "train_megabytes": "train_megabytes = x_train.element_size() * x_train.nelement() / 10**6\n",
        "train_epoch": code(
            '''
            from torch.utils.data import DataLoader, TensorDataset


            def train_epoch(model, optimizer, scheduler, x, y, batch_size, generator, amp=False, bar=None):
                """One epoch over a shuffling DataLoader; the mean of the batch losses."""
                model.train()
                loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, generator=generator)
                total, batches = torch.zeros((), device=x.device), 0
                for xb, yb in loader:
                    optimizer.zero_grad(set_to_none=True)
                    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
                        logits = model(xb)
                    loss = F.cross_entropy(logits.float(), yb)
                    loss.backward()
                    optimizer.step()
                    if scheduler is not None:
                        scheduler.step()
                    total += loss.detach()
                    batches += 1
                    if bar is not None:
                        bar.update(1)
                return (total / batches).item()
            '''
        ),
        "evaluate": code(
            """
            def evaluate(model, x, y, batch_size=1000):
                model.eval()
                right = 0
                with torch.inference_mode():
                    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
                        right += int((model(xb).argmax(dim=1) == yb).sum())
                return right / len(y)
            """
        ),
        "checkpoint": code(
            '''
            def save_checkpoint(path, model, epoch, metrics):
                """A dict of plain data: variant, CPU tensors, epoch, metrics (and a format number)."""
                torch.save(
                    {
                        "format": 1,
                        "variant": model.variant,
                        "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                        "epoch": int(epoch),
                        "metrics": {k: float(v) for k, v in metrics.items()},
                    },
                    path,
                )


            def load_checkpoint(path, device):
                saved = torch.load(path, map_location=torch.device(device), weights_only=True)
                model = LeNet5(saved["variant"]).to(device)
                model.load_state_dict(saved["state_dict"])
                model.eval()
                return model, {"epoch": saved["epoch"], "metrics": saved["metrics"]}
            '''
        ),
    },
)

SUBMISSIONS = [DATALOADER]
