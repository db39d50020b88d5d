//===- Passes.td - SpAtten conversion passes ---------------*- tablegen -*-===//

#ifndef SPATTEN_CONVERSION_PASSES_TD
#define SPATTEN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertONNXToSpAtten : Pass<"convert-onnx-to-spatten", "mlir::ModuleOp"> {
  let summary = "Lift ONNX graphs into transformer-level spatten ops";
  let description = [{
    Recognises the attention, normalization and activation subgraphs of the
    PyTorch 1.4 (Gemm Conv1D, fused-QKV Split, Slice+Where causal mask),
    PyTorch 1.13 / Hugging Face (MatMul+Add, Transpose(0,2,3,1) K, Div by
    sqrt(d), additive mask), LLaMA-style (RMSNorm, rotary embeddings,
    grouped-query attention, SwiGLU) and keras2onnx /
    tf2onnx (Mul scale, decomposed LayerNorm with Reciprocal) exporters and
    rewrites them into `spatten` ops; remaining elementwise and
    data-movement ONNX ops map one to one, and reductions, softmaxes along
    any axis and MatMuls of two computed tensors run by a fallback.
    Requires static shapes (run `-canonicalize` first). An ONNX op left
    over is an error naming the op, its node and why; a LayerNorm that
    almost matched runs op by op with a warning that says what did not
    match.

    Normalization and activation forms (x the input, mean = ReduceMean over
    the last axis with keepdims, d = Sub(x, mean), sq = Pow(d, 2) or d*d,
    var = mean of sq, s = Sqrt(var + eps) or Sqrt(var) + eps, inv =
    Reciprocal(s) or Div(1, s); operands of Add and Mul in either order;
    Identity, Dropout and same-type Cast skipped):

    | form | exporter | lifted to |
    |---|---|---|
    | Add(Mul(d / s, gamma), beta), or d * inv | PyTorch, Megatron (two equal Sub nodes) | `spatten.layer_norm` |
    | Sub(beta, Mul(d' / s, gamma)), d' = Sub(mean, x) | negated then negated back | `spatten.layer_norm` |
    | Add(Mul(d' / s, gamma), beta), d' = Sub(mean, x), not negated back | | `spatten.rms_norm` of d' (its mean square is the variance), then the Add |
    | Add(x * g, Sub(beta, mean * g)), g = inv * gamma; the variance's Sub as (x, mean) or (mean, x) | tf2onnx, keras2onnx 1.6.1 | `spatten.layer_norm` |
    | eps outside the Sqrt in any of the above | exporters of `std + eps` | `spatten.layer_norm` with `epsilon_outside_sqrt` |
    | LayerNormalization (opset 17) over dims [axis, rank); Scale/B constants or graph inputs with that many elements, B optional | PyTorch opset 17 | reshape to rows, `spatten.layer_norm` |
    | Mul(gamma, x * inv) or Mul(gamma, x / s) with var = ReduceMean(x^2) | LLaMA RMSNorm (rsqrt as Div(1, Sqrt)) | `spatten.rms_norm` |
    | Mul(x, Sigmoid(x)) | SiLU / swish | `spatten.unary <silu>` |
    | Mul(SiLU(a), b) | SwiGLU | `silu`, then `spatten.binary <mul>` |
    | 0.5x(1 + erf(x/sqrt 2)), 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))) in any association order | BERT, GPT-2 | `spatten.gelu` |
    | Relu | | `spatten.unary <relu>` |

    Fallbacks (run what no pattern took):

    | ONNX op | runs as |
    |---|---|
    | ReduceSum, ReduceMean, ReduceMax over constant axes (none: all) | reduced axes transposed last and merged, `spatten.reduce`, reshape (keepdims or not) |
    | Softmax, LogSoftmax along any axis | `spatten.softmax` / `spatten.log_softmax`, transposed to the last axis and back |
    | MatMul of two computed tensors (no Softmax attention) | `spatten.linear` with the second operand as weight, one per broadcast batch, then concatenated |

    Patterns (lib/Conversion/ONNXToSpAtten):
    - `spatten.attention`, rooted at Softmax over the last axis of
      MatMul(Qh, K^T) ([B,H,Lq,Lk], or [B*H,Lq,Lk] as
      torch.nn.MultiheadAttention computes it). Heads are recognised by
      what the Reshape/Unsqueeze/Squeeze/Transpose chains compute, not by
      their order: Qh, K^T and Vh must each be the heads ([B,H,L,D] /
      [B*H,L,D], K^T [..,D,L]) of a projection [B,L,H*D] or [L,B,H*D]
      (sequence first, then transposed for the op); K and V may repeat
      each head of a [B,L,(H/g)*D] projection over g query heads
      (grouped-query attention: Hugging Face's repeat_kv, an Expand of a
      new axis after the head axis; or Falcon's multi-query attention,
      one K/V head [B,1,L,D] that the 4-D MatMuls broadcast over the
      query heads), and the lift repeats them with a
      `spatten.concat`; the ·V result must reach such a
      layout through Reshape/Transpose (Hugging Face's Transpose(0,2,1,3),
      torch's Transpose(1,0,2) + Reshape to [Lq*B,H*D]); scalar Mul/Div
      anywhere on the Q or K chain or on the scores multiply into
      `scale`; masks: Add of a [B|1,1,1,Lk] bias (padding, reshaped to
      [B,Lk]), a key padding mask [B,Lk] broadcast over heads and queries
      by Reshape/Expand (a float bias, or Where(Cast(to bool)(ints), c <=
      -1e4, 0), which becomes ints * -10000), Where(tril, s, c <= -1e4),
      s*tril - 1e4*(1-tril) or an additive 0/-1e4 constant (causal: the
      constant must be exactly lower-triangular with offset Lk-Lq, its
      leading dims 1 or copies of it), a constant [B,H,Lq,Lk] (T5's
      position bias: the op's per-head score bias; zeros add nothing),
      each possibly added to the
      [B*H,Lq,Lk] scores viewed as [B,H,Lq,Lk] (BART). Q, K and V may be
      projections of different tensors (cross-attention: Lk differs from
      Lq). A
      cache (Concat of a past [B,H,P,D] before the new K/V, or of
      Transpose(0,1,3,2)(past) before K^T) becomes past_key/past_value and
      the Concat's other uses (the `present` output) take present_key /
      present_value. A run-time per-query mask ([B,1,Lq,Lk] from a graph
      input, gpt2_megatron) is reported as not implemented, unless the
      input is named in `assume-causal-inputs` (or its argument is marked
      `spatten.causal_mask`, as a `--max-context` import marks a float
      [B,1,M,M] input; docs/Generation.md) and the mask is
      s*m - 1e4*(1-m) with m its [.., P:P+Lq, 0:Lk] slice: then the caller's
      guarantee makes it causal.
    - `spatten.rotary_embedding`, rooted at the Add of Hugging Face LLaMA's
      `q * cos + rotate_half(q) * sin` (operands of Add and Mul in either
      order; rotate_half = Concat(axis -1)(Neg(Slice(q, D/2:)), Slice(q,
      :D/2)), unit-step Slices of the last axis): q the heads [B,H,L,D] of a
      batch-first projection [B,L,H*D] as above, cos/sin constants
      [1,..,1,L,D] (the position tables gathered by folded position ids).
      The rotation applies to the projection and the head split is repeated
      on its result, so the attention pattern then finds plain heads.
      The partial rotary embedding of GPT-NeoX and Phi, rooted at the
      Concat(axis -1) of
      that rotation on Slice(q, :R) and the pass-through Slice(q, R:), with
      tables [1,..,1,L,R], becomes one `spatten.rotary_embedding` with
      `head_dim` = D. Other
      rotations (interleaved pairs, run-time positions) stay ONNX ops: their
      Slice/Concat run one to one, and the attention they feed is refused at
      its Softmax.
    - `spatten.linear`: MatMul by a weight (constant or graph input, or
      Transpose(1,0) of one) plus a following [N] bias Add; a linear on
      the attention output's rows (a reshape keeping H*D) reads the
      attention output and reshapes its result; Gemm with
      transA/transB/alpha/beta; Reshape->Gemm->Reshape (Conv1D) on [...,K];
      a ViT patch embedding (ConvPatterns.cpp): a 2-D Conv with strides equal
      to the kernel, no padding (pads 0, auto_pad NOTSET or VALID), dilations
      1, group 1 and a weight W [M,C,kh,kw], on an input whose H and W are
      multiples of the kernel, becomes reshape/transpose of X [N,C,H,W] into
      patch rows [N, Ph*Pw, C*kh*kw], a linear by W viewed as [M, C*kh*kw]
      (transpose_weight) plus B, and a transpose/reshape back to
      [N,M,Ph,Pw] (not emitted when ViT's Reshape to [N,M,Ph*Pw] and
      Transpose(0,2,1) are the Conv's only consumers: they read the linear's
      rows). Any other Conv is an error naming the attribute that
      differs (e.g. "has strides [1, 1] that differ from the kernel [2, 2]").
    - `spatten.embedding`: Gather(axis 0) of a weight table by run-time
      integer ids. Ids computed from integer inputs (RoBERTa's position ids
      from input_ids, OPT's from its 0/1 attention_mask: Equal, Not, And,
      Or, Where, Cast, Add, Sub, Mul, Max, Min, CumSum, reshapes;
      IndexArithmetic.h) are rebuilt in fp32 with
      spatten.binary and spatten.cumsum, proven exact by intervals below
      2^24 and inside the table, then spatten.cast to int32.
    - Norms and activations: the table above.
    - One to one: Add/Sub/Mul/Div/Pow/Max/Min, Neg/Exp/Log/Sqrt/Reciprocal/
      Tanh/Erf/Sigmoid/Relu/Abs, Reshape/Flatten/Squeeze/Unsqueeze,
      Transpose (a reshape when it moves only size-1 dims, as torch's
      sequence-first [L,1,H] of a batch of 1), Concat, Slice/Split and
      Gather with
      constant indices (spatten.slice), Cast int->f32; Identity, Dropout
      and same-type Cast are forwarded; Constant becomes arith.constant.
  }];
  let options = [
    ListOption<"assumeCausalInputs", "assume-causal-inputs", "std::string",
               "graph inputs (ONNX names) that the caller guarantees hold a "
               "lower-triangular 0/1 causal mask [B,1,M,M]: a per-query "
               "mask sliced from one of them (gpt2_megatron's "
               "attention_mask) lifts to mask_kind causal">,
  ];
  let dependentDialects = ["spatten::SpAttenDialect", "mlir::arith::ArithDialect"];
}

def ConvertSpAttenToISA : Pass<"convert-spatten-to-isa", "mlir::ModuleOp"> {
  let summary = "Tile spatten ops to the hardware and emit spatten_isa instructions";
  let description = [{
    Assigns every tensor a DRAM address (constants in `.rodata`, activations
    in an arena), tiles each op to the SRAM buffers of the hardware
    configuration and replaces the function body with a `spatten_isa.program`
    of DMA, GEMM, ATTN and VEC instructions. Before any instruction is
    emitted it refuses a program whose DRAM exceeds the hardware's
    `dram_bytes` or `max-memory`, naming the figure, the largest tensor and
    the `--shape` bindings (module attribute `onnx.shape_bindings`).
  }];
  let options = [
    Option<"hardwareConfig", "hw", "std::string", "\"spatten\"",
           "hardware preset name or JSON file (docs/HardwareConfig.md)">,
    Option<"maxMemory", "max-memory", "uint64_t", "0",
           "refuse a program needing more DRAM than this many bytes (0: only "
           "the hardware's dram_bytes); the simulator holds DRAM in host memory">,
  ];
  let dependentDialects = ["spatten::isa::ISADialect"];
}

#endif // SPATTEN_CONVERSION_PASSES_TD
