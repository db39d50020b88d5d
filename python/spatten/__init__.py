"""SpAtten compiler Python side: model export (``spatten.export``), the C++
tools from Python (``spatten.tools``, reports in ``spatten.report``), the
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
