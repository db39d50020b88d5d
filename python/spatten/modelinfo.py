"""Summaries of ONNX transformer graphs: I/O, op histogram, and the node chains
of one attention block, one LayerNorm and one GELU.

This is a planning and debugging aid for the ONNX -> spatten lifting: it shows
how an exporter spelled each pattern and which constants (scale, mask value,
eps, GELU coefficients) it used. It only reads the graph; it computes nothing.

CLI: ``/usr/bin/python3 -m spatten.modelinfo model.onnx [...]`` prints Markdown.
"""

from __future__ import annotations

import argparse
import collections
import sys
from typing import Dict, Iterable, List, Optional, Set

import numpy as np
import onnx
from onnx import numpy_helper

LINEAR_OPS = {"MatMul", "Gemm"}
SMALL_CONST = 8  # print constants with at most this many elements


def _dims(vi: onnx.ValueInfoProto) -> List[object]:
    shape = vi.type.tensor_type.shape
    return [d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else "?")
            for d in shape.dim]


def _dtype(vi: onnx.ValueInfoProto) -> str:
    return onnx.TensorProto.DataType.Name(vi.type.tensor_type.elem_type)


def graph_io(model: onnx.ModelProto):
    """Returns (inputs, outputs) as lists of (name, dtype, dims); initializers
    that opset<9 exporters also list as graph inputs are left out."""
    inits = {t.name for t in model.graph.initializer}
    ins = [(i.name, _dtype(i), _dims(i)) for i in model.graph.input if i.name not in inits]
    outs = [(o.name, _dtype(o), _dims(o)) for o in model.graph.output]
    return ins, outs


def topo_sort(nodes: Iterable[onnx.NodeProto], available: Set[str]) -> List[onnx.NodeProto]:
    """Kahn's sort; real exports (PyTorch 1.4) are not topologically sorted."""
    nodes = list(nodes)
    producer = {}
    for i, n in enumerate(nodes):
        for o in n.output:
            producer[o] = i
    deps = [set(producer[x] for x in n.input if x and x in producer and x not in available)
            for n in nodes]
    users = collections.defaultdict(list)
    for i, d in enumerate(deps):
        for j in d:
            users[j].append(i)
    ready = collections.deque(i for i, d in enumerate(deps) if not d)
    order = []
    while ready:
        i = ready.popleft()
        order.append(nodes[i])
        for u in users[i]:
            deps[u].discard(i)
            if not deps[u]:
                ready.append(u)
    if len(order) != len(nodes):
        raise ValueError("graph has a cycle or dangling inputs")
    return order


class GraphView:
    """Indexes a graph: producers, consumers, constants, and which tensors carry
    data (derived from a dynamic graph input) rather than shapes or parameters."""

    def __init__(self, model: onnx.ModelProto):
        try:
            model = onnx.shape_inference.infer_shapes(model)
        except Exception:  # invalid models still get a summary
            pass
        g = model.graph
        self.model = model
        self.consts: Dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        ins, _ = graph_io(model)
        self.params: Set[str] = set(self.consts)
        self.data: Set[str] = set()
        for name, dtype, dims in ins:
            # A float graph input with only fixed dims is a weight passed in
            # (attention_past_state); integer inputs are token ids or masks.
            fixed_float = dtype.startswith("FLOAT") and not any(isinstance(d, str) for d in dims)
            (self.params if fixed_float else self.data).add(name)
        self.nodes = topo_sort(g.node, set(self.consts) | {i.name for i in g.input})
        self.shapes = {vi.name: _dims(vi) for vi in list(g.value_info) + list(g.output) + list(g.input)}
        self.producer: Dict[str, onnx.NodeProto] = {}
        self.consumers: Dict[str, List[onnx.NodeProto]] = collections.defaultdict(list)
        for n in self.nodes:
            for o in n.output:
                self.producer[o] = n
            for i in n.input:
                self.consumers[i].append(n)
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value":
                        self.consts[n.output[0]] = numpy_helper.to_array(a.t)
            elif n.op_type != "Shape" and any(i in self.data for i in n.input):
                self.data.update(n.output)
        self.graph_outputs = {o.name for o in g.output}

    def is_param_linear(self, n: onnx.NodeProto) -> bool:
        return n.op_type in LINEAR_OPS and any(i in self.params for i in n.input)

    def render_input(self, name: str) -> str:
        if name == "":
            return "<none>"
        if name in self.consts and name not in self.data:
            v = self.consts[name]
            if v.size <= SMALL_CONST:
                return f"const{list(v.shape)}={np.array2string(v.reshape(-1), precision=8, separator=',')}"
            return f"param[{'x'.join(map(str, v.shape))}]"
        if name in self.params:
            return f"param-input {name}{self.shapes.get(name, '')}"
        if name in self.data:
            return name
        p = self.producer.get(name)
        return f"shape-expr({p.op_type if p else '?'}:{name})"

    def render(self, n: onnx.NodeProto) -> str:
        attrs = []
        for a in n.attribute:
            v = onnx.helper.get_attribute_value(a)
            if isinstance(v, bytes):
                v = v.decode()
            if isinstance(v, onnx.TensorProto):
                v = numpy_helper.to_array(v).tolist()
            attrs.append(f"{a.name}={v}")
        ins = ", ".join(self.render_input(i) for i in n.input)
        outs = ", ".join(f"{o}{self.shapes.get(o, '')}" for o in n.output)
        at = f" {{{', '.join(attrs)}}}" if attrs else ""
        return f"{n.op_type}({ins}){at} -> {outs}   # {n.name}"

    # Operand positions that only carry shapes or indices; their subgraphs fold away.
    SHAPE_OPERANDS = {"Reshape": {1}, "Expand": {1}, "Slice": {1, 2, 3, 4}, "Tile": {1},
                      "ConstantOfShape": {0}, "Range": {0, 1, 2}, "Split": {1}}

    def const_cone(self, name: str, limit: int = 24) -> List[onnx.NodeProto]:
        """Nodes computing a non-data operand (e.g. a causal mask from a
        buffer Slice), stopping at Shape nodes and constants."""
        def producers(n):
            if n.op_type == "Shape":
                return []
            return [self.producer[i] for i in n.input if i in self.producer and i not in self.data]

        start = [self.producer[name]] if name in self.producer else []
        return self.ordered({id(n) for n in self._walk(start, producers)[:limit]})

    def render_chain(self, chain: List[onnx.NodeProto]) -> List[str]:
        lines = []
        for n in chain:
            lines.append(self.render(n))
            skip = self.SHAPE_OPERANDS.get(n.op_type, set())
            for k, i in enumerate(n.input):
                if k in skip or i in self.data or i in self.consts or i not in self.producer:
                    continue
                lines.append(f"    | operand {k} ({i}) is computed from constants/shapes:")
                # Constant nodes are already shown inline as const[...] operands.
                lines += [f"    |   {self.render(m)}" for m in self.const_cone(i) if m.op_type != "Constant"]
        return lines

    def first(self, op_types: Iterable[str]) -> Optional[onnx.NodeProto]:
        for op in op_types:
            for n in self.nodes:
                if n.op_type == op and any(i in self.data for i in n.input):
                    return n
        return None

    def data_consumers(self, t: str) -> List[onnx.NodeProto]:
        return [c for c in self.consumers.get(t, [])]

    def ordered(self, chosen: Set[int]) -> List[onnx.NodeProto]:
        return [n for n in self.nodes if id(n) in chosen]

    @staticmethod
    def _walk(starts, expand) -> List[onnx.NodeProto]:
        """Visits nodes from ``starts``; ``expand(n)`` returns the next nodes
        (empty to stop at n). Returns the visited nodes in visit order."""
        seen: Set[int] = set()
        visited, todo = [], list(starts)
        while todo:
            n = todo.pop()
            if id(n) not in seen:
                seen.add(id(n))
                visited.append(n)
                todo.extend(expand(n))
        return visited

    def _data_users(self, n: onnx.NodeProto) -> List[onnx.NodeProto]:
        return [c for o in n.output if o in self.data for c in self.consumers.get(o, []) if c.op_type != "Shape"]

    def attention_chain(self) -> List[onnx.NodeProto]:
        """From the first softmax: forward to the next linear with weights (the
        output projection) or a graph output, then every data ancestor back to
        the Q/K/V projections (inclusive) or graph inputs."""
        sm = self.first(["Softmax"])
        if sm is None:
            return []
        stops = lambda n: n is not sm and self.is_param_linear(n)
        ends = [n for n in self._walk([sm], lambda n: [] if stops(n) else self._data_users(n))
                if stops(n) or any(o in self.graph_outputs for o in n.output)]
        end_ids = {id(n) for n in ends}

        def producers(n):
            if self.is_param_linear(n) and id(n) not in end_ids:
                return []
            return [self.producer[i] for i in n.input if i in self.data and i in self.producer]

        return self.ordered({id(n) for n in self._walk(ends, producers)})

    def _forward_region(self, starts: List[onnx.NodeProto], stop) -> List[onnx.NodeProto]:
        return self.ordered({id(n) for n in self._walk(starts, lambda n: [] if stop(n) else self._data_users(n))})

    def layernorm_chain(self) -> List[onnx.NodeProto]:
        """Decomposed LayerNorm from the first ReduceMean: every data node after
        it up to the Add of a rank-1 parameter (beta) or a linear."""
        r1 = self.first(["LayerNormalization", "ReduceMean"])
        if r1 is None:
            return []
        if r1.op_type == "LayerNormalization":
            return [r1]
        x = r1.input[0]

        def stop(n):
            if n.op_type in LINEAR_OPS or n.op_type in ("Reshape", "Softmax"):
                return True
            return n.op_type == "Add" and any(i in self.params and self.consts.get(i, np.zeros((0, 0))).ndim == 1
                                             for i in n.input)

        starts = [c for c in self.consumers[x] if c.op_type in ("ReduceMean", "Sub")]
        return self._forward_region(starts, stop)

    def gelu_chain(self) -> List[onnx.NodeProto]:
        """GELU around the first Erf (else Tanh): back to the producer of its
        input x (a linear, its bias Add or a Reshape), then forward from x."""
        anchor = self.first(["Erf", "Gelu", "FastGelu", "Tanh"])
        if anchor is None:
            return []
        n, x = anchor, None
        for _ in range(8):
            inp = next(i for i in n.input if i in self.data)
            p = self.producer.get(inp)
            if p is None or p.op_type in LINEAR_OPS or p.op_type == "Reshape" or (
                    p.op_type == "Add" and any(i in self.params for i in p.input)):
                x = inp
                break
            n = p
        if x is None:
            return [anchor]
        head = [self.producer[x]] if x in self.producer else []
        return head + self._forward_region(
            self.consumers[x], lambda m: m.op_type in LINEAR_OPS or m.op_type == "Reshape")


def summarize(path: str, title: Optional[str] = None) -> str:
    """Markdown summary of one model (see the module doc)."""
    model = onnx.load(path)
    v = GraphView(model)
    ins, outs = graph_io(model)
    lines = [f"## {title or path}", ""]
    opsets = ", ".join(f"{d or 'ai.onnx'}:{ver}" for d, ver in ((o.domain, o.version) for o in model.opset_import))
    lines.append(f"- producer: {model.producer_name} {model.producer_version}; opset {opsets}; "
                 f"{len(model.graph.node)} nodes, {len(model.graph.initializer)} initializers")
    for name, dt, dims in ins:
        lines.append(f"- input  `{name}` {dt} {dims}")
    for name, dt, dims in outs:
        lines.append(f"- output `{name}` {dt} {dims}")
    hist = collections.Counter(n.op_type for n in model.graph.node)
    lines.append("- ops: " + ", ".join(f"{k} {c}" for k, c in hist.most_common()))
    for label, chain in (("attention block (first Softmax)", v.attention_chain()),
                         ("LayerNorm (first)", v.layernorm_chain()),
                         ("GELU (first)", v.gelu_chain())):
        lines += ["", f"### {label}: {len(chain)} nodes", "```"]
        lines += v.render_chain(chain) or ["(not found)"]
        lines.append("```")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    args = ap.parse_args(argv)
    for p in args.models:
        sys.stdout.write(summarize(p) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
