"""The forward passes: lifted weights (:class:`ModelWeights`), BERT-style
(post-LN, erf GELU, additive padding mask, optional pooler and
``BertForPreTraining`` heads), GPT-2-style (pre-LN, tanh GELU, causal,
final LN; the whole prompt at once), ``nn.TransformerEncoder`` (post- or
pre-LN, ReLU or erf GELU, key padding mask), LLaMA (pre-RMSNorm, rotary
embeddings, grouped-query attention, SwiGLU, causal), GPT-NeoX, Falcon and
Phi (parallel residual, partial or full rotary embeddings, erf or tanh
GELU, causal; Falcon multi-query) and ViT (patch
embedding, CLS token, pre-LN erf-GELU encoder) layers, and :func:`run` /
:func:`run_inputs`, which apply the cascade of ``attention.py`` layer by
layer and restore each pruned token's last output at its position.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from .attention import AttentionResult, LayerRecord, _counts, _prune, _State, attention, resolve_schedule
from .config import SpAttenConfig
from .kernels import F32, gelu_erf, gelu_tanh, layer_norm, linear, relu, rms_norm, rotary, silu


# ============================================================================ weights

@dataclasses.dataclass
class AttentionWeights:
    """The Q, K, V and output projections of one attention, weights
    [in, out]."""

    wq: np.ndarray
    bq: np.ndarray
    wk: np.ndarray
    bk: np.ndarray
    wv: np.ndarray
    bv: np.ndarray
    wo: np.ndarray
    bo: np.ndarray


@dataclasses.dataclass
class LayerWeights(AttentionWeights):
    """One transformer layer, linear weights [in, out]: its attention, then
    ``ln1``, BERT's post-attention LN (GPT-2's ln_1, before attention);
    ``ln2`` BERT's post-FFN LN (GPT-2's ln_2, before the FFN)."""

    ln1_g: np.ndarray
    ln1_b: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray
    #: LLaMA's SwiGLU ``up_proj`` [hidden, intermediate] (``w1`` is gate_proj,
    #: ``w2`` down_proj); None elsewhere.
    w3: Optional[np.ndarray] = None


@dataclasses.dataclass
class PatchEmbedding:
    """ViT's patch embedding: the Conv2d(kernel = stride = ``size``) as a
    linear layer over flattened patches, ``w`` [channels*size*size, hidden]
    (rows in (channel, row, column) order), ``b`` [hidden], and the CLS
    token [hidden] prepended to the patch rows."""

    w: np.ndarray
    b: np.ndarray
    cls: np.ndarray
    size: int


@dataclasses.dataclass
class ModelWeights:
    """A lifted BERT- or GPT-2-style model.

    kind: "bert" (post-LN, erf GELU, padding mask), "gpt2" (pre-LN, tanh
    GELU, causal, final LN) or "transformer-encoder" (``activation`` "relu"
    or "gelu" (erf); post-LN, or pre-LN with ``norm_first`` and then
    ``final_ln``; key padding mask). heads: H; ln_eps: LayerNorm epsilon.
    word_emb [V, hidden], pos_emb [P, hidden], type_emb [T, hidden] (BERT),
    emb_ln (BERT) / final_ln (GPT-2) as (gamma, beta).
    pooler: (w, b) for BERT's tanh pooler on token 0, or None.
    mlm: BertForPreTraining's prediction head as (dense w, dense b, ln gamma,
    ln beta, decoder w [hidden, V], decoder bias); nsp: (w, b) on the pooler.
    lm_head: GPT-2's language-model head w [hidden, V] after the final LN
    (``logits`` output; the transposed token embedding when tied).
    outputs: names of the outputs :func:`run` returns, in graph order.
    LLaMA ("llama"): RMSNorms (``ln*_g``, ``final_ln`` gamma; betas unused),
    ``kv_heads`` K/V heads shared by groups of query heads, ``rope`` the
    cos and sin tables [positions, head_dim]; no position embedding.
    GPT-NeoX ("gpt-neox"): LayerNorms ``ln1`` (input_layernorm) and ``ln2``
    (post_attention_layernorm) both of the layer's input, the parallel
    residual ``x + attention + mlp``, erf GELU, ``rope`` [positions, R]
    rotating the first R columns of each head, ``final_ln`` and an untied
    ``lm_head``. Falcon ("falcon"): the same layer with one LayerNorm
    (``ln2`` is ``ln1``), rotary on every column, one K/V head
    (``kv_heads`` 1) and the LM head tied to ``word_emb``. Phi ("phi"):
    GPT-NeoX's layer with one LayerNorm, the tanh GELU and an LM head with
    ``lm_head_bias``.
    relu_ffn: OPT's decoder, the "gpt2" block with a ReLU FFN in place of
    the tanh GELU (``pos_emb`` then starts at OPT's row 2, the position of
    the first token of an unpadded sequence).
    padding_idx: RoBERTa's position ids, counted from ``ids``
    (:func:`roberta_positions`); None numbers positions 0, 1, ...
    ViT ("vit"): ``patch_emb`` instead of ``word_emb`` (None), pos_emb
    [patches + 1, hidden], pre-LN erf-GELU layers as the pre-LN transformer
    encoder's, ``final_ln``; inputs are images, not token ids.
    """

    kind: str
    heads: int
    ln_eps: float
    word_emb: np.ndarray
    pos_emb: np.ndarray
    layers: List[LayerWeights]
    type_emb: Optional[np.ndarray] = None
    emb_ln: Optional[Tuple[np.ndarray, np.ndarray]] = None
    final_ln: Optional[Tuple[np.ndarray, np.ndarray]] = None
    pooler: Optional[Tuple[np.ndarray, np.ndarray]] = None
    mlm: Optional[Tuple[np.ndarray, ...]] = None
    nsp: Optional[Tuple[np.ndarray, np.ndarray]] = None
    lm_head: Optional[np.ndarray] = None
    outputs: Tuple[str, ...] = ("last_hidden_state",)
    activation: str = "relu"
    norm_first: bool = False
    kv_heads: int = 0
    rope: Optional[Tuple[np.ndarray, np.ndarray]] = None
    patch_emb: Optional[PatchEmbedding] = None
    padding_idx: Optional[int] = None
    relu_ffn: bool = False
    lm_head_bias: Optional[np.ndarray] = None

    @property
    def hidden(self) -> int:
        return (self.pos_emb if self.word_emb is None else self.word_emb).shape[1]

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


# ============================================================================ layers

#: Decoders whose attention and MLP run in parallel on the layer's input.
PARALLEL_KINDS = ("gpt-neox", "falcon", "phi")
#: Decoder-only kinds: causal attention, no padding under the causal mask.
CAUSAL_KINDS = ("gpt2", "llama", *PARALLEL_KINDS)


def repeat_kv(x: np.ndarray, mw: ModelWeights) -> np.ndarray:
    """Grouped-query K or V [L, kv_heads*D] -> [L, heads*D], query head h
    reading K/V head h // (heads / kv_heads) (Hugging Face's repeat_kv)."""
    kv = mw.kv_heads or mw.heads
    if kv == mw.heads:
        return x
    L = x.shape[0]
    return np.repeat(x.reshape(L, kv, 1, mw.head_dim), mw.heads // kv, axis=2).reshape(L, -1)


def project_qkv(lw: LayerWeights, x: np.ndarray, positions: np.ndarray,
                mw: ModelWeights) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Q [L, hidden], K and V [L, kv_heads*D] of rows x [L, hidden] at
    their original ``positions`` [L] (LLaMA: Q and K rotated by the rotary
    tables' rows there; K/V heads not yet repeated over their groups)."""
    q, k, v = linear(x, lw.wq, lw.bq), linear(x, lw.wk, lw.bk), linear(x, lw.wv, lw.bv)
    if mw.rope is not None:
        cos, sin = (t[positions] for t in mw.rope)
        q, k = rotary(q, cos, sin, mw.head_dim), rotary(k, cos, sin, mw.head_dim)
    return q, k, v


def _attend(lw: LayerWeights, x: np.ndarray, state: "_State", mw: ModelWeights,
            cfg: SpAttenConfig) -> AttentionResult:
    """Q/K/V projections of the kept rows x [L, hidden] (LLaMA: rotary
    embeddings at the kept tokens' original positions, K/V heads repeated
    over their groups), then attention."""
    q, k, v = project_qkv(lw, x, state.tokens, mw)
    return attention(q, repeat_kv(k, mw), repeat_kv(v, mw), state.heads.tolist(), mw.heads, state.mask(),
                     mw.kind in CAUSAL_KINDS, cfg)


#: ``attend(lw, x, state, mw, cfg)``: a layer's attention on its (normalised)
#: input rows x; :func:`_attend` unless a caller supplies the keys and values
#: another way (a generation step reads them from its cache).
Attend = Callable[[LayerWeights, np.ndarray, "_State", ModelWeights, SpAttenConfig], AttentionResult]


def bert_layer(lw: LayerWeights, x: np.ndarray, state: "_State", mw: ModelWeights,
               cfg: SpAttenConfig, attend: Attend = _attend) -> Tuple[np.ndarray, AttentionResult]:
    """Post-LN BERT layer on the kept rows x [L, hidden]; returns the layer
    output (the post-FFN LayerNorm output) and the attention result."""
    att = attend(lw, x, state, mw, cfg)
    x1 = layer_norm((linear(att.out, lw.wo, lw.bo) + x).astype(F32), lw.ln1_g, lw.ln1_b, mw.ln_eps)
    h = linear(gelu_erf(linear(x1, lw.w1, lw.b1)), lw.w2, lw.b2)
    return layer_norm((h + x1).astype(F32), lw.ln2_g, lw.ln2_b, mw.ln_eps), att


def gpt2_layer(lw: LayerWeights, x: np.ndarray, state: "_State", mw: ModelWeights,
               cfg: SpAttenConfig, attend: Attend = _attend) -> Tuple[np.ndarray, AttentionResult]:
    """Pre-LN GPT-2 block on the kept rows x [L, hidden]; returns the
    residual stream after the block and the attention result."""
    att = attend(lw, layer_norm(x, lw.ln1_g, lw.ln1_b, mw.ln_eps), state, mw, cfg)
    x = (x + linear(att.out, lw.wo, lw.bo)).astype(F32)
    act = relu if mw.relu_ffn else gelu_tanh
    h = linear(act(linear(layer_norm(x, lw.ln2_g, lw.ln2_b, mw.ln_eps), lw.w1, lw.b1)), lw.w2, lw.b2)
    return (x + h).astype(F32), att


def encoder_layer(lw: LayerWeights, x: np.ndarray, state: "_State", mw: ModelWeights,
                  cfg: SpAttenConfig, attend: Attend = _attend) -> Tuple[np.ndarray, AttentionResult]:
    """``nn.TransformerEncoderLayer`` on the kept rows x [L, hidden]
    (``ln1`` is norm1, ``ln2`` norm2): post-LN as BERT's layer, or with
    ``norm_first`` pre-LN as GPT-2's block (not causal)."""
    act = relu if mw.activation == "relu" else gelu_erf
    ffn = lambda h: linear(act(linear(h, lw.w1, lw.b1)), lw.w2, lw.b2)
    if not mw.norm_first:
        att = attend(lw, x, state, mw, cfg)
        x1 = layer_norm((x + linear(att.out, lw.wo, lw.bo)).astype(F32), lw.ln1_g, lw.ln1_b, mw.ln_eps)
        return layer_norm((x1 + ffn(x1)).astype(F32), lw.ln2_g, lw.ln2_b, mw.ln_eps), att
    att = attend(lw, layer_norm(x, lw.ln1_g, lw.ln1_b, mw.ln_eps), state, mw, cfg)
    x = (x + linear(att.out, lw.wo, lw.bo)).astype(F32)
    return (x + ffn(layer_norm(x, lw.ln2_g, lw.ln2_b, mw.ln_eps))).astype(F32), att


def llama_layer(lw: LayerWeights, x: np.ndarray, state: "_State", mw: ModelWeights,
                cfg: SpAttenConfig, attend: Attend = _attend) -> Tuple[np.ndarray, AttentionResult]:
    """LLaMA decoder layer on the kept rows x [L, hidden]: RMSNorm,
    attention, residual; RMSNorm, SwiGLU ``down(silu(gate(h)) * up(h))``,
    residual."""
    att = attend(lw, rms_norm(x, lw.ln1_g, mw.ln_eps), state, mw, cfg)
    x = (x + linear(att.out, lw.wo, lw.bo)).astype(F32)
    h = rms_norm(x, lw.ln2_g, mw.ln_eps)
    gated = (silu(linear(h, lw.w1, lw.b1)) * linear(h, lw.w3, None)).astype(F32)
    return (x + linear(gated, lw.w2, lw.b2)).astype(F32), att


def parallel_layer(lw: LayerWeights, x: np.ndarray, state: "_State", mw: ModelWeights,
                   cfg: SpAttenConfig, attend: Attend = _attend) -> Tuple[np.ndarray, AttentionResult]:
    """GPT-NeoX's, Falcon's and Phi's layer on the kept rows x [L, hidden],
    with the parallel residual: ``mlp(ln2(x)) + attention(ln1(x)) + x``
    (erf GELU MLP, Phi's tanh; Falcon's and Phi's ln2 is their ln1)."""
    att = attend(lw, layer_norm(x, lw.ln1_g, lw.ln1_b, mw.ln_eps), state, mw, cfg)
    act = gelu_tanh if mw.kind == "phi" else gelu_erf
    h = linear(act(linear(layer_norm(x, lw.ln2_g, lw.ln2_b, mw.ln_eps), lw.w1, lw.b1)), lw.w2, lw.b2)
    return ((h + linear(att.out, lw.wo, lw.bo)).astype(F32) + x).astype(F32), att


LAYERS = {"bert": bert_layer, "gpt2": gpt2_layer, "transformer-encoder": encoder_layer, "llama": llama_layer,
          "vit": encoder_layer, **{kind: parallel_layer for kind in PARALLEL_KINDS}}


# ============================================================================ forward

@dataclasses.dataclass
class Result:
    """outputs: {name: fp32 array [B, ...]}; layers: per sequence of the
    batch, one LayerRecord per layer (batch 1 when pruning)."""

    outputs: Dict[str, np.ndarray]
    layers: List[List[LayerRecord]]


def _embed_patches(pe: PatchEmbedding, image: np.ndarray) -> np.ndarray:
    """One image [C, H, W] -> the CLS row and its patch rows [1 + Ph*Pw,
    hidden] (patches in row-major grid order, as ViT's flatten(2))."""
    c, h, w = image.shape
    p = pe.size
    patches = image.reshape(c, h // p, p, w // p, p).transpose(1, 3, 0, 2, 4).reshape(-1, c * p * p)
    return np.concatenate([pe.cls[None, :], linear(patches.astype(F32), pe.w, pe.b)]).astype(F32)


def roberta_positions(ids: np.ndarray, padding_idx: int) -> np.ndarray:
    """Position ids of one sequence ids [L] as RoBERTa numbers them (Hugging
    Face ``create_position_ids_from_input_ids``): ``padding_idx`` at padding
    tokens, ``padding_idx`` + 1 + the count of earlier non-padding tokens
    elsewhere."""
    real = (ids != padding_idx).astype(np.int64)
    return np.cumsum(real) * real + padding_idx


def _embed(mw: ModelWeights, ids: np.ndarray, types: Optional[np.ndarray]) -> np.ndarray:
    """Embeddings of one sequence ids [L0] (ViT: one image [C, H, W]) ->
    [L0, hidden] fp32."""
    if mw.patch_emb is not None:
        return (_embed_patches(mw.patch_emb, ids) + mw.pos_emb).astype(F32)
    x = mw.word_emb[ids].astype(F32)
    if mw.pos_emb is not None:  # else positions enter through rotary embeddings (LLaMA, rotary BERT)
        positions = np.arange(len(ids)) if mw.padding_idx is None else roberta_positions(ids, mw.padding_idx)
        x = (x + mw.pos_emb[positions]).astype(F32)
    if mw.kind == "bert":
        if mw.type_emb is not None:
            t = np.zeros_like(ids) if types is None else types
            x = (x + mw.type_emb[t]).astype(F32)
        x = layer_norm(x, mw.emb_ln[0], mw.emb_ln[1], mw.ln_eps)
    return x


def run_sequence(mw: ModelWeights, ids: np.ndarray, cfg: SpAttenConfig, types: Optional[np.ndarray] = None,
                 mask: Optional[np.ndarray] = None,
                 hardware: Optional[Mapping] = None) -> Tuple[np.ndarray, List[LayerRecord]]:
    """All layers on one sequence ids [L0]; returns the restored layer
    output [L0, hidden] (each pruned token's last layer output at its
    original position) and the per-layer records."""
    final, records, _ = run_layers(mw, ids, cfg, types, mask, hardware=hardware)
    return final, records


def run_layers(mw: ModelWeights, ids: np.ndarray, cfg: SpAttenConfig, types: Optional[np.ndarray] = None,
               mask: Optional[np.ndarray] = None, attend: Attend = _attend,
               token_schedule: Optional[np.ndarray] = None,
               hardware: Optional[Mapping] = None) -> Tuple[np.ndarray, List[LayerRecord], "_State"]:
    """:func:`run_sequence`, also returning the cascade state after the
    last layer (importance vectors, kept tokens and heads). ``attend``
    replaces each layer's attention (a generation prefill also stores the
    keys and values); ``token_schedule`` replaces the resolved token
    schedule [layers]."""
    if cfg.kv_budget is not None:
        raise ValueError("kv_budget is a policy of generation's decode steps "
                         "(spatten.reference.generate); a whole sequence runs without it")
    x = _embed(mw, ids, types)
    L0, n = len(x), len(mw.layers)
    for p in cfg.keep_positions:
        if not 0 <= int(p) < L0:
            raise ValueError(f"keep position {p} is outside the sequence (length {L0})")
    f_tok = token_schedule
    if f_tok is None and cfg.token_keep is not None:
        f_tok = resolve_schedule(cfg.token_schedule, n, cfg.token_keep, 0.15)
    f_head = None if cfg.head_keep is None else resolve_schedule(cfg.head_schedule, n, cfg.head_keep, 0.3)
    mask_add = None
    if mw.kind == "bert":
        m = np.ones(L0, dtype=F32) if mask is None else mask.astype(F32)
        mask_add = ((F32(1) - m) * F32(-10000.0)).astype(F32)
    elif mw.kind in ("transformer-encoder", "vit"):
        # 1 at padding (ViT: none); torch's -inf, as the compiler lifts it.
        pad = np.zeros(L0, dtype=F32) if mask is None else mask.astype(F32)
        mask_add = (pad * F32(-10000.0)).astype(F32)
    state = _State(np.arange(L0), np.arange(mw.heads), np.zeros(L0, F32), np.zeros(mw.heads, F32), mask_add)
    final = x.copy()
    records = []
    layer_fn = LAYERS[mw.kind]
    for l, lw in enumerate(mw.layers):
        tokens, heads = state.tokens.copy(), state.heads.copy()
        y, att = layer_fn(lw, x, state, mw, cfg, attend)
        final[tokens] = y
        counts = _counts(att, state, mw.head_dim, cfg, hardware=hardware)
        if l < n - 1:
            _prune(state, att, l, f_tok, f_head, L0, cfg)
        else:
            _prune(state, att, l, None, None, L0, cfg)
        records.append(LayerRecord(
            l, tokens.tolist(), heads.tolist(), state.tokens.tolist(), state.heads.tolist(),
            {h: tokens[u].tolist() for h, u in att.unconfident.items()},
            {h: tokens.tolist() for h in att.unconfident}, counts))
        x = y[np.searchsorted(tokens, state.tokens)]
    return final, records, state


def gpt2_outputs(mw: ModelWeights, x: np.ndarray) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """GPT-2's final LayerNorm on rows x [L, hidden] and, with an LM head,
    the logits [L, V] (None without)."""
    h = layer_norm(x, mw.final_ln[0], mw.final_ln[1], mw.ln_eps)
    return h, None if mw.lm_head is None else linear(h, mw.lm_head, None)


def lm_logits(mw: ModelWeights, x: np.ndarray) -> np.ndarray:
    """A language model's logits [L, V] of its last layer's rows x [L,
    hidden] (GPT-2 with an LM head, LLaMA)."""
    return _heads_after(mw, x)["logits"]


def _heads_after(mw: ModelWeights, x: np.ndarray) -> Dict[str, np.ndarray]:
    """What follows the layers, on all L0 tokens of one sequence x [L0, hidden]."""
    if mw.kind == "llama":
        return {"logits": linear(rms_norm(x, mw.final_ln[0], mw.ln_eps), mw.lm_head, None)}
    if mw.kind in PARALLEL_KINDS:
        return {"logits": linear(layer_norm(x, *mw.final_ln, mw.ln_eps), mw.lm_head, mw.lm_head_bias)}
    if mw.kind == "gpt2":
        h, logits = gpt2_outputs(mw, x)
        return {mw.outputs[0]: h} if logits is None else {"logits": logits}
    if mw.kind in ("transformer-encoder", "vit"):
        return {mw.outputs[0]: x if mw.final_ln is None else layer_norm(x, *mw.final_ln, mw.ln_eps)}
    out = {"last_hidden_state": x}
    pooled = None
    if mw.pooler is not None:
        pooled = np.tanh(linear(x[:1], *mw.pooler)).astype(F32)[0]
        out["pooler_output"] = pooled
    if mw.mlm is not None:
        dw, db, g, b, decw, decb = mw.mlm
        t = layer_norm(gelu_erf(linear(x, dw, db)), g, b, mw.ln_eps)
        out["prediction_scores"] = linear(t, decw, decb)
    if mw.nsp is not None:
        out["seq_relationship_score"] = linear(pooled[None, :], *mw.nsp)[0]
    return {k: out[k] for k in mw.outputs}


def run(mw: ModelWeights, input_ids: np.ndarray, cfg: Optional[SpAttenConfig] = None,
        attention_mask: Optional[np.ndarray] = None, token_type_ids: Optional[np.ndarray] = None,
        hardware: Optional[Mapping] = None) -> Result:
    """Runs the model on int [B, L0] ids (BERT: optional 0/1 mask and token
    types [B, L0]; transformer encoder: the key padding mask, 1 at
    padding; ViT: float images [B, C, H, W] instead of ids). Pruning, value pruning and progressive quantization need
    B = 1 (ValueError otherwise); dense and ``attn_bits`` runs take any B.
    Outputs are stacked over the batch like the ONNX graph's. ``hardware``
    (a binary's manifest ``hardware`` record) sets the K/V buffer fill the
    records' K bytes count (:func:`~spatten.reference.fill_fetches`)."""
    cfg = cfg or SpAttenConfig()
    cfg.validate()
    ids = np.asarray(input_ids)
    if mw.kind == "vit" and ids.ndim != 4:
        raise ValueError(f"pixel_values must be [batch, channels, height, width], got shape {ids.shape}")
    if mw.kind != "vit" and ids.ndim != 2:
        raise ValueError(f"input_ids must be [batch, sequence], got shape {ids.shape}")
    if cfg.prunes and ids.shape[0] != 1:
        raise ValueError(f"SpAtten pruning and progressive quantization need batch 1, got batch {ids.shape[0]}")
    if mw.kind in CAUSAL_KINDS and attention_mask is not None and np.any(np.asarray(attention_mask) != 1):
        raise ValueError("the reference has no padding under a causal mask: the attention_mask must be all ones")
    outs: Dict[str, List[np.ndarray]] = {k: [] for k in mw.outputs}
    records = []
    for b in range(ids.shape[0]):
        pick = lambda a: None if a is None else np.asarray(a)[b]
        x, rec = run_sequence(mw, ids[b], cfg, pick(token_type_ids), pick(attention_mask), hardware)
        for k, v in _heads_after(mw, x).items():
            outs[k].append(v)
        records.append(rec)
    return Result({k: np.stack(v).astype(F32) for k, v in outs.items()}, records)


def run_inputs(mw: ModelWeights, inputs: Mapping[str, np.ndarray], cfg: Optional[SpAttenConfig] = None,
               hardware: Optional[Mapping] = None) -> Result:
    """:func:`run` with ONNX-style named inputs: ``*ids*`` without ``type``
    = token ids, ``*type*`` = token types, ``*mask*`` = padding mask,
    ``*pixel*`` = ViT's images (in place of the ids). An encoder-decoder
    (:class:`~spatten.reference.encdec.EncoderDecoderWeights`) reads
    ``input_ids`` and ``decoder_input_ids``."""
    if mw.kind in ("bart", "t5"):
        from .encdec import run_inputs as run_encoder_decoder
        return run_encoder_decoder(mw, inputs, cfg, hardware)
    ids = types = mask = None
    for name, a in inputs.items():
        low = name.lower()
        if "mask" in low:
            mask = a
        elif "type" in low:
            types = a
        elif "ids" in low or "pixel" in low:
            ids = a
        else:
            raise ValueError(f"input {name!r} is not token ids, token types or a mask")
    if ids is None:
        raise ValueError(f"no token-id input among {list(inputs)}")
    return run(mw, ids, cfg, attention_mask=mask, token_type_ids=types, hardware=hardware)
