"""Normalization, activation and fallback forms of other exporters, each in
a tiny model built with ``onnx.helper``: a linear layer, the form under
test, a linear layer. Every model compiles dense; the simulator's outputs
must agree with onnxruntime and with a NumPy evaluation through
``spatten.reference.kernels`` within 1e-4 (docs/ONNXImport.md lists the
forms). The LLaMA-style PyTorch exports (RMSNorm, SwiGLU) come from
``spatten.export``'s ``llama`` variant.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Tuple

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from spatten import ort, tools
from spatten.reference import kernels as K

TOL = 1e-4
L, N = 8, 16  # tokens, width
EPS = 1e-5
RNG = np.random.default_rng(7)
W_IN = (RNG.standard_normal((N, N)) / 4).astype(np.float32)
W_OUT = (RNG.standard_normal((N, N)) / 4).astype(np.float32)
W_GATE = (RNG.standard_normal((N, N)) / 4).astype(np.float32)
GAMMA = (1 + RNG.standard_normal(N) / 4).astype(np.float32)
BETA = (RNG.standard_normal(N) / 4).astype(np.float32)


class Graph:
    """Nodes and initializers of one test model under construction."""

    def __init__(self) -> None:
        self.nodes: List[onnx.NodeProto] = []
        self.inits: List[onnx.TensorProto] = []
        self.inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, L, N])]
        self.count = 0

    def const(self, value, name: str = "") -> str:
        self.count += 1
        name = name or f"c{self.count}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.asarray(value).dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, **attrs) -> str:
        self.count += 1
        out = f"{op_type.lower()}{self.count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=f"{op_type}_{self.count}", **attrs))
        return out

    def graph_input(self, name: str, value: np.ndarray) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
        return name

    def save(self, path, out: str, out_shape, opset: int) -> None:
        self.nodes.append(helper.make_node("Identity", [out], ["y"], name="output"))
        outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))]
        g = helper.make_graph(self.nodes, "form", self.inputs, outputs, self.inits)
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        onnx.checker.check_model(model)
        onnx.save(model, str(path))


def f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def mean_last(x):
    return np.mean(x, axis=-1, keepdims=True, dtype=np.float32)


# Each form: builds its node(s) on the hidden state h and returns (output
# name, extra graph inputs, NumPy evaluation of the form on h).
Form = Callable[[Graph, str], Tuple[str, Dict[str, np.ndarray], Callable[[np.ndarray], np.ndarray]]]


def keras2onnx_layer_norm(g: Graph, h: str):
    """keras2onnx 1.6.1 (tf.nn.moments + batch_normalization): the variance's
    SquaredDifference as Sub(mean, x), then x*g + (beta - mean*g)."""
    mean = g.op("ReduceMean", h, axes=[-1])
    d = g.op("Sub", mean, h)
    var = g.op("ReduceMean", g.op("Mul", d, d), axes=[-1])
    inv = g.op("Reciprocal", g.op("Sqrt", g.op("Add", var, g.const(f32(EPS)))))
    scale = g.op("Mul", inv, g.const(GAMMA))
    out = g.op("Add", g.op("Mul", h, scale), g.op("Sub", g.const(BETA), g.op("Mul", mean, scale)))
    return out, {}, lambda x: K.layer_norm(x, GAMMA, BETA, EPS)


def negated_layer_norm(g: Graph, h: str):
    """(mean - x) / std, negated back by beta - n * gamma."""
    mean = g.op("ReduceMean", h, axes=[-1])
    d = g.op("Sub", mean, h)
    var = g.op("ReduceMean", g.op("Pow", d, g.const(f32(2))), axes=[-1])
    n = g.op("Div", d, g.op("Sqrt", g.op("Add", var, g.const(f32(EPS)))))
    out = g.op("Sub", g.const(BETA), g.op("Mul", n, g.const(GAMMA)))
    return out, {}, lambda x: K.layer_norm(x, GAMMA, BETA, EPS)


def eps_outside_layer_norm(g: Graph, h: str):
    """(x - mean) / (sqrt(var) + eps) * gamma + beta."""
    mean = g.op("ReduceMean", h, axes=[-1])
    d = g.op("Sub", h, mean)
    var = g.op("ReduceMean", g.op("Mul", d, d), axes=[-1])
    n = g.op("Div", d, g.op("Add", g.op("Sqrt", var), g.const(f32(EPS))))
    out = g.op("Add", g.op("Mul", n, g.const(GAMMA)), g.const(BETA))
    return out, {}, lambda x: K.layer_norm(x, GAMMA, BETA, EPS, eps_outside_sqrt=True)


def layer_normalization_inputs(g: Graph, h: str):
    """LayerNormalization (opset 17) whose scale and bias are graph inputs."""
    out = g.op("LayerNormalization", h, g.graph_input("scale", GAMMA), g.graph_input("bias", BETA),
               axis=-1, epsilon=EPS)
    return out, {"scale": GAMMA, "bias": BETA}, lambda x: K.layer_norm(x, GAMMA, BETA, EPS)


def rms_norm(g: Graph, h: str):
    """LLaMA: x * rsqrt(mean(x^2) + eps) * weight, rsqrt as Div(1, Sqrt)."""
    var = g.op("ReduceMean", g.op("Pow", h, g.const(f32(2))), axes=[-1])
    inv = g.op("Div", g.const(f32(1)), g.op("Sqrt", g.op("Add", var, g.const(f32(EPS)))))
    out = g.op("Mul", g.const(GAMMA), g.op("Mul", h, inv))
    return out, {}, lambda x: K.rms_norm(x, GAMMA, EPS)


def silu(g: Graph, h: str):
    return g.op("Mul", h, g.op("Sigmoid", h)), {}, K.silu


def swiglu(g: Graph, h: str):
    """SiLU(h) * (h W_gate)."""
    b = g.op("MatMul", h, g.const(W_GATE))
    out = g.op("Mul", g.op("Mul", g.op("Sigmoid", h), h), b)
    return out, {}, lambda x: (K.silu(x) * K.linear(x, W_GATE, None)).astype(np.float32)


def relu(g: Graph, h: str):
    return g.op("Relu", h), {}, lambda x: np.maximum(x, 0).astype(np.float32)


def reductions(g: Graph, h: str):
    """h - ReduceMean(h) + ReduceSum(h) / N - ReduceMax(h), as fallbacks."""
    mean = g.op("ReduceMean", h, axes=[-1])
    total = g.op("ReduceSum", h, g.const(np.array([-1], dtype=np.int64)))
    peak = g.op("ReduceMax", h, axes=[-1])
    out = g.op("Sub", g.op("Add", g.op("Sub", h, mean), g.op("Div", total, g.const(f32(N)))), peak)

    def want(x):
        s = np.sum(x, axis=-1, keepdims=True, dtype=np.float32) / np.float32(N)
        return (x - mean_last(x) + s - x.max(-1, keepdims=True)).astype(np.float32)
    return out, {}, want


def log_softmax(g: Graph, h: str):
    return g.op("LogSoftmax", h, axis=-1), {}, K.log_softmax


def computed_matmul(g: Graph, h: str):
    """(h h^T) h / N: two MatMuls of computed tensors, no Softmax between."""
    ht = g.op("Transpose", h, perm=[0, 2, 1])
    scores = g.op("MatMul", h, ht)
    out = g.op("Div", g.op("MatMul", scores, h), g.const(f32(N)))
    return out, {}, lambda x: ((x[0] @ x[0].T) @ x[0] / np.float32(N))[None].astype(np.float32)


FORMS: Dict[str, Tuple[Form, int]] = {
    "keras2onnx-layer-norm": (keras2onnx_layer_norm, 13),
    "negated-layer-norm": (negated_layer_norm, 13),
    "eps-outside-sqrt-layer-norm": (eps_outside_layer_norm, 13),
    "layer-normalization-inputs": (layer_normalization_inputs, 17),
    "rms-norm": (rms_norm, 14),
    "silu": (silu, 14),
    "swiglu": (swiglu, 14),
    "relu": (relu, 14),
    "reductions": (reductions, 13),
    "log-softmax": (log_softmax, 13),
    "computed-matmul": (computed_matmul, 13),
}


def build(path, form: Form, opset: int):
    """x -> x W_IN -> form -> (.) W_OUT; returns the extra inputs and the
    NumPy evaluation of the whole model."""
    g = Graph()
    h = g.op("MatMul", "x", g.const(W_IN))
    out, extra, want = form(g, h)
    g.save(path, g.op("MatMul", out, g.const(W_OUT)), [1, L, N], opset)
    return extra, lambda x: K.linear(want(K.linear(x, W_IN, None)), W_OUT, None)


@pytest.mark.parametrize("name", list(FORMS))
def test_form_matches_ort_and_reference(name, tmp_path, reference_ready):
    form, opset = FORMS[name]
    path = tmp_path / f"{name}.onnx"
    extra, want = build(path, form, opset)
    x = RNG.standard_normal((1, L, N)).astype(np.float32)
    inputs = {"x": x, **extra}
    binary = tools.compile(path, tmp_path / "m.spbin")
    got = tools.simulate(binary, inputs, tmp_path / "out", report=False).outputs["y"]
    expected = ort.run(path, inputs)["y"]
    np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)
    np.testing.assert_allclose(got, want(x), atol=TOL, rtol=0)
