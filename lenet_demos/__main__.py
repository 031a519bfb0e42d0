"""``python -m lenet_demos build``: train and cache the demos' reference LeNet-5 (``make demos``).

The command lives here, not in :mod:`lenet_demos.models`: ``python -m lenet_demos.models`` first
imports the package, whose ``__init__`` already imports ``lenet_demos.models``, and then runs that
module a second time as ``__main__`` (runpy warns about exactly that).
"""

from lenet_demos.models import main

if __name__ == "__main__":
    raise SystemExit(main())
