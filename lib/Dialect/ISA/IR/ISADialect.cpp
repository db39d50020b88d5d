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
      .Case([](BindOp) { return Opcode::Bind; })
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

Operation *isa::getBoundOp(BindOp bind) {
  Operation *next = bind->getNextNode();
  while (next && llvm::isa<BindOp>(next))
    next = next->getNextNode();
  return next;
}

SmallVector<BindOp> isa::getBinds(Operation *op) {
  SmallVector<BindOp> binds;
  for (Operation *prev = op->getPrevNode(); prev && llvm::isa<BindOp>(prev);
       prev = prev->getPrevNode())
    binds.insert(binds.begin(), cast<BindOp>(prev));
  return binds;
}

/// The spec of the instruction `bind` patches; fails on the bind when
/// there is none, or it has no fields a bind may set.
static FailureOr<const OpcodeSpec *> boundSpec(BindOp bind) {
  Operation *bound = getBoundOp(bind);
  std::optional<Opcode> opcode = bound ? getOpcode(bound) : std::nullopt;
  if (!opcode)
    return bind.emitOpError("must precede an instruction");
  if (!isBindable(*opcode))
    return bind.emitOpError("precedes '")
           << bound->getName() << "', which has no field to bind";
  return &kOpcodeSpecs[unsigned(*opcode)];
}

/// The value of BIND `field`: the index of the named field in the table
/// of the instruction the bind patches.
static FailureOr<uint64_t> boundFieldIndex(BindOp bind) {
  FailureOr<const OpcodeSpec *> spec = boundSpec(bind);
  if (failed(spec))
    return failure();
  StringRef name = bind.getField();
  if (std::optional<unsigned> index = fieldIndex(
          **spec, std::string_view(name.data(), name.size())))
    return uint64_t(*index);
  return bind.emitOpError("field '")
         << name << "' is not a field of '" << getBoundOp(bind)->getName()
         << "'";
}

FailureOr<Instr> isa::encodeInstruction(Operation *op) {
  std::optional<Opcode> opcode = getOpcode(op);
  if (!opcode)
    return op->emitOpError("is not an instruction");
  const OpcodeSpec &spec = kOpcodeSpecs[unsigned(*opcode)];
  Instr inst;
  inst.set(kOpcodeField, uint64_t(*opcode));
  std::optional<uint64_t> bindField;
  if (auto bind = dyn_cast<BindOp>(op)) {
    FailureOr<uint64_t> index = boundFieldIndex(bind);
    if (failed(index))
      return failure();
    bindField = *index;
  }
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
    std::optional<uint64_t> v =
        bindField && f.name == fields::Bind::field.name ? bindField
                                                    : fieldValue(op, f.name);
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

LogicalResult BindOp::verify() {
  FailureOr<Instr> inst = encodeInstruction(*this);
  if (failed(inst))
    return failure();
  if (inst->get(kDepWaitField) || inst->get(kDepSignalField))
    return emitOpError("carries no dependency tokens (the instruction it "
                       "patches does)");
  if (getSource() >= int64_t(kBindSourceNames.size()))
    return emitOpError("source ") << getSource() << " is not a bind source "
                                  << "(0 register, 1 table)";
  if (getLo() > getHi())
    return emitOpError("lo ") << getLo() << " exceeds hi " << getHi();
  const OpcodeSpec &spec = **boundSpec(*this);
  const Field &field = spec.fields[inst->get(fields::Bind::field)];
  if (getLo() < 0 || uint64_t(getHi()) > fieldMask(field))
    return emitOpError("[lo, hi] = [")
           << getLo() << ", " << getHi() << "] does not fit field '"
           << getField() << "' (" << unsigned(field.width) << " bits)";
  for (BindOp other : getBinds(getBoundOp(*this)))
    if (other != *this && other.getField() == getField())
      return emitOpError("binds field '")
             << getField() << "' of the same instruction twice";
  return success();
}

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
