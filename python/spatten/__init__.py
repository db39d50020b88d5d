"""SpAtten compiler Python side: model export (``spatten.export``), the
onnxruntime reference executor wrapper (``spatten.ort``), the end-to-end demo
(``spatten.demo``) and graph summaries (``spatten.modelinfo``).

Run with ``/usr/bin/python3`` (Debian's onnx, numpy and torch) and
``PYTHONPATH=<repo>/python``.
"""
