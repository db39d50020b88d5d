//===- Spec.h - The SpAtten ISA written down as data ------------*- C++ -*-===//
//
// Every instruction is kInstrBytes long: kInstrWords little-endian 64-bit
// words. Word 0 carries the opcode and the dependency tokens; every other
// field is listed in the per-opcode tables below as (word, lsb, width). The
// compiler's binary emitter, the simulator's decoder, the disassembler and
// docs/ISA.md all read these tables, so there is one source of truth.
//
// This header has no dependencies beyond the C++ standard library: the
// simulator includes it without MLIR or LLVM.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_ISA_SPEC_H
#define SPATTEN_ISA_SPEC_H

#include <array>
#include <optional>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace spatten::isa {

constexpr unsigned kInstrWords = 8;
constexpr unsigned kInstrBytes = kInstrWords * 8;

enum class Opcode : uint8_t {
  Halt = 0,   ///< Stop the program.
  Sync = 1,   ///< Wait until every earlier instruction has finished.
  Load = 2,   ///< DMA: strided 2-D copy DRAM -> SRAM.
  Store = 3,  ///< DMA: strided 2-D copy SRAM -> DRAM.
  Gather = 4, ///< DMA: rows of DRAM selected by the on-chip index list.
  Gemm = 5,   ///< GEMM tile: C[m,n] (+)= A[m,k] * B[k,n] (+ bias[n]).
  Attn = 6,   ///< One attention head: softmax(scale*Q*K^T + mask) * V.
  Vec = 7,    ///< Vector unit: elementwise ops, layer norm, softmax, GELU.
  Topk = 8,   ///< Top-k engine: the k best-scored entries of an index list.
  Scatter = 9, ///< DMA: SRAM rows to DRAM rows named by the index list.
  Bind = 10,   ///< Sets a field of the next instruction from a register.
};
constexpr unsigned kNumOpcodes = 11;

/// The control unit's register file (docs/ISA.md, "Registers"): unsigned
/// 32-bit registers r0..r15, all 0 when a run starts; the host sets some
/// before it, TOPK with TopkWriteCount writes one, `bind` reads them.
constexpr unsigned kNumRegisters = 16;

/// BIND `source`: where the bound value's `x` comes from. `Register`:
/// x = r[reg]; `Table`: x is the little-endian u32 at DRAM byte
/// `table + 4 * r[reg]` (a per-context-length table in .rodata). 2 and 3
/// are rejected.
enum class BindSource : uint8_t { Register = 0, Table = 1 };
constexpr std::array<std::string_view, 2> kBindSourceNames = {"register",
                                                              "table"};

/// On-chip SRAM buffers. IDX holds int32 entries, every other buffer fp32.
/// Sizes come from the hardware configuration (`*_buffer_bytes` fields).
enum class Buffer : uint8_t { Idx = 0, Act = 1, Wgt = 2, Acc = 3, Q = 4, K = 5, V = 6, Mask = 7 };
constexpr unsigned kNumBuffers = 8;
constexpr std::array<std::string_view, kNumBuffers> kBufferNames = {
    "idx", "act", "wgt", "acc", "q", "k", "v", "mask"};

/// Element widths of DMA data (docs/ISA.md, "load", `bits`): 32-bit fp32 or
/// integer data, or fixed point of kMinFixedPointBits..kMaxFixedPointBits.
constexpr unsigned kWordBits = 32;
constexpr unsigned kMinFixedPointBits = 2;
constexpr unsigned kMaxFixedPointBits = 16;

/// Tensor classes for DRAM traffic accounting (report.json `dram_bytes`).
/// The MSB/LSB classes are the two planes of progressive quantization.
enum class TensorClass : uint8_t {
  Weight = 0, Activation = 1, Q = 2, K = 3, V = 4,
  KMsb = 5, KLsb = 6, VMsb = 7, VLsb = 8, Index = 9,
};
constexpr unsigned kNumTensorClasses = 10;
constexpr std::array<std::string_view, kNumTensorClasses> kTensorClassNames = {
    "weights", "activations", "q", "k", "v", "k_msb", "k_lsb", "v_msb", "v_lsb",
    "index"};

/// Element types of DRAM data moved by DMA instructions. Loads convert to the
/// buffer's element type (int32 for IDX, fp32 otherwise); stores convert back.
enum class DType : uint8_t { F32 = 0, I64 = 1, I32 = 2 };
constexpr std::array<std::string_view, 3> kDTypeNames = {"f32", "i64", "i32"};
constexpr unsigned dtypeBytes(DType t) { return t == DType::I64 ? 8 : 4; }

/// DMA `plane` (progressive quantization, docs/ISA.md "Fixed-point DMA"):
/// the whole `bits`-wide code, its MSB plane (bits - lsb_bits wide) or its
/// LSB plane (lsb_bits wide). Only meaningful with bits < 32.
enum class Plane : uint8_t { Full = 0, Msb = 1, Lsb = 2 };
constexpr std::array<std::string_view, 3> kPlaneNames = {"full", "msb", "lsb"};

/// ATTN `phase` (docs/ISA.md, "attn"). `None` is a whole head in one
/// instruction. Progressive quantization (Sec. III-D) splits it: `Decide`
/// computes the probabilities with the keys in SRAM (MSB-only values), marks
/// the unconfident query rows and sets the predicate; `Finish` recomputes
/// the marked rows with the keys now in SRAM (full values) and keeps the
/// decide's probabilities for every other row. Local value pruning's V fetch
/// (Sec. III-C, "only the V rows kept are fetched") splits off prob*V: a
/// `None` or `Finish` with flag AttnDeferValues keeps the pruned P and the
/// value-row mask, and `Values` computes O = P*V once the kept V rows are in
/// SRAM.
enum class AttnPhase : uint8_t { None = 0, Decide = 1, Finish = 2, Values = 3 };
constexpr std::array<std::string_view, 4> kAttnPhaseNames = {
    "none", "decide", "finish", "values"};

/// DMA `pred`: when the instruction moves rows. `Unconfident` runs the
/// whole DMA only while the progressive-quantization predicate is set (the
/// LSB refetch); `ValueRows` moves SRAM row r of a load/gather only when
/// bit r of the pending value-row mask is set (the V rows kept by local
/// value pruning); `UnconfidentValueRows` needs both (the V LSB planes of a
/// head that refetched, `--pq-values` with value pruning).
enum class DmaPred : uint8_t {
  Always = 0,
  Unconfident = 1,
  ValueRows = 2,
  UnconfidentValueRows = 3
};
constexpr unsigned kNumDmaPreds = 4;

/// TOPK `role`: which SpAtten selection the instruction makes, for the
/// report only (cascade token pruning keeps tokens, cascade head pruning
/// keeps heads, Sec. III-A/B). No effect on execution. 3 is reserved.
enum class TopkRole : uint8_t { Other = 0, Tokens = 1, Heads = 2 };
constexpr std::array<std::string_view, 3> kTopkRoleNames = {"other", "tokens",
                                                            "heads"};

/// Attention mask kinds (ATTN `mask_kind`). Padding adds a per-key fp32 bias
/// row read from the mask operand; causal hides key j from query i when
/// j > i + causal_offset (the offset is the KV-cache length).
enum class MaskKind : uint8_t { None = 0, Padding = 1, Causal = 2, PaddingCausal = 3 };
constexpr unsigned kNumMaskKinds = 4;
constexpr std::array<std::string_view, kNumMaskKinds> kMaskKindNames = {
    "none", "padding", "causal", "padding_causal"};

/// Vector-unit functions (VEC `func`). Binary functions read y (or the
/// immediate when flag Imm is set); LayerNorm reads gamma from y and beta
/// from w, RmsNorm gamma from y, and both use imm as epsilon; Softmax,
/// LogSoftmax and the norms work per row; RowSum, RowMean and RowMax reduce
/// each row of x to one value, so z is `rows` x 1; Rotary rotates each row
/// of x (one head) by the cos row in y and the sin row in w; RowCumSum
/// writes each row's running sums (ONNX CumSum along the row, with flags
/// VecExclusive and VecReverse).
enum class VecFunc : uint8_t {
  Copy = 0,
  Add = 1,
  Sub = 2,
  Mul = 3,
  Div = 4,
  Pow = 5,
  Max = 6,
  Min = 7,
  Neg = 8,
  Exp = 9,
  Log = 10,
  Sqrt = 11,
  Recip = 12,
  Tanh = 13,
  Erf = 14,
  Sigmoid = 15,
  Relu = 16,
  GeluErf = 17,
  GeluTanh = 18,
  LayerNorm = 19,
  Softmax = 20,
  Abs = 21,
  RmsNorm = 22,
  LogSoftmax = 23,
  Silu = 24,
  RowSum = 25,
  RowMean = 26,
  RowMax = 27,
  Rotary = 28,
  RowCumSum = 29,
};
constexpr unsigned kNumVecFuncs = 30;
constexpr std::array<std::string_view, kNumVecFuncs> kVecFuncNames = {
    "copy",      "add",        "sub",      "mul",     "div",      "pow",
    "max",       "min",        "neg",      "exp",     "log",      "sqrt",
    "recip",     "tanh",       "erf",      "sigmoid", "relu",     "gelu_erf",
    "gelu_tanh", "layer_norm", "softmax",  "abs",     "rms_norm", "log_softmax",
    "silu",      "row_sum",    "row_mean", "row_max", "rotary",   "row_cumsum"};
/// Number of y/imm inputs a function reads (0 unary, 1 binary).
constexpr bool vecFuncIsBinary(VecFunc f) {
  return f >= VecFunc::Add && f <= VecFunc::Min;
}
/// Functions whose result is one value per row (z is `rows` x 1).
constexpr bool vecFuncReducesRows(VecFunc f) {
  return f >= VecFunc::RowSum && f <= VecFunc::RowMax;
}
/// The normalizations, which take epsilon from imm and gamma from y.
constexpr bool vecFuncIsNorm(VecFunc f) {
  return f == VecFunc::LayerNorm || f == VecFunc::RmsNorm;
}

/// VEC `flags` bits.
enum VecFlags : uint8_t {
  VecYImm = 1,           ///< y is the fp32 immediate `imm`, not an operand.
  VecYPerRow = 2,        ///< y holds one value per row (column broadcast).
  VecSwap = 4,           ///< compute y op x instead of x op y (e.g. 1 - x).
  VecEpsOutsideSqrt = 8, ///< a norm divides by sqrt(statistic) + imm.
  VecExclusive = 16,     ///< RowCumSum: z[c] sums the elements before c.
  VecReverse = 32,       ///< RowCumSum: sums run from the row's end.
};
/// GEMM `flags` bits.
enum GemmFlags : uint8_t {
  GemmAccumulate = 1, ///< C += A*B instead of C = A*B.
  GemmBias = 2,       ///< add bias[n] (bias operand) to every row.
  GemmTransposeB = 4, ///< B is stored [n,k] (row stride over n).
};
/// ATTN `flags` bits.
enum AttnFlags : uint8_t {
  /// Cascade token pruning: imp[j] += sum over query rows of P[i,j].
  AttnAccumulateImportance = 1,
  /// The padding mask is a 0/1 selector m, not an additive bias: scores
  /// become s*m + mask_fill*(1-m) (Hugging Face GPT-2's `w*b - 1e4*(1-b)`).
  AttnMaskSelect = 2,
  /// Cascade head pruning: head_imp[head_imp_off] += sum_i sum_d |O[i,d]|.
  AttnHeadImportance = 4,
  /// Stop before prob*V: keep the pruned P and the value-row mask in the
  /// attention unit for a later `values` phase (phase none or finish, or
  /// an apply pass).
  AttnDeferValues = 8,
  /// Statistics pass over one fill of a key range longer than one K/V
  /// buffer fill: folds each query row's running max and sum of exp into
  /// the attention unit's state (the first after an apply pass, or ever,
  /// starts it anew). Reads Q, K and the mask; writes no O. In phase
  /// `decide` it also marks the unconfident rows (progressive
  /// quantization); in phase `finish` it folds the marked rows' full-key
  /// scores into statistics of their own. With `vk` it keeps the scores
  /// for local value pruning's selection.
  AttnFillStats = 16,
  /// Apply pass over one fill: P = exp(s - m) / l with the statistics'
  /// final m and l, importance on P, O += P*V (the first apply after the
  /// statistics overwrites O); `decide` and `finish` split it around the
  /// fill's LSB load. In phase `values`: O += P*V of the deferred P.
  AttnFillApply = 32,
};
/// With a fill flag, `causal_offset` is a signed 16-bit value: a query
/// row's position minus the fill's first key (negative when the fill lies
/// past the row). Without one it is unsigned.
constexpr int64_t attnCausalOffset(uint64_t bits, uint64_t flags) {
  return (flags & (AttnFillStats | AttnFillApply)) ? int64_t(int16_t(bits))
                                                   : int64_t(bits);
}
/// TOPK `flags` bits.
enum TopkFlags : uint8_t {
  /// Candidate i's score is s[s_off + cand[i]] (scores indexed by the
  /// candidate's value, e.g. importance over all L0 tokens) instead of
  /// s[s_off + i].
  TopkScoresByIndex = 1,
  /// The candidates are 0..n-1; the idx buffer is not read (in_off unused).
  TopkIota = 2,
  /// Writes the number selected, min(k, n), to register `count_reg` (a
  /// data-dependent count later instructions bind their row counts to).
  TopkWriteCount = 4,
  /// Candidates scoring -inf are dropped before the selection (the zero
  /// eliminator's compaction), so fewer than k may be selected: the pruned
  /// tokens of cascade token pruning across decode steps.
  TopkDropNegInf = 8,
};

/// Instruction queues of the accelerator (docs/ISA.md, "Queues and
/// dependencies"). Each queue runs its instructions in program order, one
/// at a time; instructions of different queues overlap unless a
/// dependency token (`dep_wait`/`dep_signal`) or a `sync` orders them.
enum class Queue : uint8_t { Load = 0, Compute = 1, Store = 2 };
constexpr unsigned kNumQueues = 3;
constexpr std::array<std::string_view, kNumQueues> kQueueNames = {
    "load", "compute", "store"};

/// The queue of an opcode; `sync` and `halt` belong to none (they wait for
/// every queue).
constexpr std::optional<Queue> queueOf(Opcode op) {
  switch (op) {
  case Opcode::Load:
  case Opcode::Gather:
    return Queue::Load;
  case Opcode::Store:
  case Opcode::Scatter:
    return Queue::Store;
  case Opcode::Gemm:
  case Opcode::Attn:
  case Opcode::Vec:
  case Opcode::Topk:
    return Queue::Compute;
  case Opcode::Halt:
  case Opcode::Sync:
  case Opcode::Bind: // decoded with the instruction it patches
    return std::nullopt;
  }
  return std::nullopt;
}

/// Queue bits of `dep_wait` and `dep_signal` (docs/ISA.md, "Queues and
/// dependencies"): an instruction pushes a token to each queue its
/// `dep_signal` names when it finishes, and takes the oldest token from
/// each queue its `dep_wait` names before it starts.
enum DepWait : uint8_t { WaitLoad = 1, WaitCompute = 2, WaitStore = 4 };
constexpr uint8_t waitBit(Queue q) { return uint8_t(1u << unsigned(q)); }

/// One field of an instruction word.
struct Field {
  std::string_view name;
  uint8_t word;
  uint8_t lsb;
  uint8_t width;
  bool fp32 = false; ///< the bits are an IEEE fp32 value
};

// Common header in word 0 for every opcode.
constexpr Field kOpcodeField = {"opcode", 0, 0, 8};
constexpr Field kDepWaitField = {"dep_wait", 0, 8, 4};
constexpr Field kDepSignalField = {"dep_signal", 0, 12, 4};

// The field tables, one X-macro per instruction layout: X(MEMBER, NAME, WORD,
// LSB, WIDTH, FP32). Each expands into a struct of named constants
// (`fields::Dma::rows`, for typed access by the compiler and the simulator)
// and an array (`kDmaFields`, for table walks by name: the ISA dialect's
// verifier, the binary emitter, the disassembler and docs/ISA.md).

// An SRAM operand is (buffer, element offset, row stride in elements).
// Besides its three fields it expands `X##_OPERAND(M)`, so every X comes
// with an X_OPERAND: the struct form declares the triple as one
// `OperandFields` member (`fields::Gemm::a`), the array form nothing.
#define SPATTEN_ISA_OPERAND(X, M, NAME, WORD)                                 \
  X(M##Buf, NAME "_buf", WORD, 0, 4, false)                                   \
  X(M##Off, NAME "_off", WORD, 4, 24, false)                                  \
  X(M##Stride, NAME "_stride", WORD, 28, 20, false)                           \
  X##_OPERAND(M)

// DMA fields shared by load, store, gather and scatter. `layer` is the
// report's layer number + 1 (0: not attributed to a layer).
#define SPATTEN_ISA_DMA_FIELDS(X)                                             \
  X(tensorClass, "tensor_class", 0, 16, 4, false)                             \
  X(dtype, "dtype", 0, 20, 4, false)                                          \
  X(bits, "bits", 0, 24, 6, false)                                            \
  X(plane, "plane", 0, 30, 2, false)                                          \
  X(lsbBits, "lsb_bits", 0, 32, 4, false)                                     \
  X(pred, "pred", 0, 36, 2, false)                                            \
  X(layer, "layer", 0, 48, 16, false)                                         \
  X(dramAddr, "dram_addr", 1, 0, 48, false)                                   \
  X(dramStride, "dram_stride", 2, 0, 32, false)                               \
  SPATTEN_ISA_OPERAND(X, sram, "sram", 3)                                     \
  X(rows, "rows", 4, 0, 24, false)                                            \
  X(cols, "cols", 4, 24, 24, false)

// Gather and scatter add the index list.
#define SPATTEN_ISA_GATHER_FIELDS(X)                                          \
  SPATTEN_ISA_DMA_FIELDS(X)                                                   \
  X(idxOff, "idx_off", 5, 0, 24, false)                                       \
  X(idxPeriod, "idx_period", 5, 24, 24, false)                                \
  X(periodStride, "period_stride", 6, 0, 48, false)

#define SPATTEN_ISA_GEMM_FIELDS(X)                                            \
  X(flags, "flags", 0, 16, 8, false)                                          \
  X(layer, "layer", 0, 48, 16, false)                                         \
  SPATTEN_ISA_OPERAND(X, a, "a", 1)                                           \
  SPATTEN_ISA_OPERAND(X, b, "b", 2)                                           \
  SPATTEN_ISA_OPERAND(X, c, "c", 3)                                           \
  SPATTEN_ISA_OPERAND(X, bias, "bias", 4)                                     \
  X(m, "m", 5, 0, 16, false)                                                  \
  X(n, "n", 5, 16, 16, false)                                                 \
  X(k, "k", 5, 32, 16, false)

// ATTN fills all eight words: d and causal_offset sit in the spare high
// bits of the v and o operand words so that word 6 can hold the fp32
// progressive-quantization threshold.
#define SPATTEN_ISA_ATTN_FIELDS(X)                                            \
  X(maskKind, "mask_kind", 0, 16, 2, false)                                   \
  X(flags, "flags", 0, 18, 6, false)                                          \
  X(phase, "phase", 0, 24, 2, false)                                          \
  X(headImpBuf, "head_imp_buf", 0, 26, 4, false)                              \
  X(maskFill, "mask_fill", 0, 32, 32, true)                                   \
  SPATTEN_ISA_OPERAND(X, q, "q", 1)                                           \
  X(vk, "vk", 1, 48, 16, false)                                               \
  SPATTEN_ISA_OPERAND(X, k, "k", 2)                                           \
  X(layer, "layer", 2, 48, 16, false)                                         \
  SPATTEN_ISA_OPERAND(X, v, "v", 3)                                           \
  X(d, "d", 3, 48, 16, false)                                                 \
  SPATTEN_ISA_OPERAND(X, o, "o", 4)                                           \
  X(causalOffset, "causal_offset", 4, 48, 16, false)                          \
  SPATTEN_ISA_OPERAND(X, mask, "mask", 5)                                     \
  X(headImpOff, "head_imp_off", 5, 48, 16, false)                             \
  X(lq, "lq", 6, 0, 16, false)                                                \
  X(lk, "lk", 6, 16, 16, false)                                               \
  X(pqThreshold, "pq_threshold", 6, 32, 32, true)                             \
  X(scale, "scale", 7, 0, 32, true)                                           \
  X(impBuf, "imp_buf", 7, 32, 4, false)                                       \
  X(impOff, "imp_off", 7, 36, 24, false)                                      \
  X(nextTile, "next_tile", 7, 60, 1, false)                                  \
  X(headDecided, "head_decided", 7, 61, 1, false)

#define SPATTEN_ISA_VEC_FIELDS(X)                                             \
  X(func, "func", 0, 16, 8, false)                                            \
  X(flags, "flags", 0, 24, 8, false)                                          \
  X(layer, "layer", 0, 48, 16, false)                                         \
  SPATTEN_ISA_OPERAND(X, x, "x", 1)                                           \
  SPATTEN_ISA_OPERAND(X, y, "y", 2)                                           \
  SPATTEN_ISA_OPERAND(X, z, "z", 3)                                           \
  SPATTEN_ISA_OPERAND(X, w, "w", 4)                                           \
  X(rows, "rows", 5, 0, 24, false)                                            \
  X(cols, "cols", 5, 24, 24, false)                                           \
  X(imm, "imm", 6, 0, 32, true)

#define SPATTEN_ISA_TOPK_FIELDS(X)                                            \
  X(flags, "flags", 0, 16, 8, false)                                          \
  X(role, "role", 0, 24, 2, false)                                            \
  X(countReg, "count_reg", 0, 26, 4, false)                                   \
  X(layer, "layer", 0, 48, 16, false)                                         \
  X(sBuf, "s_buf", 1, 0, 4, false)                                            \
  X(sOff, "s_off", 1, 4, 24, false)                                           \
  X(inOff, "in_off", 2, 0, 24, false)                                         \
  X(outOff, "out_off", 2, 24, 24, false)                                      \
  X(n, "n", 3, 0, 24, false)                                                  \
  X(k, "k", 3, 24, 24, false)                                                 \
  X(seed, "seed", 4, 0, 32, false)

// BIND: `field` indexes the next instruction's field table (the header
// excluded); `mul`, `add`, `lo` and `hi` are signed 64-bit, a word each.
#define SPATTEN_ISA_BIND_FIELDS(X)                                            \
  X(field, "field", 0, 16, 8, false)                                          \
  X(source, "source", 0, 24, 2, false)                                        \
  X(reg, "reg", 0, 26, 4, false)                                              \
  X(table, "table", 1, 0, 48, false)                                          \
  X(mul, "mul", 2, 0, 64, false)                                              \
  X(add, "add", 3, 0, 64, false)                                              \
  X(lo, "lo", 4, 0, 64, false)                                                \
  X(hi, "hi", 5, 0, 64, false)

/// The three fields of one SRAM operand (`a_buf`, `a_off`, `a_stride`).
struct OperandFields {
  Field buf, off, stride;
};

#define SPATTEN_ISA_FIELD_MEMBER(M, NAME, WORD, LSB, WIDTH, FP32)             \
  static constexpr Field M{NAME, WORD, LSB, WIDTH, FP32};
#define SPATTEN_ISA_FIELD_MEMBER_OPERAND(M)                                   \
  static constexpr OperandFields M{M##Buf, M##Off, M##Stride};
#define SPATTEN_ISA_FIELD_ENTRY(M, NAME, WORD, LSB, WIDTH, FP32)              \
  Field{NAME, WORD, LSB, WIDTH, FP32},
#define SPATTEN_ISA_FIELD_ENTRY_OPERAND(M)

/// Named fields per instruction layout: load and store use `Dma`, gather
/// and scatter `Gather` (a superset of `Dma`). Each SRAM operand is also an
/// OperandFields member named by its prefix (`fields::Dma::sram`).
namespace fields {
struct Dma { SPATTEN_ISA_DMA_FIELDS(SPATTEN_ISA_FIELD_MEMBER) };
struct Gather { SPATTEN_ISA_GATHER_FIELDS(SPATTEN_ISA_FIELD_MEMBER) };
struct Gemm { SPATTEN_ISA_GEMM_FIELDS(SPATTEN_ISA_FIELD_MEMBER) };
struct Attn { SPATTEN_ISA_ATTN_FIELDS(SPATTEN_ISA_FIELD_MEMBER) };
struct Vec { SPATTEN_ISA_VEC_FIELDS(SPATTEN_ISA_FIELD_MEMBER) };
struct Topk { SPATTEN_ISA_TOPK_FIELDS(SPATTEN_ISA_FIELD_MEMBER) };
struct Bind { SPATTEN_ISA_BIND_FIELDS(SPATTEN_ISA_FIELD_MEMBER) };
} // namespace fields

constexpr Field kDmaFields[] = {SPATTEN_ISA_DMA_FIELDS(SPATTEN_ISA_FIELD_ENTRY)};
constexpr Field kGatherFields[] = {
    SPATTEN_ISA_GATHER_FIELDS(SPATTEN_ISA_FIELD_ENTRY)};
constexpr Field kGemmFields[] = {SPATTEN_ISA_GEMM_FIELDS(SPATTEN_ISA_FIELD_ENTRY)};
constexpr Field kAttnFields[] = {SPATTEN_ISA_ATTN_FIELDS(SPATTEN_ISA_FIELD_ENTRY)};
constexpr Field kVecFields[] = {SPATTEN_ISA_VEC_FIELDS(SPATTEN_ISA_FIELD_ENTRY)};
constexpr Field kTopkFields[] = {SPATTEN_ISA_TOPK_FIELDS(SPATTEN_ISA_FIELD_ENTRY)};
constexpr Field kBindFields[] = {SPATTEN_ISA_BIND_FIELDS(SPATTEN_ISA_FIELD_ENTRY)};
#undef SPATTEN_ISA_FIELD_MEMBER
#undef SPATTEN_ISA_FIELD_MEMBER_OPERAND
#undef SPATTEN_ISA_FIELD_ENTRY
#undef SPATTEN_ISA_FIELD_ENTRY_OPERAND

struct OpcodeSpec {
  Opcode opcode;
  std::string_view mnemonic;
  const Field *fields;
  unsigned numFields;
};

template <unsigned N>
constexpr OpcodeSpec makeSpec(Opcode op, std::string_view m, const Field (&f)[N]) {
  return {op, m, f, N};
}

constexpr OpcodeSpec kOpcodeSpecs[kNumOpcodes] = {
    {Opcode::Halt, "halt", nullptr, 0},
    {Opcode::Sync, "sync", nullptr, 0},
    makeSpec(Opcode::Load, "load", kDmaFields),
    makeSpec(Opcode::Store, "store", kDmaFields),
    makeSpec(Opcode::Gather, "gather", kGatherFields),
    makeSpec(Opcode::Gemm, "gemm", kGemmFields),
    makeSpec(Opcode::Attn, "attn", kAttnFields),
    makeSpec(Opcode::Vec, "vec", kVecFields),
    makeSpec(Opcode::Topk, "topk", kTopkFields),
    makeSpec(Opcode::Scatter, "scatter", kGatherFields),
    makeSpec(Opcode::Bind, "bind", kBindFields),
};

/// The spec of `opcode`, or nullptr when the byte is not a valid opcode.
inline const OpcodeSpec *lookupOpcode(uint8_t opcode) {
  return opcode < kNumOpcodes ? &kOpcodeSpecs[opcode] : nullptr;
}

/// The field named `name` in `spec`, or nullptr.
inline const Field *lookupField(const OpcodeSpec &spec, std::string_view name) {
  for (unsigned i = 0; i < spec.numFields; ++i)
    if (spec.fields[i].name == name)
      return &spec.fields[i];
  return nullptr;
}

/// The index of the field named `name` in `spec`'s table, as BIND `field`
/// encodes it, or nullopt.
inline std::optional<unsigned> fieldIndex(const OpcodeSpec &spec,
                                          std::string_view name) {
  if (const Field *f = lookupField(spec, name))
    return unsigned(f - spec.fields);
  return std::nullopt;
}

/// Whether a BIND may precede an instruction of `op`: one that runs on a
/// queue (`halt`, `sync` and another `bind` end or pass the binds).
constexpr bool isBindable(Opcode op) { return queueOf(op).has_value(); }

constexpr uint64_t fieldMask(const Field &f) {
  return f.width == 64 ? ~uint64_t(0) : ((uint64_t(1) << f.width) - 1);
}

/// A decoded instruction: the raw words plus typed accessors.
struct Instr {
  std::array<uint64_t, kInstrWords> words{};

  uint64_t get(const Field &f) const {
    return (words[f.word] >> f.lsb) & fieldMask(f);
  }
  /// Returns false when `value` does not fit the field.
  bool set(const Field &f, uint64_t value) {
    if (value & ~fieldMask(f))
      return false;
    words[f.word] &= ~(fieldMask(f) << f.lsb);
    words[f.word] |= value << f.lsb;
    return true;
  }
  uint8_t opcodeByte() const { return uint8_t(get(kOpcodeField)); }

  void encode(uint8_t *out) const {
    for (unsigned w = 0; w < kInstrWords; ++w)
      for (unsigned b = 0; b < 8; ++b)
        out[w * 8 + b] = uint8_t(words[w] >> (8 * b));
  }
  static Instr decode(const uint8_t *in) {
    Instr inst;
    for (unsigned w = 0; w < kInstrWords; ++w)
      for (unsigned b = 0; b < 8; ++b)
        inst.words[w] |= uint64_t(in[w * 8 + b]) << (8 * b);
    return inst;
  }
};

inline uint32_t floatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bitsFloat(uint64_t u) {
  uint32_t v = uint32_t(u);
  float f;
  std::memcpy(&f, &v, 4);
  return f;
}

/// Bytes of one DRAM row of `cols` elements in fixed point (docs/ISA.md,
/// "Fixed-point DMA"): the fp32 scale plus packed codes, or for the LSB
/// plane the packed `lsbBits`-bit codes alone.
constexpr uint64_t packedRowBytes(uint64_t cols, uint64_t bits, Plane plane,
                                  uint64_t lsbBits) {
  auto packed = [](uint64_t n, uint64_t w) { return (n * w + 7) / 8; };
  switch (plane) {
  case Plane::Full: return 4 + packed(cols, bits);
  case Plane::Msb: return 4 + packed(cols, bits - lsbBits);
  case Plane::Lsb: return packed(cols, lsbBits);
  }
  return 0;
}

/// Bytes of one DRAM row of a DMA instruction (load, store, gather,
/// scatter): `cols` elements of `dtype` at 32 bits, else packedRowBytes of
/// its `bits`, `plane` and `lsb_bits` (0 for a plane value no row has; the
/// simulator rejects those before moving anything).
inline uint64_t dmaRowBytes(const Instr &inst) {
  using F = fields::Dma; // gather and scatter share these positions
  uint64_t cols = inst.get(F::cols), bits = inst.get(F::bits);
  // 32, or a width the simulator rejects at execution.
  if (bits < kMinFixedPointBits || bits > kMaxFixedPointBits)
    return cols * dtypeBytes(DType(inst.get(F::dtype)));
  return packedRowBytes(cols, bits, Plane(inst.get(F::plane)),
                        inst.get(F::lsbBits));
}

} // namespace spatten::isa

#endif // SPATTEN_ISA_SPEC_H
