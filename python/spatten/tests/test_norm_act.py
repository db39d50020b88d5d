"""Normalization, activation and fallback forms of other exporters, each in
a tiny model built with ``onnx.helper``: a linear layer, the form under
test, a linear layer. Every model compiles dense; the simulator's outputs
must agree with onnxruntime and with a NumPy evaluation through
``spatten.reference.kernels`` within 1e-4 (docs/ONNXImport.md lists the
forms) and each must lift to its ``spatten`` op rather than run op by op.
A LLaMA-style block (RMSNorm, SwiGLU) exported by PyTorch at opsets 14 and
17 is checked the same way.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
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


# Form -> (builder, opset, the spatten ops it lifts to besides the two
# linear layers around it).
FORMS: Dict[str, Tuple[Form, int, Dict[str, int]]] = {
    "keras2onnx-layer-norm": (keras2onnx_layer_norm, 13, {"layer_norm": 1}),
    "negated-layer-norm": (negated_layer_norm, 13, {"layer_norm": 1}),
    "eps-outside-sqrt-layer-norm": (eps_outside_layer_norm, 13, {"layer_norm": 1}),
    "layer-normalization-inputs": (layer_normalization_inputs, 17, {"layer_norm": 1}),
    "rms-norm": (rms_norm, 14, {"rms_norm": 1}),
    "silu": (silu, 14, {"unary <silu>": 1}),
    "swiglu": (swiglu, 14, {"unary <silu>": 1, "binary <mul>": 1, "linear": 1}),
    "relu": (relu, 14, {"unary <relu>": 1}),
    "reductions": (reductions, 13, {"reduce <mean>": 1, "reduce <sum>": 1, "reduce <max>": 1}),
    "log-softmax": (log_softmax, 13, {"log_softmax": 1}),
    "computed-matmul": (computed_matmul, 13, {"linear": 2, "transpose": 1}),
}


def lifted_ops(path) -> Counter:
    """The spatten ops (with a unary/binary/reduce function) of the lifted
    model."""
    onnx_ir = tools.run_tool("spatten-translate", ["--import-onnx", path])[0].stdout
    opt = tools.tool_path("spatten-opt")
    proc = subprocess.run([str(opt), "-canonicalize", "--convert-onnx-to-spatten"], input=onnx_ir,
                          capture_output=True, text=True, check=True)
    assert "warning" not in proc.stderr, proc.stderr
    return Counter(re.findall(r"spatten\.(\w+(?: <\w+>)?)", proc.stdout))


def build(path, form: Form, opset: int):
    """x -> x W_IN -> form -> (.) W_OUT; returns the extra inputs and the
    NumPy evaluation of the whole model."""
    g = Graph()
    h = g.op("MatMul", "x", g.const(W_IN))
    out, extra, want = form(g, h)
    g.save(path, g.op("MatMul", out, g.const(W_OUT)), [1, L, N], opset)
    return extra, lambda x: K.linear(want(K.linear(x, W_IN, None)), W_OUT, None)


def compile_and_compare(path, tmp_path, inputs: Dict[str, np.ndarray], want: np.ndarray) -> None:
    """Dense compile and simulation of ``path``; the output ``y`` must match
    onnxruntime and ``want`` within TOL."""
    binary = tools.compile(path, tmp_path / "m.spbin")
    got = tools.simulate(binary, inputs, tmp_path / "out", report=False).outputs["y"]
    np.testing.assert_allclose(got, ort.run(path, inputs)["y"], atol=TOL, rtol=0)
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


@pytest.mark.parametrize("name", list(FORMS))
def test_form_lifts_and_matches_ort_and_reference(name, tmp_path, reference_ready):
    form, opset, lifted = FORMS[name]
    path = tmp_path / f"{name}.onnx"
    extra, want = build(path, form, opset)
    ops = lifted_ops(path)
    ops["linear"] -= 2  # the model's own input and output layers
    assert {op: n for op, n in ops.items() if op in lifted or op in ("layer_norm", "rms_norm")} == lifted
    x = RNG.standard_normal((1, L, N)).astype(np.float32)
    compile_and_compare(path, tmp_path, {"x": x, **extra}, want(x))


@pytest.mark.parametrize("opset", [14, 17])
def test_pytorch_llama_block(opset, tmp_path, reference_ready):
    """x + down(SiLU(gate(h)) * up(h)), h = RMSNorm(x) with rsqrt, as
    PyTorch 1.13 exports a LLaMA MLP."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class RMSNorm(nn.Module):
        def __init__(self, n: int, eps: float = 1e-6):
            super().__init__()
            self.weight, self.eps = nn.Parameter(torch.from_numpy(GAMMA.copy())), eps

        def forward(self, x):
            var = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
            return self.weight * (x * torch.rsqrt(var + self.eps))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = RMSNorm(N)
            self.gate, self.up = nn.Linear(N, 2 * N, bias=False), nn.Linear(N, 2 * N, bias=False)
            self.down = nn.Linear(2 * N, N, bias=False)

        def forward(self, x):
            h = self.norm(x)
            return x + self.down(nn.functional.silu(self.gate(h)) * self.up(h))

    torch.manual_seed(0)
    block = Block().eval()
    path = tmp_path / "llama.onnx"
    torch.onnx.export(block, torch.zeros(1, L, N), str(path), opset_version=opset,
                      input_names=["x"], output_names=["y"])
    ops = lifted_ops(path)
    assert ops["rms_norm"] == 1 and ops["unary <silu>"] == 1 and ops["linear"] == 3

    x = RNG.standard_normal((1, L, N)).astype(np.float32)
    w = {name: p.detach().numpy().T.copy() for name, p in block.named_parameters() if p.dim() == 2}
    h = K.rms_norm(x, GAMMA, 1e-6)
    glu = (K.silu(K.linear(h, w["gate.weight"], None)) * K.linear(h, w["up.weight"], None)).astype(np.float32)
    want = (x + K.linear(glu, w["down.weight"], None)).astype(np.float32)
    compile_and_compare(path, tmp_path, {"x": x}, want)
