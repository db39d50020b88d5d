//===- Unit.cpp - Operand decoding and diagnostics the units share --------===//

#include "Unit.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>

using namespace spatten;
using namespace spatten::sim;

const Field *sim::layerField(Opcode op) {
  switch (op) {
  case Opcode::Load:
  case Opcode::Store:
  case Opcode::Gather:
  case Opcode::Scatter:
    return &fields::Dma::layer; // gather and scatter share its position
  case Opcode::Gemm: return &fields::Gemm::layer;
  case Opcode::Attn: return &fields::Attn::layer;
  case Opcode::Vec: return &fields::Vec::layer;
  case Opcode::Topk: return &fields::Topk::layer;
  case Opcode::Halt:
  case Opcode::Sync:
  case Opcode::Bind:
    return nullptr;
  }
  return nullptr;
}

Error UnitInstr::error(llvm::StringRef field, const llvm::Twine &msg) const {
  return llvm::createStringError(
      llvm::inconvertibleErrorCode(),
      llvm::formatv("instruction {0} ({1}): field '{2}': ", pc, spec.mnemonic,
                    field) +
          msg);
}

Error UnitInstr::checkFlags(const Field &flagsField, uint64_t allowed) const {
  uint64_t flags = get(flagsField);
  if (flags & ~allowed)
    return error(flagsField,
                 llvm::formatv("unknown bits {0:x} (defined: {1:x})",
                               flags & ~allowed, allowed));
  return Error::success();
}

Expected<Operand> UnitInstr::decode(const OperandFields &fields,
                                    uint64_t rows, uint64_t cols,
                                    bool allowIdx) const {
  uint64_t b = get(fields.buf);
  if (b >= kNumBuffers)
    return error(fields.buf, llvm::formatv("{0} is not a buffer (0..{1})", b,
                                           kNumBuffers - 1));
  // An operand the instruction does not touch (0 rows or cols) may keep
  // its fields at zero, which names the idx buffer.
  if (Buffer(b) == Buffer::Idx && !allowIdx && rows && cols)
    return error(fields.buf, "the idx buffer holds int32 indices and cannot "
                             "be an fp32 operand");
  return Operand{Buffer(b), get(fields.off), get(fields.stride), rows, cols};
}

Error UnitInstr::checkExtent(const OperandFields &fields, const Operand &op,
                             unsigned bits) const {
  if (!op.rows || !op.cols)
    return Error::success();
  uint64_t end = op.at(op.rows - 1, op.cols);
  uint64_t size = machine.bufferElems(op.buf, bits);
  if (end <= size)
    return Error::success();
  std::string width = HardwareConfig::holdsLoadedWidth(op.buf)
                          ? llvm::formatv(" of {0} bits", bits).str()
                          : std::string();
  return error(fields.off,
               llvm::formatv("{0} rows x {1} cols at offset {2} with stride "
                             "{3} reach element {4}, past the {5} buffer ({6} "
                             "elements{7})",
                             op.rows, op.cols, op.off, op.stride, end,
                             kBufferNames[unsigned(op.buf)], size, width));
}

Expected<Operand> UnitInstr::operand(const OperandFields &fields,
                                     uint64_t rows, uint64_t cols,
                                     bool allowIdx,
                                     const std::vector<bool> *onlyRows) const {
  auto op = decode(fields, rows, cols, allowIdx);
  if (!op || !rows || !cols)
    return op;
  // K and V elements are read at the width they hold; past the elements
  // the buffer holds at its narrowest width, nothing is allocated to scan.
  unsigned bits = isa::kWordBits;
  if (HardwareConfig::holdsLoadedWidth(op->buf)) {
    bits = isa::kMinFixedPointBits;
    if (op->at(rows - 1, cols) <= machine.bufferElems(op->buf, bits))
      bits = machine.widestWidth(op->buf, op->off, op->stride, rows, cols,
                                 onlyRows);
  }
  if (Error e = checkExtent(fields, *op, bits))
    return std::move(e);
  return op;
}

Expected<Operand> UnitInstr::output(const OperandFields &fields, uint64_t rows,
                                    uint64_t cols, bool allowIdx,
                                    unsigned bits) const {
  auto op = decode(fields, rows, cols, allowIdx);
  if (!op)
    return op;
  if (Error e = checkExtent(fields, *op, bits))
    return std::move(e);
  if (rows > 1 && op->stride < cols)
    return error(fields.stride,
                 llvm::formatv("{0} is less than the {1} columns written "
                               "per row, so output rows would overlap",
                               op->stride, cols));
  noteWrite(*op, bits);
  return op;
}

void UnitInstr::noteWrite(const Operand &op, unsigned bits) const {
  if (HardwareConfig::holdsLoadedWidth(op.buf) && op.rows && op.cols)
    out.writes.push_back({op, bits, {}});
}

void sim::commitWidths(Machine &machine, const UnitOutput &out) {
  for (const SramWrite &w : out.writes)
    for (uint64_t r = 0; r < w.op.rows; ++r)
      if (w.rows.empty() || w.rows[r])
        machine.setWidth(w.op.buf, w.op.at(r, 0), w.op.cols, w.bits);
}

UnitInstr::View UnitInstr::view(const Operand &op) const {
  // The operand's extent was checked against its buffer.
  auto rows = Eigen::Index(op.rows), cols = Eigen::Index(op.cols);
  if (!op.rows || !op.cols)
    return View(nullptr, rows, cols, Eigen::OuterStride<>(0));
  uint64_t rowStride;
  if (const float *p = machine.lazyRows(op.buf, op.off, op.stride, op.rows,
                                        op.cols, rowStride))
    return View(p, rows, cols, Eigen::OuterStride<>(Eigen::Index(rowStride)));
  const std::vector<float> &buf =
      machine.buffer(op.buf, op.off, op.at(op.rows - 1, op.cols));
  return View(buf.data() + op.off, rows, cols,
              Eigen::OuterStride<>(Eigen::Index(op.stride)));
}

Mat UnitInstr::read(const Operand &op) const {
  // One strided copy (a stride of 0 broadcasts a row).
  return view(op);
}

void UnitInstr::write(const Operand &op, const Mat &m) {
  // Output rows never overlap (checked), so each row is one copy; a write
  // clears the MSB codes of what it overwrites, as setElement does.
  if (!op.rows || !op.cols)
    return;
  std::vector<float> &buf =
      machine.bufferForOverwrite(op.buf, op.off, op.stride, op.rows, op.cols);
  std::vector<MsbCode> &codes = machine.msbCodes[unsigned(op.buf)];
  for (uint64_t r = 0; r < op.rows; ++r) {
    std::copy_n(m.row(Eigen::Index(r)).data(), op.cols, &buf[op.at(r, 0)]);
    if (!codes.empty())
      std::fill_n(&codes[op.at(r, 0)], op.cols, MsbCode());
  }
}

void UnitInstr::addInto(const Operand &op, const Mat &m) {
  if (!op.rows || !op.cols)
    return;
  std::vector<float> &buf =
      machine.buffer(op.buf, op.off, op.at(op.rows - 1, op.cols));
  std::vector<MsbCode> &codes = machine.msbCodes[unsigned(op.buf)];
  for (uint64_t r = 0; r < op.rows; ++r) {
    Eigen::Map<Eigen::RowVectorXf> row(&buf[op.at(r, 0)],
                                       Eigen::Index(op.cols));
    row = m.row(Eigen::Index(r)) + row;
    if (!codes.empty())
      std::fill_n(&codes[op.at(r, 0)], op.cols, MsbCode());
  }
}

LayerCounters *UnitInstr::layer() {
  const Field *f = layerField(spec.opcode);
  return f ? machine.rep.layer(get(*f)) : nullptr;
}
