"""lenet_demos: interactive LeNet-5 demos built from ipywidgets.

Each demo is an ``ipywidgets.VBox``: display it as a cell's last expression. Every demo takes
the reference model or your own (a ``torch.nn.Module`` or a NumPy LeNet-5), on any device.

    from lenet_demos import *
    model, where = reference_model()
    ConvolutionExplorer(model)
"""

from lenet_demos.conv import ConvolutionExplorer
from lenet_demos.draw import DrawDigit
from lenet_demos.inside import InsideLeNet
from lenet_demos.models import DemoModel, reference_model
from lenet_demos.playground import TrainingPlayground
from lenet_demos.pooling import PoolingActivationExplorer

__all__ = [
    "ConvolutionExplorer",
    "DemoModel",
    "DrawDigit",
    "InsideLeNet",
    "PoolingActivationExplorer",
    "TrainingPlayground",
    "reference_model",
]
