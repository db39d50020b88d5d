//===- Unit.h - What the simulator's functional units share -----*- C++ -*-===//
//
// Private to lib/Sim. One functional model per accelerator unit, each in
// its own file (Dma, Gemm, Attention, Vector, Topk), operating on the
// Machine. Every unit checks each field before it uses it, and before the
// instruction changes any state where it can: a bad program yields an
// llvm::Error naming the instruction index, mnemonic and field
// (docs/Simulator.md, "Execution"). docs/ISA.md defines the semantics.
//
// A unit reads all of its SRAM operands (in place, or copied into dense
// Eigen matrices) before it writes its output, so that an output may
// overlap an input exactly as on hardware that reads before it writes.
// Eigen's SIMD width decides summation order: every file that
// includes this header is built with the same target flags
// (lib/Sim/CMakeLists.txt).
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_LIB_SIM_UNITS_UNIT_H
#define SPATTEN_LIB_SIM_UNITS_UNIT_H

#include "../Machine.h"

#include "spatten/Sim/Timing/Engine.h"
#include "spatten/Sim/Timing/Latency.h"

#include "llvm/Support/Error.h"

#include <Eigen/Core>

#include <optional>
#include <vector>

namespace spatten::sim {

// The units speak the ISA's terms and return LLVM errors.
using namespace isa;
using llvm::Error;
using llvm::Expected;

using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// A checked SRAM operand: rows x cols elements of `buf`, row r at element
/// off + r*stride.
struct Operand {
  isa::Buffer buf;
  uint64_t off, stride, rows, cols;
  uint64_t at(uint64_t r, uint64_t c) const { return off + r * stride + c; }
};

using isa::OperandFields;

/// Elements an instruction writes into K or V, at `bits` each: the rows of
/// `op` set in `rows` (all when empty).
struct SramWrite {
  Operand op;
  unsigned bits;
  std::vector<bool> rows;
};

/// What an executed instruction hands to the timeline.
struct UnitOutput {
  /// Its writes into K and V, whose widths commitWidths records once the
  /// instruction succeeded.
  std::vector<SramWrite> writes;
  /// Cycles of a data-dependent instruction (TOPK, ATTN finish and values,
  /// a DMA); unset: sim::estimateCycles.
  std::optional<uint64_t> cycles;
  /// The DRAM rows a DMA moved, for the DRAM model.
  std::vector<timing::DramRow> dramRows;
  /// ATTN: its query rows for the attention pipeline model
  /// (docs/Simulator.md, "Attention pipeline model"); the engine runs them
  /// in place of `cycles`.
  std::optional<timing::AttnWork> attnWork;
};

/// The `layer` field of `op`'s layout (the report's layer + 1, 0: none),
/// or nullptr for `halt` and `sync`.
const isa::Field *layerField(isa::Opcode op);

/// One instruction on its functional unit: its fields, the machine it
/// changes, the checked decoding of its operands, and its diagnostics. The
/// units derive from it.
class UnitInstr {
public:
  UnitInstr(Machine &machine, const isa::Instr &inst, uint64_t pc,
            const isa::OpcodeSpec &spec, UnitOutput &out)
      : machine(machine), inst(inst), pc(pc), spec(spec), out(out) {}

  /// "instruction PC (MNEMONIC): field 'FIELD': MSG".
  llvm::Error error(llvm::StringRef field, const llvm::Twine &msg) const;
  llvm::Error error(const isa::Field &f, const llvm::Twine &msg) const {
    return error(llvm::StringRef(f.name), msg);
  }

protected:
  uint64_t get(const isa::Field &f) const { return inst.get(f); }
  /// An fp32 field's value.
  float getFloat(const isa::Field &f) const {
    return isa::bitsFloat(inst.get(f));
  }

  /// Fails when the `flags` field has a bit outside `allowed`.
  llvm::Error checkFlags(const isa::Field &flags, uint64_t allowed) const;

  /// Decodes an operand the instruction reads, rows x cols of `fields`,
  /// checked against its buffer; `allowIdx` admits the int32 IDX buffer.
  /// In K and V its last element must lie within the buffer's elements at
  /// the widest width among the elements read (docs/ISA.md, "SRAM
  /// operands"): every row, or those set in `onlyRows`.
  llvm::Expected<Operand> operand(const OperandFields &fields, uint64_t rows,
                                  uint64_t cols, bool allowIdx = false,
                                  const std::vector<bool> *onlyRows = nullptr) const;
  /// An operand the instruction writes with elements `bits` wide (checked
  /// against the buffer's elements at that width, noted for commitWidths):
  /// rows must not overlap either, or the result would depend on the write
  /// order.
  llvm::Expected<Operand> output(const OperandFields &fields, uint64_t rows,
                                 uint64_t cols, bool allowIdx = false,
                                 unsigned bits = isa::kWordBits) const;
  /// Notes that the instruction writes `op` with elements `bits` wide.
  void noteWrite(const Operand &op, unsigned bits = isa::kWordBits) const;

  /// Fails unless the last element of `op` lies within its buffer's
  /// elements for data `bits` wide.
  llvm::Error checkExtent(const OperandFields &fields, const Operand &op,
                          unsigned bits) const;
  llvm::Expected<Operand> decode(const OperandFields &fields, uint64_t rows,
                                 uint64_t cols, bool allowIdx) const;

  /// The operand's elements in place: rows x cols, row-major, the
  /// operand's stride apart (0 repeats one row), valid until SRAM changes.
  using View = Eigen::Map<const Mat, Eigen::Unaligned, Eigen::OuterStride<>>;
  View view(const Operand &op) const;
  /// The operand's elements as a rows x cols matrix.
  Mat read(const Operand &op) const;
  void write(const Operand &op, const Mat &m);
  /// Writes `m` + the operand's elements into them, in place: the sums
  /// write(op, m + read(op)) would write.
  void addInto(const Operand &op, const Mat &m);

  /// The report's counters of the instruction's layer, or nullptr when its
  /// `layer` field is 0.
  LayerCounters *layer();

  Machine &machine;
  const isa::Instr &inst;
  const uint64_t pc; ///< index in .text, for messages and seeds
  const isa::OpcodeSpec &spec;
  UnitOutput &out;
};

/// Records the widths of `out`'s writes into K and V (docs/ISA.md, "SRAM
/// operands"), after its instruction succeeded.
void commitWidths(Machine &machine, const UnitOutput &out);

/// load (`toSram`, not `gather`), store, gather (`toSram`, `gather`) and
/// scatter: Dma.cpp.
llvm::Error executeDma(const UnitInstr &instr, bool toSram, bool gather);
llvm::Error executeGemm(const UnitInstr &instr);
llvm::Error executeAttn(const UnitInstr &instr);
llvm::Error executeVec(const UnitInstr &instr);
llvm::Error executeTopk(const UnitInstr &instr);

/// Decodes a `bind` (its header already checked) and holds it for the next
/// instruction: Bind.cpp. Errors name the bind; its dependency fields must
/// be 0.
llvm::Error holdBind(Machine &machine, const isa::Instr &bind, uint64_t pc);
/// `inst` (at `pc`, of `spec`) with the pending binds applied, which are
/// then cleared: each bound field takes clamp(add + mul * x, lo, hi)
/// (docs/ISA.md, "bind"). Errors name the bind and its field: an opcode
/// without fields to bind, a field index past its table, a field bound
/// twice, lo > hi, 64-bit overflow, a value that does not fit the field,
/// a table entry past DRAM.
llvm::Expected<isa::Instr> applyBinds(Machine &machine, isa::Instr inst,
                                      const isa::OpcodeSpec &spec);
/// The error for binds still pending when the program's code ends, naming
/// the first of them.
llvm::Error unboundError(Machine &machine);

/// Products of fewer multiply-accumulates, and elementwise libm functions
/// (tens of nanoseconds each) of fewer elements, stay on one thread:
/// handing half to the helper costs about as much as it saves.
constexpr uint64_t kMinSplitMacs = uint64_t(1) << 22;
constexpr uint64_t kMinSplitElements = uint64_t(1) << 13;

/// `f(lo, n)` on rows [lo, lo + n) of [0, rows): rows [0, split) on
/// `helper` and the rest here, or all here when `helper` is null or `split`
/// is 0.
template <typename F>
void onTwoThreads(llvm::ThreadPoolInterface *helper, Eigen::Index split,
                  Eigen::Index rows, F f) {
  if (!helper || !split) {
    f(0, rows);
    return;
  }
  auto top = helper->async([&] { f(0, split); });
  f(split, rows - split);
  top.wait();
}

/// `a` (m x k) times `b` (k x n), times `alpha` when given, as Eigen
/// evaluates that expression. A large product computes its top rows on
/// `helper` (Machine::gemmHelper(); none when null), split at a multiple of
/// the rows Eigen's kernel takes at once (gebp's mr). Eigen blocks k by k
/// alone and rows by multiples of mr, so each row takes the same kernel
/// path, and gets the same bits, as in the whole product.
template <typename Lhs, typename Rhs>
Mat splitProduct(const Lhs &a, const Rhs &b, llvm::ThreadPoolInterface *helper,
                 std::optional<float> alpha = std::nullopt) {
  auto times = [&](auto &&lhs) -> Mat {
    return alpha ? Mat(*alpha * (lhs * b)) : Mat(lhs * b);
  };
  constexpr Eigen::Index mr = Eigen::internal::gebp_traits<float, float>::mr;
  Eigen::Index m = a.rows(), split = m / 2 / mr * mr;
  if (!helper || !split ||
      uint64_t(m) * uint64_t(b.rows()) * uint64_t(b.cols()) < kMinSplitMacs)
    return times(a);
  Mat result(m, b.cols());
  onTwoThreads(helper, split, m, [&](Eigen::Index lo, Eigen::Index n) {
    if (alpha)
      result.middleRows(lo, n).noalias() = *alpha * (a.middleRows(lo, n) * b);
    else
      result.middleRows(lo, n).noalias() = a.middleRows(lo, n) * b;
  });
  return result;
}

/// `f(lo, n)` on rows [lo, lo + n) of an elementwise computation over
/// `rows` x `cols` elements: rows [0, rows / 2) on `helper` when it is
/// large, the rest here. Each row's result must not depend on the others.
template <typename F>
void splitRows(Eigen::Index rows, Eigen::Index cols,
               llvm::ThreadPoolInterface *helper, F f) {
  bool large = uint64_t(rows * cols) >= kMinSplitElements;
  onTwoThreads(large ? helper : nullptr, rows / 2, rows, f);
}

/// Row-wise softmax in place (the vector unit's and the attention unit's).
/// A row whose every score is -inf (all keys masked) becomes all zeros
/// instead of NaN.
void softmaxRows(Mat &s);

} // namespace spatten::sim

#endif // SPATTEN_LIB_SIM_UNITS_UNIT_H
