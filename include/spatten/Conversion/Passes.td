//===- Passes.td - SpAtten conversion passes ---------------*- tablegen -*-===//

#ifndef SPATTEN_CONVERSION_PASSES_TD
#define SPATTEN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertONNXToSpAtten : Pass<"convert-onnx-to-spatten", "mlir::ModuleOp"> {
  let summary = "Lift ONNX graphs into transformer-level spatten ops";
  let description = [{
    Recognises the attention, LayerNorm and GELU subgraphs of the PyTorch 1.4
    (Gemm Conv1D, fused-QKV Split, Slice+Where causal mask), PyTorch 1.13 /
    Hugging Face (MatMul+Add, Transpose(0,2,3,1) K, Div by sqrt(d), additive
    mask) and keras2onnx / tf2onnx (Mul scale, decomposed LayerNorm with
    Reciprocal) exporters and rewrites them into `spatten` ops; remaining
    elementwise and data-movement ONNX ops map one to one. Requires static
    shapes (run `-canonicalize` first). An ONNX op left over is an error
    naming the op and its node.

    Patterns (lib/Conversion/ONNXToSpAtten):
    - `spatten.attention`, rooted at Softmax over the last axis of
      MatMul(Qh, K^T) ([B,H,Lq,Lk], or [B*H,Lq,Lk] as
      torch.nn.MultiheadAttention computes it). Heads are recognised by
      what the Reshape/Transpose chains compute, not by their order: Qh,
      K^T and Vh must each be the heads ([B,H,L,D] / [B*H,L,D], K^T
      [..,D,L]) of a projection [B,L,H*D] or [L,B,H*D] (sequence first,
      then transposed for the op), and the ·V result must reach such a
      layout through Reshape/Transpose (Hugging Face's Transpose(0,2,1,3),
      torch's Transpose(1,0,2) + Reshape to [Lq*B,H*D]); scalar Mul/Div
      anywhere on the Q or K chain or on the scores multiply into
      `scale`; masks: Add of a [B|1,1,1,Lk] bias (padding, reshaped to
      [B,Lk]), a key padding mask [B,Lk] broadcast over heads and queries
      by Reshape/Expand (a float bias, or Where(Cast(to bool)(ints), c <=
      -1e4, 0), which becomes ints * -10000), Where(tril, s, c <= -1e4),
      s*tril - 1e4*(1-tril) or an additive 0/-1e4 constant (causal: the
      constant must be exactly lower-triangular with offset Lk-Lq). A
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
    - `spatten.layer_norm`: Add(Mul((x - mean) / Sqrt(var + eps), gamma),
      beta) with var = ReduceMean((x - mean)^2) over the last axis (Pow 2 or
      d*d, duplicate Sub nodes, Reciprocal instead of Div), the tf form
      x*g + (beta - mean*g) with g = Reciprocal(Sqrt(var + eps)) * gamma, and
      LayerNormalization (axis -1).
    - `spatten.gelu`: the expression around one Erf/Tanh is read as a
      polynomial in x, so any association order matches
      0.5x(1 + erf(x/sqrt 2)) and 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))
      (Pow(x,3) or x*x*x).
    - `spatten.linear`: MatMul by a weight (constant or graph input, or
      Transpose(1,0) of one) plus a following [N] bias Add; a linear on
      the attention output's rows (a reshape keeping H*D) reads the
      attention output and reshapes its result; Gemm with
      transA/transB/alpha/beta; Reshape->Gemm->Reshape (Conv1D) on [...,K].
    - `spatten.embedding`: Gather(axis 0) of a weight table by run-time
      integer ids.
    - One to one: Add/Sub/Mul/Div/Pow/Max/Min, Neg/Exp/Log/Sqrt/Reciprocal/
      Tanh/Erf/Sigmoid/Relu/Abs, Softmax (last axis), Reshape/Flatten/
      Squeeze/Unsqueeze, Transpose (a reshape when it moves only size-1
      dims, as torch's sequence-first [L,1,H] of a batch of 1), Concat,
      Slice/Split and Gather with
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
