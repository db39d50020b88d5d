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
  }];
  let dependentDialects = ["spatten::SpAttenDialect", "mlir::arith::ArithDialect"];
}

def ConvertSpAttenToISA : Pass<"convert-spatten-to-isa", "mlir::ModuleOp"> {
  let summary = "Tile spatten ops to the hardware and emit spatten_isa instructions";
  let description = [{
    Assigns every tensor a DRAM address (constants in `.rodata`, activations
    in an arena), tiles each op to the SRAM buffers of the hardware
    configuration and replaces the function body with a `spatten_isa.program`
    of DMA, GEMM, ATTN and VEC instructions.
  }];
  let options = [
    Option<"hardwareConfig", "hw", "std::string", "\"spatten\"",
           "hardware preset name or JSON file (docs/HardwareConfig.md)">,
  ];
  let dependentDialects = ["spatten::isa::ISADialect"];
}

#endif // SPATTEN_CONVERSION_PASSES_TD
