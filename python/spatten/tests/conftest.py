"""Shared pytest fixtures: project paths, the shared real models (skipped with
a reason when ../shared is absent), the C++ tools in build/bin (a missing tool
is a test failure, not a skip: spatten.tools raises ToolError) and exported
tiny models (cached per session).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "python"))

from spatten import export as spexport  # noqa: E402
from spatten import ort, tools  # noqa: E402

SHARED = ROOT.parent / "shared" / "models" / "onnxruntime-testdata"


def shared_model(rel: str) -> Path:
    """Path of a model under ../shared/models/onnxruntime-testdata; skips the
    test when the shared folder is absent (it is never copied into the repo)."""
    p = SHARED / rel
    if not p.exists():
        pytest.skip(f"shared test model {p} is absent (../shared is not checked out next to the project)")
    return p


def tool(name: str) -> Path:
    """A built tool from build/bin; fails (never skips) when it is missing."""
    try:
        return tools.tool_path(name)
    except tools.ToolError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def reference_ready():
    """Fails with the set-up command when node or onnxruntime-node is missing."""
    try:
        ort.check_installed()
    except ort.ReferenceError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """``get(kind, opset) -> (path, torch model)``; each export happens once."""
    cache = {}
    root = tmp_path_factory.mktemp("tiny-models")

    def get(kind: str, opset: int):
        key = (kind, opset)
        if key not in cache:
            path = root / f"{kind}-tiny-opset{opset}.onnx"
            model = spexport.export(kind, str(path), size="tiny", opset=opset, seed=0)
            cache[key] = (path, model)
        return cache[key]

    return get
