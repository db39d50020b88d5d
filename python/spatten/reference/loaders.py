"""Weight loaders: :class:`~spatten.reference.models.ModelWeights` from a
``spatten.export`` torch model or from an ONNX file (the exports of
``spatten.export``, Hugging Face GPT-2 with fused Conv1D QKV such as
``GPT2Model.onnx``, Hugging Face BERT / BertForPreTraining such as
``bert_toy_optimized.onnx``, GPT-NeoX, Falcon and Phi). Weights are found
by initializer names, the node names torch gives MatMuls, and the few
nodes around them; the ONNX graph is not interpreted.
"""

from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace
from typing import Dict, Optional, Tuple

import numpy as np

from . import encdec
from .kernels import F32
from .models import LayerWeights, ModelWeights, PatchEmbedding


def from_torch(model) -> ModelWeights:
    """Lifts a ``spatten.export`` BertModel (with its masked-LM head or not)
    / GPT2Model / GPT2LMHeadModel (torch modules; the LM model's output is
    ``logits``, past or not) / TransformerEncoderModel / LlamaForCausalLM /
    GPTNeoXForCausalLM / FalconForCausalLM / PhiForCausalLM /
    ViTModel / BartForConditionalGeneration / T5ForConditionalGeneration (an
    :class:`~spatten.reference.encdec.EncoderDecoderWeights`)."""
    sd = {k: v.detach().numpy().astype(F32) for k, v in model.state_dict().items()}
    c = model.config
    if c.kind == "bert":
        lin = lambda p: (sd[p + ".weight"].T.copy(), sd[p + ".bias"])
        layers = []
        for i in range(c.layers):
            p = f"layers.{i}."
            layers.append(LayerWeights(
                *lin(p + "attention.query"), *lin(p + "attention.key"), *lin(p + "attention.value"),
                *lin(p + "attn_out"), sd[p + "attn_ln.weight"], sd[p + "attn_ln.bias"],
                *lin(p + "intermediate"), *lin(p + "output"), sd[p + "out_ln.weight"], sd[p + "out_ln.bias"]))
        rope = _torch_rotary(model) if c.rotary else None
        return ModelWeights("bert", c.heads, c.ln_eps, sd["word_embeddings.weight"],
                            sd.get("position_embeddings.weight"), layers, rope=rope,
                            type_emb=sd["token_type_embeddings.weight"],
                            emb_ln=(sd["emb_ln.weight"], sd["emb_ln.bias"]),
                            pooler=lin("pooler") if c.pooler else None, mlm=_mlm(sd, lin) if c.mlm_head else None,
                            outputs=tuple(c.output_names), padding_idx=c.padding_idx)
    if c.kind == "transformer-encoder":
        return _encoder_from_torch(sd, c)
    if c.kind == "llama":
        return _llama_from_torch(model, sd, c)
    if c.kind == "opt":
        return _opt_from_torch(sd, c)
    if c.kind in ROTARY_LMS:
        rope = tuple(t.detach().numpy().astype(F32) for t in model.rotary_tables(c.max_positions))
        return ROTARY_LMS[c.kind](sd, c, rope)
    if c.kind == "vit":
        return _vit_from_torch(sd, c)
    if c.kind in ("bart", "t5"):
        return encdec.from_torch(model)
    if hasattr(model, "lm_head"):
        head = model.lm_head.weight.detach().numpy().astype(F32).T.copy()
        return dataclasses.replace(from_torch(model.transformer), lm_head=head, outputs=("logits",))
    layers = []
    for i in range(c.layers):
        p = f"h.{i}."
        conv = lambda q: (sd[p + q + ".weight"], sd[p + q + ".bias"])
        layers.append(_gpt2_layer(*conv("attn.c_attn"), conv("attn.c_proj"), sd[p + "ln_1.weight"],
                                  sd[p + "ln_1.bias"], conv("c_fc"), conv("c_proj"),
                                  sd[p + "ln_2.weight"], sd[p + "ln_2.bias"]))
    return ModelWeights("gpt2", c.heads, c.ln_eps, sd["wte.weight"], sd["wpe.weight"], layers,
                        final_ln=(sd["ln_f.weight"], sd["ln_f.bias"]), outputs=("last_hidden_state",))


def _opt_from_torch(sd, c) -> ModelWeights:
    """``spatten.export``'s OPTForCausalLM as the "gpt2" block with a ReLU
    FFN: separate q/k/v projections (Q's scaling is the attention's),
    self_attn_layer_norm / final_layer_norm as ln1 / ln2, the positions of
    an unpadded sequence (rows 2, 3, ...), the LM head tied to the token
    embedding."""
    lin = lambda p: (sd[p + ".weight"].T.copy(), sd[p + ".bias"])
    ln = lambda p: (sd[p + ".weight"], sd[p + ".bias"])
    layers = []
    for i in range(c.layers):
        p = f"layers.{i}."
        a = p + "self_attn."
        layers.append(LayerWeights(*lin(a + "q_proj"), *lin(a + "k_proj"), *lin(a + "v_proj"),
                                   *lin(a + "out_proj"), *ln(p + "self_attn_layer_norm"), *lin(p + "fc1"),
                                   *lin(p + "fc2"), *ln(p + "final_layer_norm")))
    words = sd["embed_tokens.weight"]
    return ModelWeights("gpt2", c.heads, c.ln_eps, words, sd["embed_positions.weight"][2:], layers,
                        final_ln=ln("final_layer_norm"), lm_head=words.T.copy(), outputs=("logits",),
                        relu_ffn=True)


def _llama_from_torch(model, sd, c) -> ModelWeights:
    """``spatten.export``'s LlamaForCausalLM: bias-free projections (zero
    biases), RMSNorm gains as ln1/ln2 (input / post-attention), gate, down
    and up projections as w1, w2, w3, the rotary tables of the model."""
    lin = lambda p: sd[p + ".weight"].T.copy()
    layers = []
    for i in range(c.layers):
        p = f"layers.{i}."
        a, m = p + "self_attn.", p + "mlp."
        w = [lin(a + n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")]
        zeros = [np.zeros(x.shape[1], F32) for x in w]
        ln1, ln2 = sd[p + "input_layernorm.weight"], sd[p + "post_attention_layernorm.weight"]
        gate, down = lin(m + "gate_proj"), lin(m + "down_proj")
        layers.append(LayerWeights(
            w[0], zeros[0], w[1], zeros[1], w[2], zeros[2], w[3], zeros[3], ln1, np.zeros_like(ln1),
            gate, np.zeros(gate.shape[1], F32), down, np.zeros(down.shape[1], F32), ln2,
            np.zeros_like(ln2), w3=lin(m + "up_proj")))
    norm = sd["norm.weight"]
    rope = _torch_rotary(model)
    return ModelWeights("llama", c.heads, c.ln_eps, sd["embed_tokens.weight"], None, layers,
                        final_ln=(norm, np.zeros_like(norm)), lm_head=lin("lm_head"), outputs=("logits",),
                        kv_heads=c.kv_heads, rope=rope)


def _neox_weights(sd, c, rope) -> ModelWeights:
    """``spatten.export``'s GPTNeoXForCausalLM: the fused
    ``query_key_value`` [3 hidden, hidden] (torch's [out, in]) holds head
    h's Q, K and V in rows [3hD, 3hD + D), [3hD + D, 3hD + 2D) and
    [3hD + 2D, 3hD + 3D); input / post-attention LayerNorms as ln1 / ln2,
    dense_h_to_4h / dense_4h_to_h as w1 / w2; ``rope`` the rotary tables
    [positions, rotary_dims]; the untied ``embed_out``."""
    lin = lambda p: (sd[p + ".weight"].T.copy(), sd[p + ".bias"])
    ln = lambda p: (sd[p + ".weight"], sd[p + ".bias"])
    d = c.hidden // c.heads
    layers = []
    for i in range(c.layers):
        p = f"layers.{i}."
        qkv = sd[p + "attention.query_key_value.weight"].reshape(c.heads, 3, d, c.hidden)
        bias = sd[p + "attention.query_key_value.bias"].reshape(c.heads, 3, d)
        part = lambda k: (qkv[:, k].reshape(c.hidden, c.hidden).T.copy(), bias[:, k].reshape(-1).copy())
        layers.append(LayerWeights(*part(0), *part(1), *part(2), *lin(p + "attention.dense"),
                                   *ln(p + "input_layernorm"), *lin(p + "mlp.dense_h_to_4h"),
                                   *lin(p + "mlp.dense_4h_to_h"), *ln(p + "post_attention_layernorm")))
    return ModelWeights("gpt-neox", c.heads, c.ln_eps, sd["embed_in.weight"], None, layers,
                        final_ln=ln("final_layer_norm"), lm_head=sd["embed_out.weight"].T.copy(),
                        outputs=("logits",), rope=rope)


def _falcon_weights(sd, c, rope) -> ModelWeights:
    """``spatten.export``'s FalconForCausalLM: the fused bias-free
    ``query_key_value`` [(H + 2) D, hidden] (torch's [out, in]) holds the H
    query heads, then the one key and the one value head; its single
    input_layernorm is both ln1 and ln2; zero biases; ``rope`` the rotary
    tables [positions, head_dim]; the LM head tied to the word embeddings."""
    t = lambda w: w.T.copy()
    zeros = lambda w: np.zeros(w.shape[1], F32)
    d = c.hidden // c.heads
    layers = []
    for i in range(c.layers):
        p = f"h.{i}."
        qkv = sd[p + "self_attention.query_key_value.weight"]
        w = [t(qkv[:c.hidden]), t(qkv[c.hidden:c.hidden + d]), t(qkv[c.hidden + d:]),
             t(sd[p + "self_attention.dense.weight"]), t(sd[p + "mlp.dense_h_to_4h.weight"]),
             t(sd[p + "mlp.dense_4h_to_h.weight"])]
        ln = (sd[p + "input_layernorm.weight"], sd[p + "input_layernorm.bias"])
        layers.append(LayerWeights(w[0], zeros(w[0]), w[1], zeros(w[1]), w[2], zeros(w[2]), w[3], zeros(w[3]),
                                   *ln, w[4], zeros(w[4]), w[5], zeros(w[5]), *ln))
    words = sd["word_embeddings.weight"]
    return ModelWeights("falcon", c.heads, c.ln_eps, words, None, layers, final_ln=(sd["ln_f.weight"], sd["ln_f.bias"]),
                        lm_head=words.T.copy(), outputs=("logits",), kv_heads=1, rope=rope)


def _phi_weights(sd, c, rope) -> ModelWeights:
    """``spatten.export``'s PhiForCausalLM: q/k/v_proj and dense with
    biases, its single input_layernorm as both ln1 and ln2, fc1 / fc2 as w1
    / w2, ``rope`` the rotary tables [positions, rotary dims], the LM head
    and its bias."""
    lin = lambda p: (sd[p + ".weight"].T.copy(), sd[p + ".bias"])
    layers = []
    for i in range(c.layers):
        p = f"layers.{i}."
        a = p + "self_attn."
        ln = (sd[p + "input_layernorm.weight"], sd[p + "input_layernorm.bias"])
        layers.append(LayerWeights(*lin(a + "q_proj"), *lin(a + "k_proj"), *lin(a + "v_proj"), *lin(a + "dense"),
                                   *ln, *lin(p + "mlp.fc1"), *lin(p + "mlp.fc2"), *ln))
    head, bias = lin("lm_head")
    return ModelWeights("phi", c.heads, c.ln_eps, sd["embed_tokens.weight"], None, layers,
                        final_ln=(sd["final_layernorm.weight"], sd["final_layernorm.bias"]), lm_head=head,
                        lm_head_bias=bias, outputs=("logits",), rope=rope)


#: kind -> its loader from a state dict (torch names, weights [out, in]),
#: the config (``heads``, ``hidden``, ``layers``, ``ln_eps``) and the rotary
#: tables: the decoders whose rotary angles are computed from the positions.
ROTARY_LMS = {"gpt-neox": _neox_weights, "falcon": _falcon_weights, "phi": _phi_weights}


def _encoder_from_torch(sd, c) -> ModelWeights:
    """``spatten.export``'s TransformerEncoderModel: the fused in-projection
    ``in_proj_weight`` [3 hidden, hidden] (torch's [out, in]) split into Q,
    K, V; norm1 / norm2 as ln1 / ln2; ``encoder.norm`` the final LN."""
    t = lambda w: w.T.copy()
    layers = []
    for i in range(c.layers):
        p = f"encoder.layers.{i}."
        lin = lambda q: (t(sd[p + q + ".weight"]), sd[p + q + ".bias"])
        w, b = np.split(sd[p + "self_attn.in_proj_weight"], 3), np.split(sd[p + "self_attn.in_proj_bias"], 3)
        layers.append(LayerWeights(t(w[0]), b[0], t(w[1]), b[1], t(w[2]), b[2], *lin("self_attn.out_proj"),
                                   sd[p + "norm1.weight"], sd[p + "norm1.bias"], *lin("linear1"), *lin("linear2"),
                                   sd[p + "norm2.weight"], sd[p + "norm2.bias"]))
    final = (sd["encoder.norm.weight"], sd["encoder.norm.bias"]) if c.norm_first else None
    return ModelWeights("transformer-encoder", c.heads, c.ln_eps, sd["embeddings.weight"],
                        sd["position_embeddings.weight"], layers, final_ln=final, outputs=("last_hidden_state",),
                        activation=c.activation, norm_first=c.norm_first)


def _vit_from_torch(sd, c) -> ModelWeights:
    """``spatten.export``'s ViTModel: the patch Conv2d weight [hidden, C,
    p, p] flattened to [C*p*p, hidden]; layernorm_before / layernorm_after
    as ln1 / ln2 of a pre-LN erf-GELU encoder layer."""
    lin = lambda q: (sd[q + ".weight"].T.copy(), sd[q + ".bias"])
    layers = []
    for i in range(c.layers):
        p = f"layers.{i}."
        a = p + "attention."
        layers.append(LayerWeights(*lin(a + "query"), *lin(a + "key"), *lin(a + "value"),
                                   *lin(p + "attention_output"), sd[p + "layernorm_before.weight"],
                                   sd[p + "layernorm_before.bias"], *lin(p + "intermediate"), *lin(p + "output"),
                                   sd[p + "layernorm_after.weight"], sd[p + "layernorm_after.bias"]))
    e = "embeddings."
    conv = sd[e + "patch_embeddings.projection.weight"]
    patch = PatchEmbedding(conv.reshape(conv.shape[0], -1).T.copy(), sd[e + "patch_embeddings.projection.bias"],
                           sd[e + "cls_token"].reshape(-1), c.patch_size)
    return ModelWeights("vit", c.heads, c.ln_eps, None, sd[e + "position_embeddings"][0], layers,
                        final_ln=(sd["layernorm.weight"], sd["layernorm.bias"]), outputs=("last_hidden_state",),
                        activation="gelu", norm_first=True, patch_emb=patch)


def _torch_rotary(model) -> Tuple[np.ndarray, np.ndarray]:
    """The cos and sin tables [positions, head_dim] of a rotary model."""
    return tuple(t.detach().numpy().astype(F32) for t in (model.cos_cached, model.sin_cached))


def _mlm(sd, lin) -> Tuple[np.ndarray, ...]:
    """The masked-LM head ``cls.predictions`` of a state dict, decoder tied
    to the word embeddings (the order of ``ModelWeights.mlm``)."""
    t = "cls.predictions.transform."
    return (*lin(t + "dense"), sd[t + "LayerNorm.weight"], sd[t + "LayerNorm.bias"],
            sd["word_embeddings.weight"].T.copy(), sd["cls.predictions.bias"])


def _gpt2_layer(w_qkv, b_qkv, proj, ln1_g, ln1_b, fc, fc_proj, ln2_g, ln2_b) -> LayerWeights:
    """Splits GPT-2's fused Conv1D QKV weight [hidden, 3 hidden] into Q, K, V."""
    hd = w_qkv.shape[0]
    ws = [w_qkv[:, i * hd:(i + 1) * hd].copy() for i in range(3)]
    bs = [b_qkv[i * hd:(i + 1) * hd].copy() for i in range(3)]
    return LayerWeights(ws[0], bs[0], ws[1], bs[1], ws[2], bs[2], *proj, ln1_g, ln1_b, *fc, *fc_proj, ln2_g, ln2_b)


class _Graph:
    """Initializers, constants and consumers of an ONNX graph, to find the
    weights of known structures (not an interpreter)."""

    def __init__(self, path):
        """path: an ONNX file, or a loaded ModelProto (not read again)."""
        import onnx
        from onnx import numpy_helper
        self.model = path if isinstance(path, onnx.ModelProto) else onnx.load(str(path))
        g = self.model.graph
        self.inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.consts = dict(self.inits)
        self.producer, self.consumers = {}, {}
        for node in g.node:
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
            for o in node.output:
                self.producer[o] = node
            for i in node.input:
                self.consumers.setdefault(i, []).append(node)
        self.path = "the ONNX model" if isinstance(path, onnx.ModelProto) else str(path)

    def init(self, name: str) -> np.ndarray:
        if name not in self.inits:
            raise ValueError(f"{self.path}: initializer {name!r} not found")
        return self.inits[name].astype(F32)

    def linear(self, bias: str) -> Tuple[np.ndarray, np.ndarray]:
        """(w [in, out], b) of the Linear whose bias initializer is ``bias``:
        ``Add(MatMul(x, W), b)`` or ``Gemm(x, W, b)`` (transB honoured)."""
        for node in self.consumers.get(bias, []):
            if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2] == bias:
                trans_b = any(a.name == "transB" and a.i for a in node.attribute)
                w = self.init(node.input[1])
                return (w.T.copy() if trans_b else w), self.init(bias)
            if node.op_type == "Add":
                other = node.input[1] if node.input[0] == bias else node.input[0]
                mm = self.producer.get(other)
                if mm is not None and mm.op_type == "MatMul" and mm.input[1] in self.inits:
                    return self.init(mm.input[1]), self.init(bias)
        raise ValueError(f"{self.path}: no MatMul+Add or Gemm uses bias {bias!r}")

    def state_dict(self, prefix: str) -> Dict[str, np.ndarray]:
        """The model's parameters by torch name, ``prefix`` (e.g. HF's
        ``gpt_neox.``) removed: named initializers as they are, and each
        MatMul's initializer weight [in, out] as ``<module>.weight`` [out,
        in], the module path read from the node name torch gives it
        (``/layers.0/attention/dense/MatMul``)."""
        strip = lambda name: name[len(prefix):] if name.startswith(prefix) else name
        sd = {strip(k): v.astype(F32) for k, v in self.inits.items()}
        for node in self.model.graph.node:
            path = node.name.strip("/").rsplit("/", 1)
            if node.op_type == "MatMul" and len(path) == 2 and node.input[1] in self.inits:
                sd[strip(path[0].replace("/", ".")) + ".weight"] = self.init(node.input[1]).T.copy()
        return sd

    def computed_rotary(self, positions: int) -> Tuple[np.ndarray, np.ndarray]:
        """The (cos, sin) tables [positions, R] of rotary angles that the
        graph computes from the positions: ``inv_freq`` [R/2] is the
        constant [1, R/2, 1] that a MatMul multiplies by the positions
        (transformers' rotary embedding of GPT-NeoX, Falcon and Phi), each
        angle is p * inv_freq in fp32 as that MatMul computes it, repeated
        twice (``cat((freqs, freqs))``). Raises ValueError without one."""
        found = {self.consts[n.input[0]].tobytes(): self.consts[n.input[0]] for n in self.model.graph.node
                 if n.op_type == "MatMul" and n.input[0] in self.consts
                 and self.consts[n.input[0]].ndim == 3 and self.consts[n.input[0]].shape[::2] == (1, 1)}
        if len(found) != 1:
            raise ValueError(f"{self.path}: has no single rotary inv_freq [1, R/2, 1] (found {len(found)})")
        inv_freq = next(iter(found.values())).reshape(-1).astype(F32)
        freqs = (np.arange(positions, dtype=F32)[:, None] * inv_freq[None, :]).astype(F32)
        emb = np.concatenate([freqs, freqs], axis=-1).astype(np.float64)
        return np.cos(emb).astype(F32), np.sin(emb).astype(F32)

    def rotary_tables(self, head_dim: int) -> Tuple[np.ndarray, np.ndarray]:
        """The (cos, sin) tables [positions, head_dim] that Gathers read by
        position: the constants whose row 0 is all ones (cos 0) and all
        zeros (sin 0). Raises ValueError when there is not exactly one pair."""
        tables = {}
        for node in self.model.graph.node:
            t = self.consts.get(node.input[0]) if node.op_type == "Gather" and node.input else None
            if t is None or t.ndim != 2 or t.shape[1] != head_dim or t.shape[0] < 2:
                continue
            kind = "cos" if np.all(t[0] == 1) else "sin" if np.all(t[0] == 0) else None
            if kind:
                tables.setdefault(kind, {})[t.tobytes()] = t.astype(F32)
        if any(len(tables.get(k, {})) != 1 for k in ("cos", "sin")):
            raise ValueError(f"{self.path}: has no position table and no single pair of rotary cos/sin tables")
        return next(iter(tables["cos"].values())), next(iter(tables["sin"].values()))

    def padding_idx(self, table: str) -> Optional[int]:
        """RoBERTa's padding_idx when the Gathers of ``table`` (the position
        embeddings) take ids computed from a graph input: the constant that
        input is compared with by an Equal up the ids' chain. None when no
        such Equal computes them (constants, or ``arange`` sliced by the
        sequence's shape: positions 0, 1, ...)."""
        graph_inputs = {i.name for i in self.model.graph.input}
        for gather in (n for n in self.consumers.get(table, []) if n.op_type == "Gather"):
            if gather.input[1] in self.consts:
                continue
            frontier, seen = [gather.input[1]], set()
            while frontier:
                node = self.producer.get(frontier.pop())
                if node is None or id(node) in seen:
                    continue
                seen.add(id(node))
                if node.op_type == "Equal" and any(i in graph_inputs for i in node.input):
                    pad = [self.scalar(i) for i in node.input if self.scalar(i) is not None]
                    if pad:
                        return int(pad[0])
                frontier.extend(node.input)
        return None

    def scalar(self, name: str) -> Optional[float]:
        a = self.consts.get(name)
        return float(a.reshape(-1)[0]) if a is not None and a.size == 1 else None

    def ln_eps(self, gamma: str) -> float:
        """Epsilon of the LayerNorm with gain ``gamma``: LayerNormalization's
        attribute, or the constant of ``Sqrt(Add(var, eps))`` in the
        decomposed form ``Mul(Div(x - mean, Sqrt(...)), gamma)``."""
        for node in self.consumers.get(gamma, []):
            if node.op_type == "LayerNormalization":
                return next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
            if node.op_type == "Mul":
                div = self.producer.get(node.input[1] if node.input[0] == gamma else node.input[0])
                sq = self.producer.get(div.input[1]) if div is not None and div.op_type == "Div" else None
                add = self.producer.get(sq.input[0]) if sq is not None and sq.op_type == "Sqrt" else None
                if add is not None and add.op_type == "Add":
                    eps = [self.scalar(i) for i in add.input if self.scalar(i) is not None]
                    if eps:
                        return eps[0]
        raise ValueError(f"{self.path}: cannot find the LayerNorm epsilon of {gamma!r}")

    def head_dim(self) -> int:
        """D from the score scale: ``Div(MatMul(q, k^T), sqrt D)`` (or ``Mul``
        by 1/sqrt D) a few nodes before each Softmax; all must agree."""
        found = set()
        for sm in (n for n in self.model.graph.node if n.op_type == "Softmax"):
            frontier = [sm]
            for _ in range(4):
                nxt = []
                for node in frontier:
                    for i in node.input:
                        p = self.producer.get(i)
                        if p is None:
                            continue
                        d = self._scale_dim(p)
                        if d:
                            found.add(d)
                        nxt.append(p)
                frontier = nxt
        if len(found) != 1:
            raise ValueError(f"{self.path}: cannot determine the head width from the score scale (found {found})")
        return found.pop()

    def _scale_dim(self, node) -> Optional[int]:
        if node.op_type not in ("Div", "Mul") or len(node.input) != 2:
            return None
        mm, c = self.producer.get(node.input[0]), self.scalar(node.input[1])
        if mm is None or mm.op_type != "MatMul" or not c:
            return None
        d = c * c if node.op_type == "Div" else 1.0 / (c * c)
        return int(round(d)) if abs(d - round(d)) < 1e-3 else None


def _find(names, pattern: str) -> Optional[str]:
    rx = re.compile(pattern)
    return next((n for n in names if rx.fullmatch(n)), None)


def _gpt2_from_onnx(g: _Graph) -> ModelWeights:
    """HF GPT-2 names (``h.{i}.attn.c_attn``, optional ``mlp.`` and
    ``_resize`` suffix; ``transformer.`` before them in an LM-head model),
    Conv1D weights [in, out] used by Gemm. A ``logits`` output is the
    MatMul of the final LN with the LM head [hidden, V]."""
    names = list(g.inits)
    pre = "transformer." if "transformer.wte.weight" in g.inits else ""
    sfx = "_resize" if f"{pre}wte.weight_resize" in g.inits else ""
    n = 1 + max(int(m.group(1)) for m in (re.match(rf"{re.escape(pre)}h\.(\d+)\.", x) for x in names) if m)
    layers = []
    for i in range(n):
        nm = lambda part: (_find(names, rf"{re.escape(pre)}h\.{i}\.(mlp\.)?{re.escape(part)}{sfx}")
                           or f"{pre}h.{i}.{part}{sfx}")
        lin = lambda part: g.linear(nm(part + ".bias"))
        layers.append(_gpt2_layer(*lin("attn.c_attn"), lin("attn.c_proj"), g.init(nm("ln_1.weight")),
                                  g.init(nm("ln_1.bias")), lin("c_fc"), lin("c_proj"),
                                  g.init(nm("ln_2.weight")), g.init(nm("ln_2.bias"))))
    hidden = layers[0].wq.shape[0]
    outputs = tuple(o.name for o in g.model.graph.output)
    lm_head = None
    if "logits" in outputs:
        head = g.producer["logits"]
        if head.op_type != "MatMul" or head.input[1] not in g.inits:
            raise ValueError(f"{g.path}: logits come from {head.op_type} {head.name!r}, not a MatMul "
                             "with the LM head")
        lm_head = g.init(head.input[1])
        outputs = ("logits",)
    ln_f = f"{pre}ln_f.weight{sfx}"
    return ModelWeights("gpt2", hidden // g.head_dim(), g.ln_eps(ln_f), g.init(f"{pre}wte.weight{sfx}"),
                        g.init(f"{pre}wpe.weight{sfx}"), layers,
                        final_ln=(g.init(ln_f), g.init(f"{pre}ln_f.bias{sfx}")), lm_head=lm_head, outputs=outputs)


# BERT initializer names: spatten.export's module names, and Hugging Face's.
_BERT_NAMES = {
    "export": dict(layer="layers.{i}.", q="attention.query", k="attention.key", v="attention.value",
                   o="attn_out", ln1="attn_ln", fc1="intermediate", fc2="output", ln2="out_ln",
                   word="word_embeddings.weight", pos="position_embeddings.weight",
                   type="token_type_embeddings.weight", emb_ln="emb_ln", pooler="pooler"),
    "hf": dict(layer="bert.encoder.layer.{i}.", q="attention.self.query", k="attention.self.key",
               v="attention.self.value", o="attention.output.dense", ln1="attention.output.LayerNorm",
               fc1="intermediate.dense", fc2="output.dense", ln2="output.LayerNorm",
               word="bert.embeddings.word_embeddings.weight", pos="bert.embeddings.position_embeddings.weight",
               type="bert.embeddings.token_type_embeddings.weight", emb_ln="bert.embeddings.LayerNorm",
               pooler="bert.pooler.dense"),
}


def _bert_from_onnx(g: _Graph) -> ModelWeights:
    """BERT encoder (+ pooler, + BertForPreTraining's cls heads)."""
    nm = _BERT_NAMES["hf" if "bert.embeddings.word_embeddings.weight" in g.inits else "export"]
    n = 0
    while nm["layer"].format(i=n) + nm["ln2"] + ".weight" in g.inits:
        n += 1
    layers = []
    for i in range(n):
        p = nm["layer"].format(i=i)
        lin = lambda key: g.linear(p + nm[key] + ".bias")
        ln = lambda key: (g.init(p + nm[key] + ".weight"), g.init(p + nm[key] + ".bias"))
        layers.append(LayerWeights(*lin("q"), *lin("k"), *lin("v"), *lin("o"), *ln("ln1"),
                                   *lin("fc1"), *lin("fc2"), *ln("ln2")))
    outputs = tuple(o.name for o in g.model.graph.output)
    word = g.init(nm["word"])
    pooler = g.linear(nm["pooler"] + ".bias") if nm["pooler"] + ".bias" in g.inits else None
    mlm = nsp = None
    if "prediction_scores" in outputs:
        # The decoder is tied to the word embeddings (MatMul by Transpose(word)).
        mlm = (*g.linear("cls.predictions.transform.dense.bias"),
               g.init("cls.predictions.transform.LayerNorm.weight"),
               g.init("cls.predictions.transform.LayerNorm.bias"), word.T.copy(), g.init("cls.predictions.bias"))
    if "seq_relationship_score" in outputs:
        nsp = g.linear("cls.seq_relationship.bias")
    hidden, head_dim = word.shape[1], g.head_dim()
    pos = g.init(nm["pos"]) if nm["pos"] in g.inits else None
    rope = g.rotary_tables(head_dim) if pos is None else None
    return ModelWeights("bert", hidden // head_dim, g.ln_eps(nm["emb_ln"] + ".weight"), word,
                        pos, layers, rope=rope, type_emb=g.inits.get(nm["type"]),
                        emb_ln=(g.init(nm["emb_ln"] + ".weight"), g.init(nm["emb_ln"] + ".bias")),
                        pooler=pooler, mlm=mlm, nsp=nsp, outputs=outputs,
                        padding_idx=g.padding_idx(nm["pos"]) if pos is not None else None)


#: Rows of the rotary tables the ONNX reader computes for a model whose
#: angles its graph computes from the positions: no table bounds them.
COMPUTED_ROTARY_POSITIONS = 4096

#: kind -> (a name only its initializers have, as a regex with HF's
#: prefix; a name they lack; the prefix; the name of a per-layer weight, as
#: a regex without the prefix, that counts the layers; the final
#: LayerNorm, whose epsilon is the model's and whose width is the hidden
#: size): the decoders of
#: ROTARY_LMS as spatten.export and Hugging Face name them. Falcon-7B's
#: layers have one LayerNorm (BLOOM's, named alike, have two); Phi's
#: attention output is ``dense`` (OPT's, also ``self_attn``, ``out_proj``).
_ROTARY_LM_NAMES = {
    "gpt-neox": (r"(gpt_neox\.)?layers\.\d+\.attention\.query_key_value\.bias", None, "gpt_neox.",
                 r"layers\.\d+\.attention\.dense\.weight", "final_layer_norm"),
    "falcon": (r"(transformer\.)?h\.\d+\.input_layernorm\.weight",
               r"(transformer\.)?h\.\d+\.post_attention_layernorm\.weight", "transformer.",
               r"h\.\d+\.self_attention\.dense\.weight", "ln_f"),
    "phi": (r"(model\.)?layers\.\d+\.self_attn\.dense\.bias", None, "model.",
            r"layers\.\d+\.self_attn\.dense\.weight", "final_layernorm"),
}


def _rotary_lm_from_onnx(g: _Graph, kind: str) -> ModelWeights:
    """A decoder of ROTARY_LMS from its ONNX graph: the state dict by torch
    names, the heads from the score scale, the rotary tables from the
    graph's inv_freq (COMPUTED_ROTARY_POSITIONS rows)."""
    _, _, prefix, per_layer, final_ln = _ROTARY_LM_NAMES[kind]
    sd = g.state_dict(prefix)
    layers = sum(1 for k in sd if re.fullmatch(per_layer, k))
    hidden = sd[final_ln + ".weight"].shape[0]
    gamma = next(n for n in g.inits if n.endswith(final_ln + ".weight"))
    c = SimpleNamespace(heads=hidden // g.head_dim(), hidden=hidden, layers=layers, ln_eps=g.ln_eps(gamma))
    return ROTARY_LMS[kind](sd, c, g.computed_rotary(COMPUTED_ROTARY_POSITIONS))


def rotary_positions(path) -> Optional[int]:
    """The rows of a model's rotary cos/sin tables (the longest sequence its
    positions reach); None when it has no single pair of them. path: an
    ONNX file or a loaded ModelProto."""
    g = _Graph(path)
    try:
        return g.rotary_tables(g.head_dim())[0].shape[0]
    except ValueError:
        return None


def from_onnx(path) -> ModelWeights:
    """Lifts the weights of a BERT- or GPT-2-style ONNX model by initializer
    names (see the module docstring). Raises ValueError for other models."""
    g = _Graph(path)
    if any(re.fullmatch(r"(transformer\.)?h\.\d+\.attn\.c_attn\.weight(_resize)?", n) for n in g.inits):
        return _gpt2_from_onnx(g)
    has = lambda pattern: pattern and any(re.fullmatch(pattern, n) for n in g.inits)
    for kind, (present, absent, *_rest) in _ROTARY_LM_NAMES.items():
        if has(present) and not has(absent):
            return _rotary_lm_from_onnx(g, kind)
    if any(names["word"] in g.inits for names in _BERT_NAMES.values()):
        return _bert_from_onnx(g)
    raise ValueError(f"{path}: not a BERT-, GPT-2-, GPT-NeoX-, Falcon- or Phi-style model this reference "
                     "knows (expected Hugging Face or spatten.export initializer names)")
