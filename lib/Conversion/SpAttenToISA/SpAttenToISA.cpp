//===- SpAttenToISA.cpp - Tile spatten ops into ISA instructions ----------===//
//
// Lays out every tensor in DRAM (constants in .rodata from address 0,
// graph inputs and intermediate results in an arena after it; reshapes
// alias their input), then lowers each spatten op in program order to DMA,
// GEMM, ATTN and VEC instructions tiled to the SRAM buffers of the hardware
// configuration, with a SYNC after each op.
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

/// Assigns byte addresses to constants (.rodata) and to every other tensor
/// (the arena that follows it).
struct Layout {
  llvm::DenseMap<Value, Tensor> tensors;
  int64_t rodataSize = 0;
  int64_t arenaTop = 0;

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
        Tensor t = tensors.lookup(reshape.getInput());
        t.shape.assign(reshape.getType().getShape().begin(),
                       reshape.getType().getShape().end());
        tensors[reshape.getResult()] = t;
        continue;
      }
      for (Value res : op.getResults())
        if (failed(place(res, arenaTop, TensorClass::Activation)))
          return failure();
    }
    return success();
  }
};

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
  OpLowering lowering{pb, layout.tensors};
  for (Operation &op : func.getBody().front()) {
    pb.setLoc(op.getLoc());
    if (auto c = dyn_cast<arith::ConstantOp>(op)) {
      SegmentOp::create(b, op.getLoc(),
                        b.getI64IntegerAttr(layout.tensors[c].ref.addr),
                        cast<ElementsAttr>(c.getValue()));
      continue;
    }
    if (llvm::isa<func::ReturnOp, ReshapeOp>(op))
      continue;
    if (failed(lowering.lower(&op)))
      return failure();
    pb.sync();
  }
  pb.setLoc(func.getLoc());
  pb.emit(Opcode::Halt, {});
  func.erase();
  return success();
}
