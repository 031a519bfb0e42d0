"""Correct work for 06_numpy_lenet: one submission (grading it trains LeNet-5 for an epoch)."""

# ruff: noqa: E501 - notebook code kept in strings (notebooks allow long lines)

from tests.correct_work import Submission, code
from tests.correct_work._shared import NUMPY_LAYERS

ASSIGNMENT = "06_numpy_lenet"

ONE_STUDENT = Submission(
    "another student's network, end to end",
    "layers pasted with a docstring that names the notebooks they come from ('.ipynb' once "
    "stopped this cell) and a convolution cache with one more entry (the im2col rows its "
    "backward reuses); init_weight from a table of rules with rng.random and "
    "rng.standard_normal; layers with an extra keyword argument; LeNet5 built in a loop from a "
    "layer table, forward with functools.reduce; SGD keeping its velocities in a list and "
    "updating with p[...] = ...; train shuffling with its own bit generator "
    "(PCG64DXSM(seed)), a manually updated tqdm bar, and evaluate passing batch_size on to "
    "model.predict",
    {
        "your_layers": NUMPY_LAYERS,
        "init_weight": code(
            '''
            #: init name -> (distribution, scale from fan_in): the half-width or the std
            INIT_RULES = {
                "lecun": ("uniform", lambda fan_in: math.sqrt(3.0 / fan_in)),
                "he": ("normal", lambda fan_in: math.sqrt(2.0 / fan_in)),
                "lecun98": ("uniform", lambda fan_in: 2.4 / fan_in),
            }


            def init_weight(shape, fan_in, init, rng, dtype):
                """Initial weights drawn from rng by the rule INIT_RULES[init], as dtype."""
                if init not in INIT_RULES:
                    raise ValueError(f"unknown init {init!r}: use one of {sorted(INIT_RULES)}")
                kind, scale = INIT_RULES[init]
                s = scale(fan_in)
                if kind == "uniform":
                    w = s * (2.0 * rng.random(shape) - 1.0)
                else:
                    w = s * rng.standard_normal(shape)
                return np.asarray(w, dtype=dtype)
            '''
        ),
        "conv2d_dense": code(
            '''
            class Conv2D(Layer):
                """Convolution layer: (N, C, H, W) -> (N, F, OH, OW)."""

                def __init__(
                    self,
                    in_channels,
                    out_channels,
                    kernel_size,
                    stride=1,
                    pad=0,
                    *,
                    init="lecun",
                    rng=None,
                    dtype=np.float32,
                    input_grad=True,
                    bias_value=0.0,
                ):
                    super().__init__()
                    rng = np.random.default_rng() if rng is None else rng
                    self.stride, self.pad, self.input_grad = stride, pad, input_grad
                    fan_in = in_channels * kernel_size**2
                    self.params = {
                        "weight": init_weight(
                            (out_channels, in_channels, kernel_size, kernel_size), fan_in, init, rng, dtype
                        ),
                        "bias": np.full(out_channels, bias_value, dtype=dtype),
                    }

                def forward(self, x):
                    p = self.params
                    out, self.cache = conv2d_forward(x, p["weight"], p["bias"], stride=self.stride, pad=self.pad)
                    return out

                def backward(self, dout):
                    dx, dw, db = conv2d_backward(dout, self.cache)
                    self.grads.update(weight=dw, bias=db)
                    if not self.input_grad:
                        return None
                    return dx

                def __repr__(self):
                    f, c, k, _ = self.params["weight"].shape
                    return f"Conv2D({c}->{f}, {k}x{k}, stride {self.stride}, pad {self.pad})"


            class Dense(Layer):
                """Fully connected layer: (N, D) -> (N, M)."""

                def __init__(self, in_features, out_features, *, init="lecun", rng=None, dtype=np.float32, bias_value=0.0):
                    super().__init__()
                    rng = np.random.default_rng() if rng is None else rng
                    self.params["weight"] = init_weight((in_features, out_features), in_features, init, rng, dtype)
                    self.params["bias"] = np.full(out_features, bias_value, dtype=dtype)

                def forward(self, x):
                    out, self.cache = dense_forward(x, self.params["weight"], self.params["bias"])
                    return out

                def backward(self, dout):
                    dx, self.grads["weight"], self.grads["bias"] = dense_backward(dout, self.cache)
                    return dx

                def __repr__(self):
                    return f"Dense({self.params['weight'].shape[0]}->{self.params['weight'].shape[1]})"
            '''
        ),
        "lenet5": code(
            '''
            import functools


            class ParamDict(dict):
                """{"C1.weight": array, ...}; assigning a key copies the values INTO the layer's array."""

                def __setitem__(self, key, value):
                    if key not in self:
                        raise KeyError(f"{key!r} is not a parameter; the parameters are {list(self)}.")
                    target = dict.__getitem__(self, key)
                    if np.shape(value) != target.shape:
                        raise ValueError(f"params[{key!r}] has shape {target.shape}, not {np.shape(value)}.")
                    target[...] = value


            #: the variant -> (activation, pooling, initialisation of the hidden layers)
            VARIANTS = {"classic": (Tanh, AvgPool2D, "lecun"), "modern": (ReLU, MaxPool2D, "he")}


            class LeNet5:
                """LeNet-5 for (N, 1, 32, 32) inputs -> logits (N, 10); 61,706 parameters."""

                def __init__(self, variant="classic", seed=0, dtype=np.float32):
                    if variant not in ("classic", "modern"):
                        raise ValueError(f"variant must be 'classic' or 'modern', got {variant!r}.")
                    self.variant, self.seed, self.dtype = variant, seed, np.dtype(dtype)
                    rng = np.random.default_rng(seed)
                    Act, Pool, hidden_init = VARIANTS[variant]
                    table = [
                        ("C1", lambda: Conv2D(1, 6, 5, input_grad=False, init=hidden_init, rng=rng, dtype=dtype)),
                        ("act1", Act),
                        ("S2", Pool),
                        ("C3", lambda: Conv2D(6, 16, 5, init=hidden_init, rng=rng, dtype=dtype)),
                        ("act3", Act),
                        ("S4", Pool),
                        ("flatten", Flatten),
                        ("C5", lambda: Dense(400, 120, init=hidden_init, rng=rng, dtype=dtype)),
                        ("act5", Act),
                        ("F6", lambda: Dense(120, 84, init=hidden_init, rng=rng, dtype=dtype)),
                        ("act6", Act),
                        ("OUT", lambda: Dense(84, 10, init="lecun", rng=rng, dtype=dtype)),
                    ]
                    self.layers = {}
                    for name, make in table:  # in order: the rng draws C1's weights first
                        self.layers[name] = make()
                    self.grads = {}
                    self.last_logits = None

                @property
                def params(self):
                    return ParamDict(
                        (f"{name}.{key}", value)
                        for name, layer in self.layers.items()
                        for key, value in layer.params.items()
                    )

                def num_params(self):
                    return sum(int(p.size) for p in self.params.values())

                def forward(self, x):
                    layers = self.layers.values()
                    return functools.reduce(lambda h, layer: layer.forward(h), layers, np.asarray(x, dtype=self.dtype))

                __call__ = forward

                def backward(self, dout):
                    grad = dout
                    for layer in reversed(list(self.layers.values())):
                        grad = layer.backward(grad)
                        if grad is None:  # C1 does not compute the image's gradient
                            break
                    self.grads = {}
                    for name, layer in self.layers.items():
                        for key, value in layer.grads.items():
                            self.grads[name + "." + key] = value
                    return self.grads

                def loss(self, x, y):
                    self.last_logits = self.forward(x)
                    value, dlogits = softmax_cross_entropy(self.last_logits, y)
                    return value, self.backward(dlogits)

                def predict(self, x, batch_size=256):
                    """x: (N, 1, 32, 32) -> predicted digits (N,), batch_size images at a time."""
                    return np.concatenate(
                        [
                            self.forward(x[i : i + batch_size]).argmax(axis=1)
                            for i in range(0, len(x), batch_size)
                        ]
                    )

                def summary(self):
                    """A table of the layers with the output shape of one image and the parameter count."""
                    out = np.zeros((1, 1, 32, 32), self.dtype)
                    lines = [f"{'name':<8}{'layer':<34}{'output':>14}{'params':>9}"]
                    for name, layer in self.layers.items():
                        out = layer.forward(out)
                        n = sum(int(p.size) for p in layer.params.values())
                        lines.append(f"{name:<8}{layer!r:<34}{str(out.shape[1:]):>14}{n:>9,}")
                    return "\\n".join([*lines, f"{'total':<56}{self.num_params():>9,}"])
            '''
        ),
        "conv_macs_fraction": code(
            """
            def macs(layer, out_shape, fan_in):
                return int(np.prod(out_shape)) * fan_in


            conv = macs("C1", (6, 28, 28), 1 * 25) + macs("C3", (16, 10, 10), 6 * 25)
            dense = 400 * 120 + 120 * 84 + 84 * 10
            conv_macs_fraction = conv / (conv + dense)
            """
        ),
        "sgd": code(
            '''
            class SGD:
                """SGD with momentum and weight decay, in PyTorch's formulation, in place."""

                def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
                    self.params = dict(params)
                    self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
                    self.keys = list(self.params)
                    self.buffers = [np.zeros_like(self.params[k]) for k in self.keys]

                def step(self, grads):
                    for key, v in zip(self.keys, self.buffers):
                        p = self.params[key]
                        g = grads[key] + self.weight_decay * p if self.weight_decay else grads[key]
                        v[...] = self.momentum * v + g
                        p[...] = p - self.lr * v
            '''
        ),
        "evaluate": code(
            '''
            def evaluate(model, x, y, batch_size=1000):
                """Accuracy of model on (x, y), batch_size images at a time."""
                hits = 0
                for start in range(0, len(x), batch_size):
                    stop = start + batch_size
                    hits += int((model.predict(x[start:stop], batch_size=batch_size) == y[start:stop]).sum())
                return hits / len(x)
            '''
        ),
        "train": code(
            '''
            def train(
                model,
                x_train,
                y_train,
                *,
                epochs,
                batch_size=64,
                lr=0.05,
                momentum=0.9,
                weight_decay=0.0,
                schedule="cosine",
                x_val=None,
                y_val=None,
                seed=0,
                progress=True,
                patience=None,
                callback=None,
            ):
                """Mini-batch SGD, in place; returns {"epoch": [...], "train_loss": [...], ...}."""
                shuffler = np.random.Generator(np.random.PCG64DXSM(seed))  # one for the whole run
                optimizer = SGD(model.params, lr, momentum=momentum, weight_decay=weight_decay)
                n = len(x_train)
                per_epoch = -(-n // batch_size)
                total = epochs * per_epoch
                history = {"epoch": [], "train_loss": [], "train_acc": [], "val_acc": [], "lr": [], "seconds": []}
                best, best_params, bad_epochs, steps = None, None, 0, 0
                for epoch in range(1, epochs + 1):
                    began = time.perf_counter()
                    order = shuffler.permutation(n)
                    loss_total, hits = 0.0, 0
                    bar = tqdm(total=per_epoch, desc=f"epoch {epoch}", disable=not progress, leave=False)
                    for k in range(per_epoch):
                        batch = order[k * batch_size : (k + 1) * batch_size]
                        if schedule == "cosine":
                            optimizer.lr = cosine_lr(steps, total, lr)
                        loss, grads = model.loss(x_train[batch], y_train[batch])
                        optimizer.step(grads)
                        steps += 1
                        loss_total += loss * len(batch)
                        hits += int((model.last_logits.argmax(axis=1) == y_train[batch]).sum())
                        bar.update(1)
                        if k % 100 == 0:
                            bar.set_postfix(loss=loss_total / min((k + 1) * batch_size, n))
                    bar.close()
                    val = None if x_val is None else evaluate(model, x_val, y_val)
                    for key, value in (
                        ("epoch", epoch), ("train_loss", loss_total / n), ("train_acc", hits / n),
                        ("val_acc", val), ("lr", optimizer.lr), ("seconds", time.perf_counter() - began),
                    ):
                        history[key].append(value)
                    keep_going = callback is None or callback(epoch, history) is not False
                    if patience is not None:
                        if best is None or val > best:
                            best, bad_epochs = val, 0
                            best_params = {key: value.copy() for key, value in model.params.items()}
                        else:
                            bad_epochs += 1
                        keep_going = keep_going and bad_epochs < patience
                    if not keep_going:
                        break
                if best_params is not None:
                    for key, value in best_params.items():
                        model.params[key] = value
                return history
            '''
        ),
    },
)

SUBMISSIONS = [ONE_STUDENT]
