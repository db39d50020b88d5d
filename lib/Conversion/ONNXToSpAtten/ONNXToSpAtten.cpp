//===- ONNXToSpAtten.cpp - Lift ONNX graphs into spatten ops --------------===//
//
// Four steps:
//   1. every ONNX value must have a static shape (the importer's --shape
//      bindings plus -canonicalize guarantee it; otherwise an error names
//      the node);
//   2. the fusion patterns (AttentionPatterns.cpp, RotaryPatterns.cpp,
//      NormActPatterns.cpp, LinearPatterns.cpp, ConvPatterns.cpp) run
//      greedily; the ONNX ops they absorb become dead and are erased, and
//      the block is re-sorted topologically because a KV-cache attention
//      rewires the `present` output to its results;
//   3. every ONNX op left is lowered one to one (OneToOne.cpp) or by a
//      fallback (Fallback.cpp), or reported with the reason, its op type and
//      its node name; a LayerNorm that almost matched gets a warning that
//      says why it was not lifted;
//   4. spatten reshapes/transposes that cancel out are folded.
//
//===----------------------------------------------------------------------===//

#include "Common.h"
#include "IndexArithmetic.h"

#include "spatten/Conversion/Passes.h"
#include "spatten/Dialect/ONNX/IR/ONNXOps.h"
#include "spatten/Dialect/SpAtten/IR/GenerationAttrs.h"
#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "mlir/Analysis/TopologicalSortUtils.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace spatten {
#define GEN_PASS_DEF_CONVERTONNXTOSPATTEN
#include "spatten/Conversion/Passes.h.inc"
} // namespace spatten

using namespace mlir;
using namespace spatten;
using namespace spatten::lift;

namespace {

InFlightDiagnostic nodeError(Operation *op) {
  return op->emitError() << "ONNX " << op->getName().getStringRef().drop_front(5)
                         << " node '" << nodeName(op) << "' ";
}

bool isStatic(Type t) {
  auto rt = dyn_cast<RankedTensorType>(t);
  return rt && rt.hasStaticShape();
}

/// An unbound graph input makes every shape after it dynamic: only the
/// inputs are reported then, not each of the hundreds of nodes.
LogicalResult checkStaticInputs(ModuleOp module) {
  bool ok = true;
  module.walk([&](func::FuncOp func) {
    for (BlockArgument arg : func.getArguments()) {
      if (isStatic(arg.getType()))
        continue;
      auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                    "onnx.name");
      emitError(arg.getLoc())
          << "graph input '" << (name ? name.getValue() : "?")
          << "' has the dynamic shape " << arg.getType()
          << "; bind its dimensions with --shape NAME=VALUE (NAME is the "
             "ONNX dim_param)";
      ok = false;
    }
  });
  return success(ok);
}

/// A `--shape` dimension bound to 0 is allowed where the outputs stay
/// non-empty (an empty past_key_values: the first generation step); one that
/// empties a graph output leaves nothing to compute, so it is refused naming
/// the zero bindings rather than failing in a pattern that cannot match.
LogicalResult checkNonEmptyOutputs(ModuleOp module) {
  std::string zeros;
  if (auto bindings = module->getAttrOfType<DictionaryAttr>(
          onnx::kShapeBindingsAttrName))
    for (NamedAttribute b : bindings)
      if (cast<IntegerAttr>(b.getValue()).getInt() == 0)
        zeros += (zeros.empty() ? "" : ", ") + b.getName().str() + "=0";
  // A model whose own shapes give an empty output (ONNX's Trilu node tests)
  // compiles to an empty result, as before; only a 0 binding is checked.
  if (zeros.empty())
    return success();
  bool ok = true;
  module.walk([&](func::FuncOp func) {
    for (auto [i, type] : llvm::enumerate(func.getResultTypes())) {
      auto shaped = dyn_cast<ShapedType>(type);
      if (!shaped || !shaped.hasStaticShape() || shaped.getNumElements())
        continue;
      auto name = func.getResultAttrOfType<StringAttr>(i, "onnx.name");
      func.emitError() << "graph output '" << (name ? name.getValue() : "?")
                       << "' is empty (" << type << ") with --shape " << zeros
                       << ": a program with an empty result computes "
                          "nothing; a dimension may be 0 only where every "
                          "output stays non-empty (an empty past)";
      ok = false;
    }
  });
  return success(ok);
}

LogicalResult checkStaticShapes(ModuleOp module) {
  if (failed(checkStaticInputs(module)) || failed(checkNonEmptyOutputs(module)))
    return failure();
  bool ok = true;
  module.walk([&](Operation *op) {
    if (!isOnnxDialect(op))
      return;
    for (auto [i, r] : llvm::enumerate(op->getResults()))
      if (!isStatic(r.getType())) {
        nodeError(op) << "result #" << i << " has a dynamic shape "
                      << r.getType()
                      << "; bind every dimension (--shape NAME=VALUE) and "
                         "run -canonicalize first";
        ok = false;
      }
    for (auto [i, v] : llvm::enumerate(op->getOperands()))
      if (llvm::isa<BlockArgument>(v) && !isStatic(v.getType())) {
        nodeError(op) << "operand #" << i << " is a graph input of dynamic "
                      << "shape " << v.getType()
                      << "; bind it with --shape NAME=VALUE";
        ok = false;
      }
  });
  return success(ok);
}

SmallVector<Operation *> collectOnnxOps(ModuleOp module) {
  SmallVector<Operation *> ops;
  module.walk([&](Operation *op) {
    if (isOnnxDialect(op))
      ops.push_back(op);
  });
  return ops;
}

/// ONNX ops have no side effects, so any op without uses can go; reverse
/// order erases whole dead chains in one sweep.
void eraseDeadOnnxOps(ModuleOp module) {
  SmallVector<Operation *> ops = collectOnnxOps(module);
  bool changed = true;
  while (changed) {
    changed = false;
    for (Operation *&op : llvm::reverse(ops))
      if (op && op->use_empty()) {
        op->erase();
        op = nullptr;
        changed = true;
      }
  }
}

LogicalResult sortBlocks(ModuleOp module) {
  bool ok = true;
  module.walk([&](Block *block) {
    if (!sortTopologically(block)) {
      emitError(block->getParentOp()->getLoc())
          << "lifted graph has a cycle: cannot order its ops";
      ok = false;
    }
  });
  return success(ok);
}

/// Attention subgraphs (and the rotary embeddings of their Q and K) that
/// the fusion did not take get an error that says why, instead of only the
/// generic one on their Q*K^T MatMul.
LogicalResult checkUnliftedAttention(ModuleOp module,
                                     ArrayRef<std::string> causalInputs) {
  bool ok = true;
  for (Operation *op : collectOnnxOps(module)) {
    if (std::string why = explainUnliftedRotary(op); !why.empty()) {
      nodeError(op) << "is a rotary embedding that cannot be lifted: " << why;
      ok = false;
    }
    if (!isOnnx(op, "Softmax"))
      continue;
    if (std::string why = explainUnliftedAttention(op, causalInputs);
        !why.empty()) {
      nodeError(op) << "ends an attention subgraph that cannot be lifted: "
                    << why;
      ok = false;
    }
  }
  return success(ok);
}

LogicalResult lowerRemaining(ModuleOp module) {
  IRRewriter rw(module.getContext());
  bool ok = true;
  SmallVector<Operation *> ops = collectOnnxOps(module);
  // A near-miss LayerNorm still runs, op by op: say why it was not lifted
  // (before any of its ops is converted).
  for (Operation *op : ops)
    if (!isOnnx(op, "LayerNormalization"))
      if (std::string why = explainUnliftedNorm(op); !why.empty())
        op->emitWarning() << "the LayerNorm at node '" << nodeName(op)
                          << "' is not lifted: " << why
                          << "; its ops run one by one";
  // A lookup refused for its computed ids says why; the ops that only
  // compute those ids would repeat it.
  llvm::SmallPtrSet<Operation *, 16> explained;
  for (Operation *op : ops)
    if (isTableLookup(op))
      for (Operation *chainOp : indexChainOf(op))
        explained.insert(chainOp);
  for (Operation *op : ops) {
    std::string why;
    if (explained.contains(op))
      continue;
    if (failed(convertOneToOne(op, rw, why))) {
      nodeError(op) << why;
      ok = false;
    }
  }
  return success(ok);
}

/// The inputs asserted to hold a causal mask: the option's, and those the
/// importer marked for generation (kCausalMaskAttrName).
SmallVector<std::string> causalMaskInputs(ModuleOp module,
                                          ArrayRef<std::string> option) {
  SmallVector<std::string> names(option);
  for (auto func : module.getOps<func::FuncOp>())
    for (unsigned i = 0; i < func.getNumArguments(); ++i)
      if (auto name =
              func.getArgAttrOfType<StringAttr>(i, onnx::kNameAttrName);
          name && func.getArgAttr(i, kCausalMaskAttrName))
        names.push_back(name.str());
  return names;
}

struct ConvertONNXToSpAttenPass
    : spatten::impl::ConvertONNXToSpAttenBase<ConvertONNXToSpAttenPass> {
  using ConvertONNXToSpAttenBase::ConvertONNXToSpAttenBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (failed(checkStaticShapes(module)))
      return signalPassFailure();

    GreedyRewriteConfig config;
    config.setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled);
    SmallVector<std::string> causalInputs =
        causalMaskInputs(module, assumeCausalInputs);
    RewritePatternSet fusions(&getContext());
    populateAttentionPatterns(fusions, causalInputs);
    populateRotaryPatterns(fusions);
    populateNormActPatterns(fusions);
    populateLinearPatterns(fusions);
    populateConvPatterns(fusions);
    if (failed(applyPatternsGreedily(module, std::move(fusions), config))) {
      module.emitError("lifting patterns did not converge");
      return signalPassFailure();
    }
    eraseDeadOnnxOps(module);
    if (failed(sortBlocks(module)) || failed(checkUnliftedAttention(module, causalInputs)) ||
        failed(lowerRemaining(module)))
      return signalPassFailure();
    (void)applyPatternsGreedily(module, RewritePatternSet(&getContext()),
                                config);
  }
};

} // namespace
