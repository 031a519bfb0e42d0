"""Correct work for 07_torch_lenet, written three ways."""

# ruff: noqa: E501 - notebook code kept in strings (notebooks allow long lines)

from tests.correct_work import Submission, code
from tests.correct_work._shared import NUMPY_LAYERS
from tests.correct_work.c01_mnist import KEYWORDS as MNIST_KEYWORDS
from tests.correct_work.c02_convolution import DEEPLEARNING_AI as CONV_DLAI
from tests.correct_work.c03_pooling_activations import DEEPLEARNING_AI as POOL_DLAI
from tests.correct_work.c04_dense_softmax import CS231N as DENSE_CS231N
from tests.correct_work.c05_backprop import DEEPLEARNING_AI as BACKPROP_DLAI

ASSIGNMENT = "07_torch_lenet"

#: What a student who answered 01-05 in the styles of this corpus pastes: their own cells.
PASTED_FROM_NOTEBOOKS = "\n\n".join(
    [
        "# Pasted from my notebooks 01-05.",
        MNIST_KEYWORDS.replacements["pad_to_32"],
        MNIST_KEYWORDS.replacements["scale_lecun"],
        CONV_DLAI.replacements["conv_output_size"],
        CONV_DLAI.replacements["conv2d_forward"],
        POOL_DLAI.replacements["avgpool2d_forward"],
        POOL_DLAI.replacements["maxpool2d_forward"],
        POOL_DLAI.replacements["relu_tanh"],
        DENSE_CS231N.replacements["flatten_forward"],
        DENSE_CS231N.replacements["dense_forward"],
        *(
            BACKPROP_DLAI.replacements[name]
            for name in (
                "dense_backward",
                "flatten_backward",
                "relu_backward",
                "tanh_backward",
                "softmax_cross_entropy",
                "avgpool2d_backward",
                "maxpool2d_backward",
                "conv2d_backward",
            )
        ),
    ]
)

MODULES = Submission(
    "activation modules, load_state_dict, torch.autograd.grad",
    "the layers of notebook 06's paste (im2col rows in the convolution cache); the activation "
    "as an nn.Tanh or nn.ReLU module attribute, flattening with view; weights exchanged "
    "through a converted state_dict and load_state_dict (which copies in place); gradients "
    "from torch.autograd.grad, so nothing accumulates in .grad",
    {
        "your_layers": NUMPY_LAYERS,
        "lenet5": code(
            '''
            class LeNet5(nn.Module):
                """LeNet-5: images (N, 1, 32, 32) -> logits (N, 10)."""

                def __init__(self, variant="classic"):
                    super().__init__()
                    if variant == "classic":
                        self.act, pool = nn.Tanh(), nn.AvgPool2d
                    elif variant == "modern":
                        self.act, pool = nn.ReLU(), nn.MaxPool2d
                    else:
                        raise ValueError(f"LeNet5: unknown variant {variant!r}; use 'classic' or 'modern'")
                    self.variant = variant
                    self.C1 = nn.Conv2d(in_channels=1, out_channels=6, kernel_size=5)
                    self.S2 = pool(kernel_size=2, stride=2)
                    self.C3 = nn.Conv2d(in_channels=6, out_channels=16, kernel_size=5)
                    self.S4 = pool(kernel_size=2, stride=2)
                    self.C5 = nn.Linear(400, 120)
                    self.F6 = nn.Linear(120, 84)
                    self.OUT = nn.Linear(84, 10)

                def forward(self, x):
                    x = self.S2(self.act(self.C1(x)))
                    x = self.S4(self.act(self.C3(x)))
                    x = x.view(x.size(0), -1)
                    x = self.act(self.C5(x))
                    x = self.act(self.F6(x))
                    return self.OUT(x)
            '''
        ),
        "c5_conv_params": code(
            """
            c5_conv_params = sum(p.numel() for p in nn.Conv2d(16, 120, kernel_size=5).parameters())
            """
        ),
        "exchange": code(
            '''
            DENSE = ("C5", "F6", "OUT")


            def _is_dense_weight(key):
                layer, kind = key.split(".")
                return layer in DENSE and kind == "weight"


            def load_numpy_params(model, params):
                """Copy NumPy-layout params into model through load_state_dict (in place)."""
                for key in PARAM_SHAPES:
                    if key not in params:
                        raise ValueError(f"load_numpy_params: params has no {key!r}")
                for key in params:
                    if key not in PARAM_SHAPES:
                        raise ValueError(f"load_numpy_params: unexpected key {key!r}")
                    if tuple(np.shape(params[key])) != PARAM_SHAPES[key]:
                        raise ValueError(
                            f"load_numpy_params: {key!r} has shape {np.shape(params[key])}, "
                            f"expected {PARAM_SHAPES[key]}"
                        )
                current = model.state_dict()
                converted = {}
                for key, array in params.items():
                    array = np.asarray(array)
                    if _is_dense_weight(key):
                        array = array.T
                    like = current[key]
                    converted[key] = torch.tensor(array, dtype=like.dtype, device=like.device)
                model.load_state_dict(converted, strict=True)  # copy_ into the existing tensors
                return model


            def numpy_params(model):
                out = {}
                for key, tensor in model.state_dict().items():
                    array = tensor.detach().cpu().numpy().astype(np.float64)  # astype copies
                    out[key] = array.T.copy() if _is_dense_weight(key) else array
                return out
            '''
        ),
        "autograd_gradients": code(
            '''
            def autograd_gradients(model, x, y):
                """Loss and NumPy-layout gradients, from torch.autograd.grad (no .grad involved)."""
                names, params = zip(*model.named_parameters())
                inputs = torch.from_numpy(np.asarray(x)).to(params[0].dtype)
                loss = F.cross_entropy(model(inputs), torch.from_numpy(np.asarray(y)).long())
                grads = torch.autograd.grad(loss, params)
                out = {}
                for name, g in zip(names, grads):
                    g = g.detach().to(torch.float64).cpu().numpy()
                    layer, kind = name.split(".")
                    out[name] = g.T.copy() if layer in ("C5", "F6", "OUT") and kind == "weight" else g
                return loss.item(), out
            '''
        ),
        "autograd_method": 'autograd_method = "c"  # reverse-mode automatic differentiation\n',
    },
)

PASTED = Submission(
    "the notebooks' own answers pasted, functional pooling",
    "your_layers is what this corpus's DeepLearning.AI and CS231n answers of 01-05 paste "
    "together (channels-last loops for pooling and its backward pass, as_strided for the "
    "convolution); the model picks activation and pooling functions from a table and calls "
    "F.avg_pool2d or F.max_pool2d in forward (S2 and S4 exist but hold no weights); weights "
    "copied with copy_ under no_grad; gradients by zero_grad(set_to_none=True) and backward",
    {
        "your_layers": PASTED_FROM_NOTEBOOKS,
        "lenet5": code(
            '''
            VARIANTS = {
                "classic": (torch.tanh, F.avg_pool2d, nn.AvgPool2d),
                "modern": (torch.relu, F.max_pool2d, nn.MaxPool2d),
            }


            class LeNet5(nn.Module):
                """LeNet-5, "classic" or "modern"."""

                def __init__(self, variant="classic"):
                    super().__init__()
                    try:
                        self._act, self._pool, pool_module = VARIANTS[variant]
                    except KeyError:
                        raise ValueError(f"variant {variant!r} is neither 'classic' nor 'modern'") from None
                    self.variant = variant
                    self.C1, self.S2 = nn.Conv2d(1, 6, 5), pool_module(2)
                    self.C3, self.S4 = nn.Conv2d(6, 16, 5), pool_module(2)
                    self.C5, self.F6, self.OUT = nn.Linear(16 * 25, 120), nn.Linear(120, 84), nn.Linear(84, 10)

                def forward(self, x):
                    act, pool = self._act, self._pool
                    x = pool(act(self.C1(x)), kernel_size=2)
                    x = pool(act(self.C3(x)), kernel_size=2)
                    x = act(self.C5(torch.flatten(x, start_dim=1)))
                    return self.OUT(act(self.F6(x)))
            '''
        ),
        "c5_conv_params": "c5_conv_params = 120 * (16 * 5 * 5) + 120\n",
        "exchange": code(
            """
            DENSE = ("C5", "F6", "OUT")


            def load_numpy_params(model, params):
                missing = [key for key in PARAM_SHAPES if key not in params]
                extra = [key for key in params if key not in PARAM_SHAPES]
                wrong = [key for key in PARAM_SHAPES if key in params and np.shape(params[key]) != PARAM_SHAPES[key]]
                if missing or extra or wrong:
                    raise ValueError(f"load_numpy_params: missing {missing}, unexpected {extra}, wrong shape {wrong}")
                named = dict(model.named_parameters())
                with torch.no_grad():
                    for key, value in params.items():
                        layer, kind = key.split(".")
                        source = torch.from_numpy(np.array(value))
                        if layer in DENSE and kind == "weight":
                            source = source.t()
                        named[key].copy_(source)
                return model


            def numpy_params(model):
                params = {}
                for key, p in model.named_parameters():
                    layer, kind = key.split(".")
                    array = np.array(p.detach().cpu(), dtype=np.float64)
                    params[key] = np.ascontiguousarray(array.T) if layer in DENSE and kind == "weight" else array
                return params
            """
        ),
        "autograd_gradients": code(
            """
            def autograd_gradients(model, x, y):
                model.zero_grad(set_to_none=True)
                dtype = next(model.parameters()).dtype
                logits = model(torch.tensor(x, dtype=dtype))
                loss = F.cross_entropy(logits, torch.tensor(y, dtype=torch.long))
                loss.backward()
                grads = numpy_params(model)  # NumPy layout for the keys; values replaced below
                for key, p in model.named_parameters():
                    g = np.array(p.grad.detach().cpu(), dtype=np.float64)
                    grads[key] = g.T.copy() if key.split(".")[0] in DENSE and key.endswith("weight") else g
                return float(loss), grads
            """
        ),
        "autograd_method": 'autograd_method = {"finite": "a", "symbolic": "b", "reverse mode": "c"}["reverse mode"]\n',
    },
)

COMPUTED_NAMES = Submission(
    "layers and tensors reached by computed attribute names",
    "the pooling class chosen with getattr(nn, name)(2) and the exchange written with "
    "getattr(getattr(model, layer), kind): correct code that once lost 8 and 5 points when a "
    "static scan stopped it, and that the scan no longer flags",
    {
        "your_layers": NUMPY_LAYERS,
        "lenet5": code(
            """
            POOLING = {"classic": "AvgPool2d", "modern": "MaxPool2d"}
            ACTIVATION = {"classic": torch.tanh, "modern": F.relu}


            class LeNet5(nn.Module):
                def __init__(self, variant="classic"):
                    super().__init__()
                    if variant not in POOLING:
                        raise ValueError(f"unknown variant {variant!r}")
                    self.variant = variant
                    pool = POOLING[variant]
                    self.C1 = nn.Conv2d(1, 6, 5)
                    self.S2 = getattr(nn, pool)(2)
                    self.C3 = nn.Conv2d(6, 16, 5)
                    self.S4 = getattr(nn, pool)(2)
                    self.C5 = nn.Linear(400, 120)
                    self.F6 = nn.Linear(120, 84)
                    self.OUT = nn.Linear(84, 10)

                def forward(self, x):
                    act = ACTIVATION[self.variant]
                    for conv, pool in (("C1", "S2"), ("C3", "S4")):
                        x = getattr(self, pool)(act(getattr(self, conv)(x)))
                    x = x.flatten(1)
                    for layer in ("C5", "F6"):
                        x = act(getattr(self, layer)(x))
                    return self.OUT(x)
            """
        ),
        "c5_conv_params": "c5_conv_params = int(np.prod((120, 16, 5, 5))) + 120\n",
        "exchange": code(
            """
            DENSE = ("C5", "F6", "OUT")


            def load_numpy_params(model, params):
                if set(params) != set(PARAM_SHAPES):
                    raise ValueError(
                        f"keys missing: {sorted(set(PARAM_SHAPES) - set(params))}, "
                        f"unexpected: {sorted(set(params) - set(PARAM_SHAPES))}"
                    )
                for key, shape in PARAM_SHAPES.items():
                    if np.shape(params[key]) != shape:
                        raise ValueError(f"{key} should have shape {shape}, got {np.shape(params[key])}")
                with torch.no_grad():
                    for key, value in params.items():
                        layer, kind = key.split(".")
                        tensor = getattr(getattr(model, layer), kind)
                        value = np.asarray(value)
                        tensor.copy_(torch.as_tensor(value.T if layer in DENSE and kind == "weight" else value))
                return model


            def numpy_params(model):
                out = {}
                for key in PARAM_SHAPES:
                    layer, kind = key.split(".")
                    value = getattr(getattr(model, layer), kind).detach().cpu().double().numpy()
                    out[key] = (value.T if layer in DENSE and kind == "weight" else value).copy()
                return out
            """
        ),
        "autograd_gradients": code(
            """
            def autograd_gradients(model, x, y):
                for p in model.parameters():
                    p.grad = None
                dtype = next(model.parameters()).dtype
                loss = F.cross_entropy(model(torch.as_tensor(x).to(dtype)), torch.as_tensor(y).long())
                loss.backward()
                grads = {}
                for key in PARAM_SHAPES:
                    layer, kind = key.split(".")
                    g = getattr(getattr(model, layer), kind).grad.double().numpy()
                    grads[key] = (g.T if layer in DENSE and kind == "weight" else g).copy()
                return loss.item(), grads
            """
        ),
        "autograd_method": 'autograd_method = "c"\n',
    },
)

SUBMISSIONS = [MODULES, PASTED, COMPUTED_NAMES]
