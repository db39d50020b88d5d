"""SpAtten compiler Python side: compile and simulate in two calls
(``spatten.compile``, ``spatten.simulate``, failures raise
``spatten.Error``; ``spatten.api``), design-space sweeps
(``spatten.sweep``), model export (``spatten.export``), the C++ tools
from Python (``spatten.tools``, reports in ``spatten.report``), the
NumPy reference of SpAtten (``spatten.reference``), the onnxruntime
reference executor wrapper (``spatten.ort``), the end-to-end demo
(``spatten.demo``), benchmark tables (``spatten.analysis``) and graph
summaries (``spatten.modelinfo``).

Run with ``/usr/bin/python3`` (Debian's onnx, numpy and torch) and
``PYTHONPATH=<repo>/python``.
"""

import os as _os

# OpenMP threads (PyTorch's) spin while they wait by default; on cores shared
# with other processes that makes 2-thread training several times slower.
# Read when torch loads, so set before anything imports it.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: The names spatten.api exports here, imported on first use so that
#: ``import spatten.export`` does not load onnx and the tool runner.
_API = ("compile", "simulate", "Error")


def __getattr__(name):
    if name in _API:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'spatten' has no attribute {name!r}")


__all__ = list(_API)
