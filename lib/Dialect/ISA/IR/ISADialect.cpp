//===- ISADialect.cpp - SpAtten ISA dialect -------------------------------===//

#include "spatten/Dialect/ISA/IR/ISAOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

#include "spatten/Dialect/ISA/IR/ISAOpsDialect.cpp.inc"

void ISADialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "spatten/Dialect/ISA/IR/ISAOps.cpp.inc"
      >();
}

std::optional<Opcode> isa::getOpcode(Operation *op) {
  return llvm::TypeSwitch<Operation *, std::optional<Opcode>>(op)
      .Case([](HaltOp) { return Opcode::Halt; })
      .Case([](SyncOp) { return Opcode::Sync; })
      .Case([](LoadOp) { return Opcode::Load; })
      .Case([](StoreOp) { return Opcode::Store; })
      .Case([](GatherOp) { return Opcode::Gather; })
      .Case([](GemmOp) { return Opcode::Gemm; })
      .Case([](AttnOp) { return Opcode::Attn; })
      .Case([](VecOp) { return Opcode::Vec; })
      .Case([](TopkOp) { return Opcode::Topk; })
      .Case([](ScatterOp) { return Opcode::Scatter; })
      .Default([](Operation *) { return std::nullopt; });
}

/// The raw field value of attribute `name`: i64 as is, f32 as its bits.
static std::optional<uint64_t> fieldValue(Operation *op, std::string_view name) {
  Attribute attr = op->getAttr(StringRef(name.data(), name.size()));
  if (auto i = dyn_cast_or_null<IntegerAttr>(attr))
    return uint64_t(i.getInt());
  if (auto f = dyn_cast_or_null<FloatAttr>(attr))
    return floatBits(float(f.getValueAsDouble()));
  return std::nullopt;
}

FailureOr<Instr> isa::encodeInstruction(Operation *op) {
  std::optional<Opcode> opcode = getOpcode(op);
  if (!opcode)
    return op->emitOpError("is not an instruction");
  const OpcodeSpec &spec = kOpcodeSpecs[unsigned(*opcode)];
  Instr inst;
  inst.set(kOpcodeField, uint64_t(*opcode));
  auto setField = [&](const Field &f, uint64_t v) -> LogicalResult {
    if (inst.set(f, v))
      return success();
    return op->emitOpError("field '")
           << f.name << "' value " << int64_t(v) << " does not fit "
           << unsigned(f.width) << " bits";
  };
  for (const Field &f : {kDepWaitField, kDepSignalField})
    if (std::optional<uint64_t> v = fieldValue(op, f.name))
      if (failed(setField(f, *v)))
        return failure();
  for (unsigned i = 0; i < spec.numFields; ++i) {
    const Field &f = spec.fields[i];
    std::optional<uint64_t> v = fieldValue(op, f.name);
    if (!v)
      return op->emitOpError("missing field '") << f.name << "'";
    if (failed(setField(f, *v)))
      return failure();
  }
  return inst;
}

static LogicalResult verifyInstruction(Operation *op) {
  return success(succeeded(encodeInstruction(op)));
}

#define VERIFY_WITH_SPEC(OP)                                                   \
  LogicalResult OP::verify() { return verifyInstruction(*this); }
VERIFY_WITH_SPEC(HaltOp)
VERIFY_WITH_SPEC(SyncOp)
VERIFY_WITH_SPEC(LoadOp)
VERIFY_WITH_SPEC(StoreOp)
VERIFY_WITH_SPEC(GatherOp)
VERIFY_WITH_SPEC(GemmOp)
VERIFY_WITH_SPEC(AttnOp)
VERIFY_WITH_SPEC(VecOp)
VERIFY_WITH_SPEC(TopkOp)
VERIFY_WITH_SPEC(ScatterOp)
#undef VERIFY_WITH_SPEC

LogicalResult ProgramOp::verify() {
  Block &body = getBody().front();
  if (body.empty() || !llvm::isa<HaltOp>(body.back()))
    return emitOpError("must end with spatten_isa.halt");
  if (getDramSize() < getRodataSize())
    return emitOpError("dram_size is smaller than rodata_size");
  for (SegmentOp seg : body.getOps<SegmentOp>()) {
    auto type = cast<ShapedType>(seg.getValue().getType());
    int64_t bytes = type.getNumElements() *
                    ((type.getElementTypeBitWidth() + 7) / 8);
    if (seg.getAddr() < 0 || seg.getAddr() + bytes > getRodataSize())
      return seg.emitOpError("lies outside .rodata (")
             << getRodataSize() << " bytes)";
  }
  return success();
}

#define GET_OP_CLASSES
#include "spatten/Dialect/ISA/IR/ISAOps.cpp.inc"
