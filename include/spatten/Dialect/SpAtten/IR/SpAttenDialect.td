//===- SpAttenDialect.td - SpAtten dialect -----------------*- tablegen -*-===//

#ifndef SPATTEN_DIALECT_TD
#define SPATTEN_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def SpAtten_Dialect : Dialect {
  let name = "spatten";
  let cppNamespace = "::spatten";
  let summary = "Transformer-level ops for the SpAtten accelerator";
  let description = [{
    Value-semantics tensor ops at the level of a transformer layer: linear,
    multi-head attention, layer norm, GELU, embedding and elementwise math.
    Tensors are row-major; a tensor `[..., N]` is viewed as rows of N
    contiguous elements by the lowering to `spatten_isa`. The SpAtten
    pruning and quantization passes (HPCA 2021, Sec. III) rewrite these ops.
  }];
  let useDefaultAttributePrinterParser = 1;
}

class SpAtten_Op<string mnemonic, list<Trait> traits = []>
    : Op<SpAtten_Dialect, mnemonic, traits>;

def SpAtten_MaskKind : I32EnumAttr<"MaskKind", "attention mask kind", [
    I32EnumAttrCase<"none", 0>,
    I32EnumAttrCase<"padding", 1>,
    I32EnumAttrCase<"causal", 2>,
    I32EnumAttrCase<"padding_causal", 3>]> {
  let cppNamespace = "::spatten";
  let genSpecializedAttr = 0;
}
def SpAtten_MaskKindAttr : EnumAttr<SpAtten_Dialect, SpAtten_MaskKind, "mask_kind"> {
  let assemblyFormat = "`<` $value `>`";
}

def SpAtten_GeluApprox : I32EnumAttr<"GeluApproximation", "GELU formula", [
    I32EnumAttrCase<"erf", 0>,
    I32EnumAttrCase<"tanh", 1>]> {
  let cppNamespace = "::spatten";
  let genSpecializedAttr = 0;
}
def SpAtten_GeluApproxAttr : EnumAttr<SpAtten_Dialect, SpAtten_GeluApprox, "gelu_approximation"> {
  let assemblyFormat = "`<` $value `>`";
}

def SpAtten_UnaryFn : I32EnumAttr<"UnaryFn", "elementwise unary function", [
    I32EnumAttrCase<"neg", 0>, I32EnumAttrCase<"exp", 1>,
    I32EnumAttrCase<"log", 2>, I32EnumAttrCase<"sqrt", 3>,
    I32EnumAttrCase<"reciprocal", 4>, I32EnumAttrCase<"tanh", 5>,
    I32EnumAttrCase<"erf", 6>, I32EnumAttrCase<"sigmoid", 7>,
    I32EnumAttrCase<"relu", 8>, I32EnumAttrCase<"abs", 9>,
    I32EnumAttrCase<"silu", 10>]> {
  let cppNamespace = "::spatten";
  let genSpecializedAttr = 0;
}
def SpAtten_UnaryFnAttr : EnumAttr<SpAtten_Dialect, SpAtten_UnaryFn, "unary_fn"> {
  let assemblyFormat = "`<` $value `>`";
}

def SpAtten_BinaryFn : I32EnumAttr<"BinaryFn", "elementwise binary function", [
    I32EnumAttrCase<"add", 0>, I32EnumAttrCase<"sub", 1>,
    I32EnumAttrCase<"mul", 2>, I32EnumAttrCase<"div", 3>,
    I32EnumAttrCase<"pow", 4>, I32EnumAttrCase<"max", 5>,
    I32EnumAttrCase<"min", 6>]> {
  let cppNamespace = "::spatten";
  let genSpecializedAttr = 0;
}
def SpAtten_BinaryFnAttr : EnumAttr<SpAtten_Dialect, SpAtten_BinaryFn, "binary_fn"> {
  let assemblyFormat = "`<` $value `>`";
}

def SpAtten_ReduceFn : I32EnumAttr<"ReduceFn", "row reduction", [
    I32EnumAttrCase<"sum", 0>, I32EnumAttrCase<"mean", 1>,
    I32EnumAttrCase<"max", 2>]> {
  let cppNamespace = "::spatten";
  let genSpecializedAttr = 0;
}
def SpAtten_ReduceFnAttr : EnumAttr<SpAtten_Dialect, SpAtten_ReduceFn, "reduce_fn"> {
  let assemblyFormat = "`<` $value `>`";
}

#endif // SPATTEN_DIALECT_TD
