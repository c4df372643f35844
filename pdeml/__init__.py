"""pdeml: benchmark PDEs solved with scientific machine learning, checked against
classical numerical solvers."""

import os

# deepxde picks its backend at import time; pdeml only uses its PyTorch backend.
os.environ.setdefault("DDE_BACKEND", "pytorch")

__version__ = "0.1.0"

__all__ = ["__version__"]
