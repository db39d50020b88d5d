//===- SpAttenToISA.cpp - Tile spatten ops into ISA instructions ----------===//
//
// Lays out every tensor in DRAM (constants in .rodata from address 0,
// graph inputs and intermediate results in an arena after it; reshapes
// alias their input), then lowers each spatten op in program order to DMA,
// GEMM, ATTN and VEC instructions tiled to the SRAM buffers of the hardware
// configuration, with a SYNC after each op. A `prune_heads` whose readers
// all gather the kept heads in place is neither placed nor lowered.
//
//===----------------------------------------------------------------------===//

#include "Lowering.h"

#include "spatten/Conversion/Passes.h"
#include "spatten/Dialect/ISA/IR/ISAOps.h"
#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

namespace spatten {
#define GEN_PASS_DEF_CONVERTSPATTENTOISA
#include "spatten/Conversion/Passes.h.inc"
} // namespace spatten

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

namespace {
constexpr int64_t kAlign = 64;

std::optional<DType> dtypeOf(Type elementType) {
  if (elementType.isF32())
    return DType::F32;
  if (elementType.isInteger(64))
    return DType::I64;
  if (elementType.isInteger(32))
    return DType::I32;
  return std::nullopt;
}

StringRef dtypeName(DType t) {
  switch (t) {
  case DType::F32: return "float32";
  case DType::I64: return "int64";
  case DType::I32: return "int32";
  }
  return "";
}

/// True when `v` (or a reshape of it) is read only as an attention operand,
/// which loads fixed-point rows directly.
bool onlyAttentionReads(Value v) {
  return llvm::all_of(v.getUsers(), [](Operation *user) {
    if (auto r = dyn_cast<ReshapeOp>(user))
      return onlyAttentionReads(r.getResult());
    return llvm::isa<AttentionOp, AttentionProbsOp, ProgressiveFetchOp,
                     AttentionOutputOp>(user);
  });
}

/// Assigns byte addresses to constants (.rodata) and to every other tensor
/// (the arena that follows it). Quantized Q/K/V live in DRAM as fixed-point
/// rows (docs/ISA.md): `spatten.quantize` codes are placed packed, and a
/// `spatten.dequantize` read only by attention aliases them.
struct Layout {
  llvm::DenseMap<Value, Tensor> tensors;
  llvm::DenseMap<Operation *, SmallVector<Tensor, 2>> scratch;
  int64_t rodataSize = 0;
  int64_t arenaTop = 0;

  /// Reserves fixed-point rows of `packedCols` elements for a tensor of
  /// `shape`, in format `fmt`.
  Tensor placePacked(ArrayRef<int64_t> shape, int64_t packedCols,
                     DramRef fmt) {
    Tensor t{fmt, SmallVector<int64_t>(shape), packedCols};
    t.ref.addr = arenaTop = llvm::alignTo(arenaTop, kAlign);
    arenaTop += t.numel() / packedCols * fmt.rowBytes(packedCols);
    return t;
  }

  void placeQuantize(QuantizeOp op) {
    auto type = op.getInput().getType();
    DramRef fmt;
    fmt.bits = op.getBits();
    Tensor codes = placePacked(type.getShape(), type.getShape().back(), fmt);
    tensors[op.getCodes()] = codes;
    tensors[op.getScales()] = codes; // the scales are inside the rows
  }

  /// The MSB and LSB planes of progressively quantized keys, then with
  /// `values` those of the values: scratch[op] = {K MSB, K LSB[, V MSB,
  /// V LSB]}.
  void placePlanes(ProgressiveFetchOp op) {
    placePlanePair(op, op.getKey(), TensorClass::KMsb, TensorClass::KLsb);
    // A key projection read only by this op writes the planes itself (the
    // GEMM's store quantizes), instead of its fp32 rows being re-read; so
    // does a fused projection whose key columns a slice read only by this
    // op takes (GPT-2's c_attn), and the slice is not copied.
    if (auto linear = op.getKey().getDefiningOp<LinearOp>();
        linear && op.getKey().hasOneUse())
      scratch[linear] = scratch[op];
    if (auto slice = op.getKey().getDefiningOp<SliceOp>();
        slice && op.getKey().hasOneUse() && isColumnSlice(slice)) {
      if (auto linear = slice.getInput().getDefiningOp<LinearOp>();
          linear && !scratch.count(linear)) {
        scratch[linear] = scratch[op];
        scratch[slice] = scratch[op];
      }
    }
    if (!op.getValues())
      return;
    for (Operation *user : op->getUsers()) {
      Operation *reader = user;
      if (llvm::isa<LocalValuePruneOp>(user) && user->hasOneUse())
        reader = *user->user_begin();
      if (auto out = dyn_cast<AttentionOutputOp>(reader))
        return placePlanePair(op, out.getValue(), TensorClass::VMsb,
                              TensorClass::VLsb);
    }
  }

  void placePlanePair(ProgressiveFetchOp op, Value x, TensorClass msb,
                      TensorClass lsb) {
    auto shape = cast<ShapedType>(x.getType()).getShape();
    int64_t D = shape.back() / op.getNumHeads();
    DramRef fmt;
    fmt.bits = op.getMsbBits() + op.getLsbBits();
    fmt.lsbBits = op.getLsbBits();
    fmt.plane = Plane::Msb;
    fmt.cls = msb;
    scratch[op].push_back(placePacked(shape, D, fmt));
    fmt.plane = Plane::Lsb;
    fmt.cls = lsb;
    scratch[op].push_back(placePacked(shape, D, fmt));
  }

  LogicalResult place(Value v, int64_t &top, TensorClass cls) {
    auto type = dyn_cast<RankedTensorType>(v.getType());
    std::optional<DType> dtype = type ? dtypeOf(type.getElementType())
                                      : std::nullopt;
    if (!type || !type.hasStaticShape() || !dtype)
      return emitError(v.getLoc())
             << "cannot place " << v.getType()
             << " in DRAM: needs a static f32, i64 or i32 tensor";
    top = llvm::alignTo(top, kAlign);
    tensors[v] = {{top, *dtype, cls}, SmallVector<int64_t>(type.getShape())};
    top += type.getNumElements() * dtypeBytes(*dtype);
    return success();
  }

  LogicalResult build(func::FuncOp func) {
    WalkResult r = func.walk([&](arith::ConstantOp c) {
      return WalkResult(place(c, rodataSize, TensorClass::Weight));
    });
    if (r.wasInterrupted())
      return failure();
    arenaTop = llvm::alignTo(std::max<int64_t>(rodataSize, 1), 4096);
    for (BlockArgument arg : func.getArguments())
      if (failed(place(arg, arenaTop, TensorClass::Activation)))
        return failure();
    for (Operation &op : func.getBody().front()) {
      if (llvm::isa<arith::ConstantOp, func::ReturnOp>(op))
        continue;
      if (auto reshape = dyn_cast<ReshapeOp>(op)) {
        alias(reshape.getInput(), reshape.getResult());
        continue;
      }
      if (auto q = dyn_cast<QuantizeOp>(op)) {
        placeQuantize(q);
        continue;
      }
      if (auto dq = dyn_cast<DequantizeOp>(op);
          dq && onlyAttentionReads(dq.getResult())) {
        alias(dq.getCodes(), dq.getResult());
        continue;
      }
      if (readsHeadsInPlace(&op) || readsColumnsInPlace(&op))
        continue; // its readers take their heads from its input
      if (auto pf = dyn_cast<ProgressiveFetchOp>(op))
        placePlanes(pf);
      for (Value res : op.getResults())
        if (failed(place(res, arenaTop, TensorClass::Activation)))
          return failure();
    }
    return success();
  }

  void alias(Value from, Value to) {
    Tensor t = tensors.lookup(from);
    auto shape = cast<ShapedType>(to.getType()).getShape();
    t.shape.assign(shape.begin(), shape.end());
    tensors[to] = t;
  }
};

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
    if (!llvm::isa<AttentionOp, AttentionProbsOp, ProgressiveFetchOp>(op))
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
    if (funcs.size() != 1) {
      module.emitError("expected exactly one func.func to lower, found ")
          << funcs.size();
      return signalPassFailure();
    }
    if (failed(lowerFunction(funcs.front(), *hw)))
      return signalPassFailure();
  }

  LogicalResult lowerFunction(func::FuncOp func, const HardwareConfig &hw);
};
} // namespace

static DictionaryAttr tensorInfo(Builder &b, StringRef name, const Tensor &t) {
  return b.getDictionaryAttr({
      b.getNamedAttr("name", b.getStringAttr(name)),
      b.getNamedAttr("shape", b.getI64ArrayAttr(t.shape)),
      b.getNamedAttr("dtype", b.getStringAttr(dtypeName(t.ref.dtype))),
      b.getNamedAttr("addr", b.getI64IntegerAttr(t.ref.addr)),
  });
}

/// The graph-level name of argument/result `i` (`onnx.name`), or a default.
static std::string ioName(func::FuncOp func, unsigned i, bool result) {
  DictionaryAttr attrs = result ? func.getResultAttrDict(i)
                                : func.getArgAttrDict(i);
  if (attrs)
    if (auto name = attrs.getAs<StringAttr>("onnx.name"))
      return name.str();
  return (result ? "output_" : "input_") + std::to_string(i);
}

LogicalResult ConvertSpAttenToISAPass::lowerFunction(func::FuncOp func,
                                                     const HardwareConfig &hw) {
  if (!func.getBody().hasOneBlock())
    return func.emitError("expected a single-block function");
  Layout layout;
  if (failed(layout.build(func)))
    return failure();

  OpBuilder b(func);
  SmallVector<Attribute> inputs, outputs;
  for (BlockArgument arg : func.getArguments())
    inputs.push_back(tensorInfo(b, ioName(func, arg.getArgNumber(), false),
                                layout.tensors[arg]));
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
  for (auto [i, v] : llvm::enumerate(ret.getOperands()))
    outputs.push_back(tensorInfo(b, ioName(func, i, true), layout.tensors[v]));

  std::string hwJson;
  llvm::raw_string_ostream(hwJson) << hw.toJSON();
  auto program = ProgramOp::create(
      b, func.getLoc(), b.getStringAttr(func.getSymName()),
      b.getI64IntegerAttr(layout.arenaTop),
      b.getI64IntegerAttr(layout.rodataSize), b.getArrayAttr(inputs),
      b.getArrayAttr(outputs), b.getStringAttr(hwJson));
  Block *body = b.createBlock(&program.getBody());
  b.setInsertionPointToEnd(body);

  ProgramBuilder pb(b, hw);
  OpLowering lowering{pb, layout.tensors, layout.scratch};
  DenseMap<Operation *, int64_t> layers = assignLayers(func.getBody().front());
  for (Operation &op : func.getBody().front()) {
    pb.setLoc(op.getLoc());
    auto layer = layers.find(&op);
    pb.setLayer(layer == layers.end() ? std::nullopt
                                      : std::optional<int64_t>(layer->second));
    if (auto c = dyn_cast<arith::ConstantOp>(op)) {
      SegmentOp::create(b, op.getLoc(),
                        b.getI64IntegerAttr(layout.tensors[c].ref.addr),
                        cast<ElementsAttr>(c.getValue()));
      continue;
    }
    if (llvm::isa<func::ReturnOp, ReshapeOp>(op) || readsHeadsInPlace(&op) ||
        readsColumnsInPlace(&op))
      continue;
    if (auto dq = dyn_cast<DequantizeOp>(op);
        dq && layout.tensors[dq.getResult()].ref.packed())
      continue; // attention reads the fixed-point rows directly
    if (failed(lowering.lower(&op)))
      return failure();
    pb.sync();
  }
  pb.setLoc(func.getLoc());
  pb.emit(Opcode::Halt, {});
  func.erase();
  return success();
}
