//===- ONNXDialect.td - ONNX dialect -----------------------*- tablegen -*-===//
//
// The `onnx` dialect mirrors an ONNX graph: one op per ONNX node, mnemonic =
// ONNX op_type, operand names = ONNX input names, attribute names = ONNX
// attribute names. Semantics follow the ONNX operator spec at opset 13 (the
// importer rewrites the attribute forms of opsets 7-12 into input operands),
// with the attributes that opsets 14-17 added (Reshape allowzero, Shape
// start/end, LayerNormalization).
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_ONNX_DIALECT_TD
#define SPATTEN_ONNX_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def ONNX_Dialect : Dialect {
  let name = "onnx";
  let cppNamespace = "::spatten::onnx";
  let summary = "ONNX operators, one op per ONNX node";
  let description = [{
    Value-semantics ops on ranked tensors, imported from an ONNX ModelProto by
    `spatten-translate --import-onnx`. Canonicalization folds the shape
    arithmetic of exporters (Shape, Gather, Concat, ...) into `onnx.Constant`
    and refines result types to static shapes with libonnx's per-op shape
    inference; it also gives each per-head window of a fused projection
    (GPT-NeoX's Q, K and V) its own projection by the weight's columns.
  }];
  let hasConstantMaterializer = 1;
  let hasCanonicalizer = 1;
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

class ONNX_Op<string mnemonic, list<Trait> traits = []>
    : Op<ONNX_Dialect, mnemonic, !listconcat([Pure], traits)>;

#endif // SPATTEN_ONNX_DIALECT_TD
