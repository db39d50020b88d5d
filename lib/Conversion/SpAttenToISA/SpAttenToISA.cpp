//===- SpAttenToISA.cpp - Tile spatten ops into ISA instructions ----------===//
//
// Plans every tensor's DRAM placement (DramPlan), then lowers each spatten
// op the plan marks as lowered, in program order, to DMA, GEMM, ATTN, VEC
// and TOPK instructions tiled to the SRAM buffers of the hardware
// configuration (LoweringCore and the per-family lowerings), with a SYNC
// after each op.
//
//===----------------------------------------------------------------------===//

#include "FiniteParameters.h"
#include "LoweringCore.h"

#include "spatten/Conversion/Passes.h"
#include "spatten/Dialect/ISA/IR/ISAOps.h"
#include "spatten/Dialect/ONNX/IR/ONNXOps.h"
#include "spatten/Dialect/SpAtten/IR/GenerationAttrs.h"
#include "spatten/Dialect/SpAtten/IR/InputAttrs.h"
#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace spatten {
#define GEN_PASS_DEF_CONVERTSPATTENTOISA
#include "spatten/Conversion/Passes.h.inc"
} // namespace spatten

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

static DictionaryAttr kvCacheInfo(ModuleOp module, const DramPlan &plan);

namespace {
StringRef dtypeName(DType t) {
  switch (t) {
  case DType::F32: return "float32";
  case DType::I64: return "int64";
  case DType::I32: return "int32";
  }
  return "";
}

/// Where a Q/K/V operand is computed: through views, pruning gathers and
/// quantization back to the op that produces it (the projection).
Operation *projectionOf(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (llvm::isa<ReshapeOp, PruneHeadsOp, DequantizeOp, QuantizeOp, SliceOp,
                  TransposeOp>(def))
      v = def->getOperand(0);
    else
      return def;
  }
  return nullptr;
}

/// The report layer of every op (docs/Simulator.md): layer `l` runs from
/// the first Q/K projection of the `l`-th attention to the next layer's;
/// ops before layer 0 (embeddings, mask arithmetic) have none, ops after
/// the last layer's start belong to it.
DenseMap<Operation *, int64_t> assignLayers(Block &body) {
  DenseMap<Operation *, int64_t> position, layerOf;
  SmallVector<int64_t> starts;
  for (auto [i, op] : llvm::enumerate(body))
    position[&op] = i;
  for (Operation &op : body) {
    if (!llvm::isa<AttentionOp, AttentionProbsOp, ProgressiveFetchOp,
                   CachedAttentionOp>(op))
      continue;
    int64_t start = position[&op];
    for (Value operand : op.getOperands().take_front(2))
      if (Operation *proj = projectionOf(operand))
        start = std::min(start, position.lookup(proj));
    if (!starts.empty())
      start = std::max(start, starts.back() + 1);
    starts.push_back(start);
  }
  for (Operation &op : body) {
    int64_t pos = position[&op];
    auto it = llvm::upper_bound(starts, pos);
    if (it != starts.begin())
      layerOf[&op] = (it - starts.begin()) - 1;
  }
  return layerOf;
}

/// "N bytes (X.X GiB)", or MiB below a GiB.
static std::string byteFigure(uint64_t bytes) {
  bool gib = bytes >= (uint64_t(1) << 30);
  return llvm::formatv("{0} bytes ({1:F1} {2})", bytes,
                       double(bytes) / double(uint64_t(1) << (gib ? 30 : 20)),
                       gib ? "GiB" : "MiB")
      .str();
}

/// Bytes of a static tensor value (0 for others).
static uint64_t valueBytes(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || !type.hasStaticShape())
    return 0;
  return tensorBytes(type.getShape(),
                     std::max<int64_t>(1, type.getElementTypeBitWidth() / 8))
      .value_or(kMaxDramBytes);
}

/// Refuses, before any instruction is emitted, a program whose DRAM exceeds
/// the hardware's dram_bytes or the max-memory limit (the simulator holds
/// DRAM in host memory): its figure, the largest tensor and the --shape
/// bindings that sized them.
static LogicalResult checkDramBudget(ModuleOp module, const DramPlan &plan,
                                     const HardwareConfig &hw,
                                     uint64_t maxMemory) {
  uint64_t need = plan.dramSize();
  bool byHost = maxMemory && maxMemory < hw.dramBytes;
  uint64_t limit = byHost ? maxMemory : hw.dramBytes;
  if (need <= limit)
    return success();
  Value largest;
  module.walk([&](Operation *op) {
    for (Value r : op->getResults())
      if (!largest || valueBytes(r) > valueBytes(largest))
        largest = r;
  });
  InFlightDiagnostic diag = module.emitError()
                            << "the program needs " << byteFigure(need)
                            << " of DRAM, more than "
                            << (byHost ? "--max-memory" : "the hardware's dram_bytes")
                            << " of " << byteFigure(limit);
  if (largest)
    diag.attachNote(largest.getLoc())
        << "its largest tensor, " << largest.getType() << ", takes "
        << byteFigure(valueBytes(largest));
  if (auto bindings = module->getAttrOfType<DictionaryAttr>(
          onnx::kShapeBindingsAttrName)) {
    std::string list;
    for (NamedAttribute b : bindings)
      list += (list.empty() ? "" : " ") + b.getName().str() + "=" +
              std::to_string(cast<IntegerAttr>(b.getValue()).getInt());
    diag.attachNote() << "the sizes follow from the bindings --shape " << list;
  }
  return failure();
}

struct ConvertSpAttenToISAPass
    : spatten::impl::ConvertSpAttenToISABase<ConvertSpAttenToISAPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::Expected<HardwareConfig> hw = HardwareConfig::load(hardwareConfig);
    if (!hw) {
      module.emitError("hardware configuration: ")
          << llvm::toString(hw.takeError());
      return signalPassFailure();
    }
    auto funcs = llvm::to_vector(module.getOps<func::FuncOp>());
    bool entries = llvm::all_of(funcs, [](func::FuncOp f) {
      return f->hasAttr(kEntryAttrName);
    });
    if (funcs.empty() || (funcs.size() > 1 && !entries)) {
      module.emitError("expected one func.func to lower, or entry points "
                       "marked ")
          << kEntryAttrName << ", found " << funcs.size() << " functions";
      return signalPassFailure();
    }
    if (failed(checkFiniteParameters(module)))
      return signalPassFailure();
    FailureOr<DramPlan> plan = DramPlan::build(module);
    if (failed(plan) || failed(checkDramBudget(module, *plan, *hw, maxMemory)))
      return signalPassFailure();
    for (func::FuncOp func : funcs)
      if (failed(lowerFunction(func, *plan, *hw)))
        return signalPassFailure();
    if (!plan->kvCaches().empty())
      module->setAttr(kKVCacheAttrName, kvCacheInfo(module, *plan));
  }

  LogicalResult lowerFunction(func::FuncOp func, const DramPlan &plan,
                              const HardwareConfig &hw);
  LogicalResult lowerOps(Block &block, const DramPlan &plan,
                         ProgramBuilder &pb);
};

/// The tables a graph input of token ids indexes (binary::TensorInfo).
struct IndexUse {
  int64_t rows;
  bool wraps; ///< one table size, and no other use reads the ids as values
};
} // namespace

static DictionaryAttr tensorInfo(Builder &b, StringRef name, const Tensor &t,
                                 std::optional<IndexUse> index,
                                 DenseI64ArrayAttr valueRange) {
  SmallVector<NamedAttribute> fields = {
      b.getNamedAttr("name", b.getStringAttr(name)),
      b.getNamedAttr("shape", b.getI64ArrayAttr(t.shape)),
      b.getNamedAttr("dtype", b.getStringAttr(dtypeName(t.ref.dtype))),
      b.getNamedAttr("addr", b.getI64IntegerAttr(t.ref.addr)),
  };
  if (index)
    fields.push_back(
        b.getNamedAttr("index_rows", b.getI64IntegerAttr(index->rows)));
  if (index && !index->wraps)
    fields.push_back(b.getNamedAttr("index_wraps", b.getBoolAttr(false)));
  if (valueRange)
    fields.push_back(b.getNamedAttr("value_range", valueRange));
  return b.getDictionaryAttr(fields);
}

/// The rows of the tables `v` indexes when it is the indices of embedding
/// lookups: the range the host checks its ids against, and wraps negative
/// ones into (ONNX Gather) unless another use reads the ids as values or
/// the tables differ in size (then ids must be in [0, the fewest rows)). A
/// reshape of `v` counts as `v`.
static std::optional<IndexUse> indexUseOf(Value v) {
  std::optional<IndexUse> use;
  bool values = false, sizes = false;
  SmallVector<Value> views{v};
  while (!views.empty()) {
    Value view = views.pop_back_val();
    for (Operation *user : view.getUsers()) {
      if (auto reshape = dyn_cast<ReshapeOp>(user)) {
        views.push_back(reshape.getOutput());
        continue;
      }
      auto lookup = dyn_cast<EmbeddingOp>(user);
      if (!lookup || lookup.getIndices() != view) {
        values = true;
        continue;
      }
      int64_t n = cast<ShapedType>(lookup.getTable().getType()).getDimSize(0);
      sizes |= use && use->rows != n;
      use = IndexUse{use ? std::min(use->rows, n) : n, true};
    }
  }
  if (use)
    use->wraps = !values && !sizes;
  return use;
}

/// The graph-level name of argument/result `i` (`onnx.name`), or a default.
static std::string ioName(func::FuncOp func, unsigned i, bool result) {
  DictionaryAttr attrs =
      result ? func.getResultAttrDict(i) : func.getArgAttrDict(i);
  if (attrs)
    if (auto name = attrs.getAs<StringAttr>("onnx.name"))
      return name.str();
  return (result ? "output_" : "input_") + std::to_string(i);
}

/// The `inputs`/`outputs` entries of the program: name, shape, dtype and
/// DRAM address of each graph input and result.
static FailureOr<ArrayAttr> ioInfo(Builder &b, func::FuncOp func,
                                   const DramPlan &plan, bool results) {
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  ValueRange values =
      results ? ValueRange(ret.getOperands()) : ValueRange(func.getArguments());
  SmallVector<Attribute> infos;
  for (auto [i, v] : llvm::enumerate(values)) {
    FailureOr<const Tensor *> t = plan.lookup(v, ret);
    if (failed(t))
      return failure();
    infos.push_back(tensorInfo(b, ioName(func, i, results), **t,
                               results ? std::nullopt : indexUseOf(v),
                               results
                                   ? DenseI64ArrayAttr()
                                   : func.getArgAttrOfType<DenseI64ArrayAttr>(
                                         i, kValueRangeAttrName)));
  }
  return b.getArrayAttr(infos);
}

/// The manifest's `kv_cache` (docs/BinaryFormat.md): the maximum context
/// and where each layer's K and V live.
static DictionaryAttr kvCacheInfo(ModuleOp module, const DramPlan &plan) {
  Builder b(module.getContext());
  auto region = [&](const Tensor &t) {
    SmallVector<NamedAttribute> fields = {
        b.getNamedAttr("addr", b.getI64IntegerAttr(t.ref.addr)),
        b.getNamedAttr("shape", b.getI64ArrayAttr(t.shape)),
        b.getNamedAttr("dtype", b.getStringAttr(dtypeName(t.ref.dtype))),
        b.getNamedAttr("row_bytes",
                       b.getI64IntegerAttr(t.ref.rowBytes(t.cols())))};
    if (t.ref.packed())
      fields.push_back(b.getNamedAttr("bits", b.getI64IntegerAttr(t.ref.bits)));
    if (t.ref.plane != Plane::Full) {
      fields.push_back(b.getNamedAttr(
          "plane", b.getStringAttr(kPlaneNames[unsigned(t.ref.plane)])));
      fields.push_back(
          b.getNamedAttr("lsb_bits", b.getI64IntegerAttr(t.ref.lsbBits)));
    }
    return b.getDictionaryAttr(fields);
  };
  SmallVector<Attribute> layers;
  for (const KVCacheLayer &layer : plan.kvCaches()) {
    SmallVector<NamedAttribute> regions = {
        b.getNamedAttr("k", region(layer.key)),
        b.getNamedAttr("v", region(layer.value))};
    if (layer.keyLsb)
      regions.push_back(b.getNamedAttr("k_lsb", region(*layer.keyLsb)));
    if (layer.valueLsb)
      regions.push_back(b.getNamedAttr("v_lsb", region(*layer.valueLsb)));
    layers.push_back(b.getDictionaryAttr(regions));
  }
  return b.getDictionaryAttr(
      {b.getNamedAttr("max_context", b.getI64IntegerAttr(plan.maxContext())),
       b.getNamedAttr("layers", b.getArrayAttr(layers))});
}

/// One `spatten_isa.program` per function, named after it (the entry
/// point), with the registers its host sets.
LogicalResult ConvertSpAttenToISAPass::lowerFunction(func::FuncOp func,
                                                     const DramPlan &plan,
                                                     const HardwareConfig &hw) {
  if (!func.getBody().hasOneBlock())
    return func.emitError("expected a single-block function");
  OpBuilder b(func);
  FailureOr<ArrayAttr> inputs = ioInfo(b, func, plan, false);
  FailureOr<ArrayAttr> outputs = ioInfo(b, func, plan, true);
  if (failed(inputs) || failed(outputs))
    return failure();
  std::string hwJson;
  llvm::raw_string_ostream(hwJson) << hw.toJSON();
  auto program =
      ProgramOp::create(b, func.getLoc(), b.getStringAttr(func.getSymName()),
                        b.getI64IntegerAttr(plan.dramSize()),
                        b.getI64IntegerAttr(plan.rodataSize()), *inputs,
                        *outputs, b.getStringAttr(hwJson));
  if (auto registers = func->getAttrOfType<ArrayAttr>(kRegistersAttrName))
    program->setAttr("registers", registers);
  Block *body = b.createBlock(&program.getBody());
  b.setInsertionPointToEnd(body);
  ProgramBuilder pb(b, hw);
  if (failed(lowerOps(func.getBody().front(), plan, pb)))
    return failure();
  pb.setLoc(func.getLoc());
  pb.halt();
  func.erase();
  return success();
}

/// The constants as segments and every op the plan lowers, each followed
/// by a SYNC, attributed to its layer.
LogicalResult ConvertSpAttenToISAPass::lowerOps(Block &block,
                                                const DramPlan &plan,
                                                ProgramBuilder &pb) {
  OpBuilder &b = pb.builder();
  LoweringCore core(pb, plan);
  DenseMap<Operation *, int64_t> layers = assignLayers(block);
  for (Operation &op : block) {
    pb.setLoc(op.getLoc());
    auto layer = layers.find(&op);
    pb.setLayer(layer == layers.end() ? std::nullopt
                                      : std::optional<int64_t>(layer->second));
    if (auto c = dyn_cast<arith::ConstantOp>(op)) {
      FailureOr<const Tensor *> t = plan.lookup(c, c);
      if (failed(t))
        return failure();
      SegmentOp::create(b, op.getLoc(), b.getI64IntegerAttr((*t)->ref.addr),
                        cast<ElementsAttr>(c.getValue()));
      continue;
    }
    if (!plan.isLowered(&op))
      continue;
    if (failed(lowerOp(core, &op)))
      return failure();
    pb.sync();
  }
  return success();
}
