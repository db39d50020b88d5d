//===- TokenStateLowering.cpp - Cascade token pruning across runs ---------===//
//
// A layer's candidates at a decode step are the tokens the previous layer
// kept at this step that the layer itself did not prune at an earlier step,
// plus the new token (docs/Algorithms.md, "Generation"). The mask of each
// layer marks what it pruned with -inf, so that one top-k engine pass over
// the previous layer's list, scored by importance plus mask with flag
// TopkDropNegInf, gives the layer's kept list; its length is data-dependent
// and goes to a register that the DMAs and ATTNs of the layer bind to.
//
//===----------------------------------------------------------------------===//

#include "TokenState.h"

#include "spatten/Dialect/SpAtten/IR/GenerationAttrs.h"

#include <limits>

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

namespace {
/// Keep-position scores: far above any accumulated importance (as the
/// summarization stage's cascade token pruning forces them).
constexpr float kForcedScore = 1e30f;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void bindTo(ProgramBuilder &pb, const Field &field, unsigned reg, int64_t add,
            int64_t lo, int64_t hi) {
  bindToRegister(pb, field, reg, 1, add, lo, hi);
}

/// `z = x op imm` over `rows` x `cols` elements of the act buffer.
VecInstr actImmediate(VecFunc func, SramRef x, SramRef z, int64_t rows,
                      int64_t cols, float imm) {
  VecInstr v;
  v.func = func;
  v.flags = VecYImm;
  v.x = x, v.z = z;
  v.rows = rows, v.cols = cols;
  v.imm = imm;
  return v;
}
} // namespace

void isa::bindToRegister(ProgramBuilder &pb, const Field &field, unsigned reg,
                         int64_t mul, int64_t add, int64_t lo, int64_t hi) {
  Bind bind;
  bind.field = fieldName(field);
  bind.reg = reg;
  bind.mul = mul, bind.add = add, bind.lo = lo, bind.hi = hi;
  pb.bind(bind);
}

void isa::bindToHeadList(ProgramBuilder &pb, int64_t list, int64_t slot,
                         int64_t base, int64_t stride, int64_t heads) {
  Bind bind;
  bind.field = fieldName(fields::Dma::dramAddr);
  bind.source = BindSource::Table;
  bind.reg = kZeroRegister;
  bind.table = list + 8 * slot;
  bind.mul = stride, bind.add = base;
  bind.lo = base, bind.hi = base + (heads - 1) * stride;
  pb.bind(bind);
}

LogicalResult DecodeTokenSelection::select() {
  const Tensor *cumulative = core.plan.tokenImportance();
  if (!cumulative || !cache.tokenMask)
    return op.emitOpError("cascade token pruning needs the KV cache's token "
                          "state, which the DRAM plan has not placed");
  C = cache.key.shape[2];
  impOff = std::max(2 * C, op.getHeadDim());
  if (impOff + C > pb.bufferElems(Buffer::Act) ||
      C > pb.bufferElems(Buffer::Idx))
    return op.emitOpError("cascade token pruning over ")
           << C << " positions does not fit the act and idx buffers";
  FailureOr<const Tensor *> counts = core.tensor(op.getTokenCounts());
  if (failed(counts))
    return failure();
  std::optional<unsigned> previous = core.keptTokensRegister;
  countReg = previous == 1u ? 2 : 1;
  loadScores(*cumulative);
  forceKeep();
  // Under the KV budget a layer ranks its own candidates, not the cascade's.
  rank(op.getKvBudget() ? std::nullopt : previous, (*counts)->ref.addr);
  // The kept tokens' importance, which the heads' ATTNs add to.
  bindTo(pb, fields::Gather::rows, countReg, 0, 1, C);
  pb.gather(importance(), cumulative->ref, 4, C, 1, IndexList{0});
  core.keptTokensRegister = countReg;
  return success();
}

/// Scores of positions [0, p]: importance plus the layer's mask.
void DecodeTokenSelection::loadScores(const Tensor &cumulative) {
  SramRef scores{Buffer::Act, 0, C}, mask{Buffer::Act, C, C};
  for (auto [src, dst] :
       {std::pair(&cumulative, scores), std::pair(&*cache.tokenMask, mask)}) {
    bindTo(pb, fields::Dma::cols, kPositionRegister, 1, 1, C);
    pb.load(dst, src->ref, C * 4, 1, C);
  }
  VecInstr add;
  add.func = VecFunc::Add;
  add.x = scores, add.y = mask, add.z = scores;
  add.rows = 1, add.cols = C;
  bindTo(pb, fields::Vec::cols, kPositionRegister, 1, 1, C);
  pb.emit(add);
}

/// The keep positions and the new token (the query) always stay; under the
/// KV budget [S, I, R], positions [0, S) and [p + 1 - max(R, 1), p].
void DecodeTokenSelection::forceKeep() {
  for (int64_t position : op.getKeepPositions().value_or(ArrayRef<int64_t>{}))
    pb.emit(actImmediate(VecFunc::Add, {Buffer::Act, position, 1},
                         {Buffer::Act, position, 1}, 1, 1, kForcedScore));
  int64_t first = 0, recent = 1;
  if (std::optional<ArrayRef<int64_t>> budget = op.getKvBudget()) {
    first = std::min((*budget)[0], C);
    recent = std::min(std::max<int64_t>((*budget)[2], 1), C);
  }
  if (first > 0)
    pb.emit(actImmediate(VecFunc::Add, {Buffer::Act, 0, 1},
                         {Buffer::Act, 0, 1}, 1, first, kForcedScore));
  // Near the start the window is clamped to [0, recent): positions past p
  // are no candidates, and at most `recent` tokens exist.
  bindTo(pb, fields::Vec::x.off, kPositionRegister, 1 - recent, 0, C - recent);
  bindTo(pb, fields::Vec::z.off, kPositionRegister, 1 - recent, 0, C - recent);
  pb.emit(actImmediate(VecFunc::Add, {Buffer::Act, 0, 1}, {Buffer::Act, 0, 1},
                       1, recent, kForcedScore));
}

/// The top-k engine over the candidates: positions [0, p] at the first
/// layer, else the previous layer's list of `candidatesReg` entries.
void DecodeTokenSelection::rank(std::optional<unsigned> candidatesReg,
                                int64_t countsTable) {
  TopkInstr topk;
  topk.flags = TopkScoresByIndex | TopkDropNegInf | TopkWriteCount;
  if (!candidatesReg)
    topk.flags |= TopkIota;
  topk.role = TopkRole::Tokens;
  topk.scores = {Buffer::Act, 0};
  topk.n = C, topk.k = C;
  topk.seed = core.nextTopkSeed();
  topk.countReg = countReg;
  if (candidatesReg)
    bindTo(pb, fields::Topk::n, *candidatesReg, 0, 1, C);
  else
    bindTo(pb, fields::Topk::n, kPositionRegister, 1, 1, C);
  Bind k;
  k.field = fieldName(fields::Topk::k);
  k.source = BindSource::Table;
  k.reg = kPositionRegister;
  k.lo = 1, k.hi = C;
  k.table = countsTable;
  pb.bind(k);
  pb.emit(topk);
}

void DecodeTokenSelection::finish() {
  const Tensor &cumulative = *core.plan.tokenImportance();
  const Tensor &mask = *cache.tokenMask;
  bindTo(pb, fields::Gather::rows, countReg, 0, 1, C);
  pb.scatter(cumulative.ref, 4, importance(), C, 1, IndexList{0});
  // The mask: -inf at [0, p] (the scores hold no NaN), then 0 at the kept.
  SramRef row{Buffer::Act, 0, C}, zeros{Buffer::Act, C, 1};
  bindTo(pb, fields::Vec::cols, kPositionRegister, 1, 1, C);
  pb.emit(actImmediate(VecFunc::Min, row, row, 1, C, kNegInf));
  bindTo(pb, fields::Dma::cols, kPositionRegister, 1, 1, C);
  pb.store(mask.ref, C * 4, row, 1, C);
  bindTo(pb, fields::Vec::rows, countReg, 0, 1, C);
  pb.emit(actImmediate(VecFunc::Mul, importance(), zeros, C, 1, 0.f));
  bindTo(pb, fields::Gather::rows, countReg, 0, 1, C);
  pb.scatter(mask.ref, 4, zeros, C, 1, IndexList{0});
}

/// The prompt's state after layer `layer`: the importance of the tokens it
/// attended at their positions, and its mask, -inf at the prompt positions
/// it did not attend.
LogicalResult isa::lowerRecordKeptTokens(LoweringCore &core,
                                         RecordKeptTokensOp op) {
  ProgramBuilder &pb = core.pb;
  const KVCacheLayer *cache = core.plan.kvCache(op.getLayer());
  const Tensor *importance = core.plan.tokenImportance();
  const Tensor *imp;
  if (!cache || !cache->tokenMask || !importance)
    return op.emitOpError("records the tokens of KV cache layer ")
           << op.getLayer()
           << ", whose token state the DRAM plan has not "
              "placed";
  if (failed(core.get(op.getImportance(), imp)))
    return failure();
  auto gen = op->getParentOfType<ModuleOp>()->getAttrOfType<DictionaryAttr>(
      kGenerationAttrName);
  auto prompt = gen ? gen.getAs<IntegerAttr>("prefill_length") : nullptr;
  int64_t n = imp->numel(), L0 = prompt ? prompt.getInt() : 0;
  if (n > L0 || 2 * n + L0 > pb.bufferElems(Buffer::Act))
    return op.emitOpError("records ")
           << n << " tokens of a " << L0
           << "-token prompt, more than the act buffer or the prompt holds";
  FailureOr<int64_t> list = core.loadList(op.getPositions());
  if (failed(list))
    return failure();
  pb.load({Buffer::Act, 0, n}, imp->ref, n * 4, 1, n);
  pb.scatter(importance->ref, 4, {Buffer::Act, 0, 1}, n, 1, IndexList{*list});
  SramRef zero{Buffer::Act, n, 0}, row{Buffer::Act, n + 1, 1};
  pb.emit(actImmediate(VecFunc::Mul, {Buffer::Act, 0, 1}, zero, 1, 1, 0.f));
  pb.emit(actImmediate(VecFunc::Add, zero, row, L0, 1, kNegInf));
  pb.store(cache->tokenMask->ref, L0 * 4, {Buffer::Act, n + 1, L0}, 1, L0);
  pb.scatter(cache->tokenMask->ref, 4, zero, n, 1, IndexList{*list});
  return success();
}

/// The prompt's heads of layer `layer`, as the decode steps read them.
LogicalResult isa::lowerRecordKeptHeads(LoweringCore &core,
                                        RecordKeptHeadsOp op) {
  const KVCacheLayer *cache = core.plan.kvCache(op.getLayer());
  const Tensor *heads;
  if (!cache || !cache->headList)
    return op.emitOpError("records the heads of KV cache layer ")
           << op.getLayer()
           << ", whose head list the DRAM plan has not "
              "placed";
  if (failed(core.get(op.getHeads(), heads)))
    return failure();
  int64_t k = heads->numel();
  if (k > cache->headList->numel())
    return op.emitOpError("records ")
           << k << " heads of a layer of " << cache->headList->numel();
  FailureOr<int64_t> list = core.loadList(op.getHeads());
  if (failed(list))
    return failure();
  core.pb.store(cache->headList->ref, k * 8, {Buffer::Idx, *list, k}, 1, k);
  return success();
}
