//===- DramPlan.cpp - Where every tensor of a function lives in DRAM ------===//

#include "DramPlan.h"

#include "spatten/Dialect/SpAtten/IR/GenerationAttrs.h"
#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

namespace {
/// DRAM alignment of every placed tensor, in bytes.
constexpr int64_t kAlign = 64;
/// The arena starts on the page after .rodata.
constexpr int64_t kArenaAlign = 4096;

std::optional<DType> dtypeOf(Type elementType) {
  if (elementType.isF32())
    return DType::F32;
  if (elementType.isInteger(64))
    return DType::I64;
  if (elementType.isInteger(32))
    return DType::I32;
  return std::nullopt;
}

bool readsHeadsInPlace(PruneHeadsOp prune);

/// True when `v` (or a reshape of it, or its kept heads read in place) is
/// read only as an attention operand, which loads fixed-point rows
/// directly.
bool onlyAttentionReads(Value v) {
  return llvm::all_of(v.getUsers(), [&](Operation *user) {
    if (auto r = dyn_cast<ReshapeOp>(user))
      return onlyAttentionReads(r.getResult());
    if (auto prune = dyn_cast<PruneHeadsOp>(user))
      return prune.getInput() == v && readsHeadsInPlace(prune);
    return llvm::isa<AttentionOp, AttentionProbsOp, ProgressiveFetchOp,
                     AttentionOutputOp, CachedAttentionOp>(user);
  });
}

/// Whether `use` is a [B, L, H*D] attention operand that the lowering reads
/// head by head (an attention's Q/K/V; the query of `progressive_fetch`,
/// whose keys are repacked into planes; the V of `attention_output` unless
/// V is fetched in planes).
bool attentionReadsHeads(OpOperand &use) {
  unsigned operand = use.getOperandNumber();
  Operation *user = use.getOwner();
  if (llvm::isa<AttentionOp, CachedAttentionOp>(user))
    return operand <= 2; // query, key, value
  if (llvm::isa<AttentionProbsOp>(user))
    return operand <= 1; // query, key
  if (llvm::isa<ProgressiveFetchOp>(user))
    return operand == 0;
  auto output = dyn_cast<AttentionOutputOp>(user);
  if (!output || operand != 1)
    return false;
  Value probs = output.getProbs();
  if (auto vp = probs.getDefiningOp<LocalValuePruneOp>())
    probs = vp.getProbs();
  if (auto pf = probs.getDefiningOp<ProgressiveFetchOp>())
    return !pf.getValues();
  return probs.getDefiningOp<AttentionProbsOp>() != nullptr;
}

/// Whether `use`, of the result of `prune`, reads the kept heads in place
/// by index-gather DMA: a linear's weight (rows or columns) or bias, or an
/// attention operand read head by head.
bool readsKeptHeads(OpOperand &use, PruneHeadsOp prune) {
  int64_t rank = cast<ShapedType>(prune.getInput().getType()).getRank();
  unsigned operand = use.getOperandNumber();
  if (llvm::isa<LinearOp>(use.getOwner()))
    return (operand == 1 && rank == 2) || (operand == 2 && rank == 1);
  return rank == 3 && prune.getAxis() == 2 && attentionReadsHeads(use);
}

/// Whether every user of `prune` reads the kept heads in place, so that
/// head pruning writes no compacted copy.
bool readsHeadsInPlace(PruneHeadsOp prune) {
  return !prune->use_empty() &&
         llvm::all_of(prune->getUses(), [&](OpOperand &use) {
           return readsKeptHeads(use, prune);
         });
}

/// Whether `slice` takes a column range [o, o + n) of whole rows of its
/// input: unit strides, offsets 0 but on the last axis, the other
/// dimensions kept.
bool isColumnSlice(SliceOp slice) {
  auto in = cast<ShapedType>(slice.getInput().getType()).getShape();
  auto out = cast<ShapedType>(slice.getOutput().getType()).getShape();
  for (size_t i = 0; i < in.size(); ++i) {
    bool last = i + 1 == in.size();
    if (slice.getStrides()[i] != 1 ||
        (!last && (slice.getOffsets()[i] != 0 || in[i] != out[i])))
      return false;
  }
  return true;
}

/// Whether `slice` is a column slice of an fp32 [B, L, C] tensor that every
/// user reads head by head at the slice's column offset (GPT-2's split of
/// the fused QKV projection).
bool readsColumnsInPlace(SliceOp slice) {
  if (slice->use_empty() || !isColumnSlice(slice))
    return false;
  auto type = cast<ShapedType>(slice.getInput().getType());
  return type.getRank() == 3 && type.getElementType().isF32() &&
         llvm::all_of(slice->getUses(), attentionReadsHeads);
}
} // namespace

FailureOr<DramPlan> DramPlan::build(ModuleOp module) {
  DramPlan plan;
  if (failed(plan.placeConstants(module)))
    return failure();
  plan.arenaTop =
      llvm::alignTo(std::max<int64_t>(plan.rodataTop, 1), kArenaAlign);
  if (failed(plan.placeKVCache(module)))
    return failure();
  for (auto func : module.getOps<func::FuncOp>())
    if (failed(plan.placeFunction(func)))
      return failure();
  return plan;
}

/// Each function's constants; a constant an earlier function placed is
/// reused (entry points cloned from one graph share their weights, which
/// MLIR uniques to the same attribute). Within a function every constant
/// op keeps its own bytes, as a single-function binary always had.
LogicalResult DramPlan::placeConstants(ModuleOp module) {
  DenseMap<Attribute, Value> earlier;
  for (auto func : module.getOps<func::FuncOp>()) {
    DenseMap<Attribute, Value> own;
    WalkResult r = func.walk([&](arith::ConstantOp c) {
      auto it = earlier.find(c.getValue());
      if (it != earlier.end()) {
        // A copy: inserting `c` may grow the map under a reference to it.
        Tensor shared = tensors.lookup(it->second);
        tensors[c] = shared;
        return WalkResult::advance();
      }
      own.try_emplace(c.getValue(), c.getResult());
      return WalkResult(place(c, rodataTop, TensorClass::Weight));
    });
    if (r.wasInterrupted())
      return failure();
    earlier.insert(own.begin(), own.end());
  }
  return success();
}

/// The KV cache of a generation binary: per layer, K and V `[1, H, C, D]`
/// (H the K/V heads of grouped-query attention),
/// from the attentions that read or write it, at the widths the decode
/// step's `cached_attention` gives (fp32 or fixed-point rows).
LogicalResult DramPlan::placeKVCache(ModuleOp module) {
  struct LayerFormat {
    int64_t heads = 0, dim = 0, keyBits = 0, valueBits = 0;
    int64_t pqMsb = 0, pqLsb = 0;
    bool pqValues = false;
  };
  SmallVector<LayerFormat> formats;
  bool tokenPruning = false, headPruning = false;
  auto note = [&](int64_t layer) -> LayerFormat & {
    if (int64_t(formats.size()) <= layer)
      formats.resize(layer + 1);
    return formats[layer];
  };
  module.walk([&](Operation *op) {
    if (auto cached = dyn_cast<CachedAttentionOp>(op);
        cached && cached.getTokenCounts()) {
      tokenPruning = true;
      headPruning |= cached.getKeptHeads().has_value();
    }
    if (auto cached = dyn_cast<CachedAttentionOp>(op))
      note(cached.getLayer()) = {
          cached.getCacheHeads(),     cached.getHeadDim(),
          cached.getKeyBits(),        cached.getValueBits(),
          int64_t(cached.getPqMsb()), int64_t(cached.getPqLsb()),
          cached.getPqValues()};
    auto attention = dyn_cast<AttentionOp>(op);
    auto layer = attention ? attention->getAttrOfType<IntegerAttr>(
                                 kKVCacheLayerAttrName)
                           : nullptr;
    // The decode step's format wins: a grouped-query cache holds K/V heads.
    if (LayerFormat *f = layer ? &note(layer.getInt()) : nullptr;
        f && !f->heads)
      f->heads = attention.getNumHeads(), f->dim = attention.getHeadDim();
  });
  if (formats.empty())
    return success();
  auto gen = module->getAttrOfType<DictionaryAttr>(kGenerationAttrName);
  auto c = gen ? gen.getAs<IntegerAttr>("max_context") : nullptr;
  if (!c || c.getInt() < 1)
    return module.emitError("a KV cache needs spatten.generation = "
                            "{max_context = C, ...} on the module");
  context = c.getInt();
  for (const LayerFormat &f : formats) {
    if (!f.heads)
      return module.emitError("the KV cache layers are not numbered 0..")
             << formats.size() - 1;
    KVCacheLayer layer;
    SmallVector<int64_t> shape = {1, f.heads, context, f.dim};
    for (auto [t, lsb, cls, bits, planes] :
         {std::tuple(&layer.key, &layer.keyLsb, TensorClass::K, f.keyBits,
                     f.pqMsb != 0),
          std::tuple(&layer.value, &layer.valueLsb, TensorClass::V,
                     f.valueBits, f.pqValues)}) {
      DramRef fmt{0, DType::F32, cls};
      fmt.bits = bits ? bits : 32;
      if (!planes) {
        *t = placePacked(shape, f.dim, fmt);
        continue;
      }
      bool key = cls == TensorClass::K;
      fmt.bits = f.pqMsb + f.pqLsb, fmt.lsbBits = f.pqLsb;
      fmt.plane = Plane::Msb, fmt.cls = key ? TensorClass::KMsb : TensorClass::VMsb;
      *t = placePacked(shape, f.dim, fmt);
      fmt.plane = Plane::Lsb, fmt.cls = key ? TensorClass::KLsb : TensorClass::VLsb;
      *lsb = placePacked(shape, f.dim, fmt);
    }
    caches.push_back(layer);
  }
  if (tokenPruning)
    placeTokenState(headPruning);
  return success();
}

/// Cascade pruning's state between runs: a token mask per layer and the
/// shared token importance, `[C]` f32 each, zero (every position a
/// candidate, no importance) until the prefill writes them; with `heads`
/// the kept heads' list per layer.
void DramPlan::placeTokenState(bool heads) {
  auto vector = [&](DType dtype, int64_t n) {
    Tensor t{DramRef{0, dtype, TensorClass::Index}, {n}};
    t.ref.addr = arenaTop = llvm::alignTo(arenaTop, kAlign);
    arenaTop += n * dtypeBytes(dtype);
    return t;
  };
  importance = vector(DType::F32, context);
  for (KVCacheLayer &layer : caches) {
    layer.tokenMask = vector(DType::F32, context);
    if (heads)
      layer.headList = vector(DType::I64, layer.key.shape[1]);
  }
}

/// A function's inputs and results, in its own part of the arena.
LogicalResult DramPlan::placeFunction(func::FuncOp func) {
  for (BlockArgument arg : func.getArguments())
    if (failed(place(arg, arenaTop, TensorClass::Activation)))
      return failure();
  return placeOps(func.getBody().front());
}

/// Places the results of the ops of `body` in program order.
LogicalResult DramPlan::placeOps(Block &body) {
  for (Operation &op : body) {
    if (llvm::isa<arith::ConstantOp, func::ReturnOp>(op))
      continue;

    if (auto reshape = dyn_cast<ReshapeOp>(op)) {
      if (failed(alias(reshape.getInput(), reshape.getResult())))
        return failure();
      continue;
    }
    if (std::optional<InPlaceView> view = inPlaceViewOf(&op)) {
      views[op.getResult(0)] = *view;
      continue;
    }
    if (auto dq = dyn_cast<DequantizeOp>(op);
        dq && onlyAttentionReads(dq.getResult())) {
      if (failed(alias(dq.getCodes(), dq.getResult())))
        return failure();
      // Attention reads the fixed-point rows directly.
      if (!tensors[dq.getResult()].ref.packed())
        lowered.insert(dq);
      continue;
    }
    lowered.insert(&op);
    if (auto q = dyn_cast<QuantizeOp>(op)) {
      placeQuantize(q);
      continue;
    }
    if (auto pf = dyn_cast<ProgressiveFetchOp>(op))
      placePlanes(pf);
    for (Value res : op.getResults())
      if (failed(place(res, arenaTop, TensorClass::Activation)))
        return failure();
  }
  return success();
}

std::optional<InPlaceView> DramPlan::inPlaceViewOf(Operation *op) const {
  if (auto prune = dyn_cast<PruneHeadsOp>(op);
      prune && readsHeadsInPlace(prune)) {
    int64_t axis = prune.getAxis();
    int64_t extent =
        cast<ShapedType>(prune.getInput().getType()).getShape()[axis];
    return InPlaceView{InPlaceView::Kind::KeptHeads,
                       prune.getInput(),
                       prune.getIndices(),
                       axis,
                       extent / int64_t(prune.getNumHeads()),
                       0};
  }
  if (auto slice = dyn_cast<SliceOp>(op); slice && readsColumnsInPlace(slice))
    return InPlaceView{
        InPlaceView::Kind::Columns, slice.getInput(), Value(), 0, 0,
        slice.getOffsets().back()};
  return std::nullopt;
}

std::optional<int64_t> spatten::isa::tensorBytes(ArrayRef<int64_t> shape,
                                                 int64_t elementBytes) {
  int64_t bytes = elementBytes;
  for (int64_t d : shape)
    if (llvm::MulOverflow(bytes, d, bytes) || bytes > kMaxDramBytes)
      return std::nullopt;
  return bytes;
}

LogicalResult DramPlan::place(Value v, int64_t &top, TensorClass cls) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  std::optional<DType> dtype =
      type ? dtypeOf(type.getElementType()) : std::nullopt;
  if (!type || !type.hasStaticShape() || !dtype)
    return emitError(v.getLoc())
           << "cannot place " << v.getType()
           << " in DRAM: needs a static f32, i64 or i32 tensor";
  std::optional<int64_t> size = tensorBytes(type.getShape(), dtypeBytes(*dtype));
  if (!size)
    return emitError(v.getLoc())
           << "cannot place " << v.getType()
           << " in DRAM: it takes more than 2^48 bytes";
  int64_t bytes = *size;
  top = llvm::alignTo(top, kAlign);
  if (top > kMaxDramBytes - bytes)
    return emitError(v.getLoc())
           << "cannot place " << v.getType()
           << " in DRAM: the program's tensors take more than 2^48 bytes";
  tensors[v] = {{top, *dtype, cls}, SmallVector<int64_t>(type.getShape())};
  top += bytes;
  return success();
}

/// Reserves fixed-point rows of `packedCols` elements for a tensor of
/// `shape`, in format `fmt`.
Tensor DramPlan::placePacked(ArrayRef<int64_t> shape, int64_t packedCols,
                             DramRef fmt) {
  Tensor t{fmt, SmallVector<int64_t>(shape), packedCols};
  t.ref.addr = arenaTop = llvm::alignTo(arenaTop, kAlign);
  arenaTop += t.numel() / packedCols * fmt.rowBytes(packedCols);
  return t;
}

/// `spatten.quantize` codes are fixed-point rows (docs/ISA.md); the scales
/// are inside the rows.
void DramPlan::placeQuantize(Operation *quantize) {
  auto op = cast<QuantizeOp>(quantize);
  auto type = op.getInput().getType();
  DramRef fmt;
  fmt.bits = op.getBits();
  Tensor codes = placePacked(type.getShape(), type.getShape().back(), fmt);
  tensors[op.getCodes()] = codes;
  tensors[op.getScales()] = codes;
}

/// The MSB and LSB planes of progressively quantized keys, then with
/// `values` those of the values: scratch[op] = {K MSB, K LSB[, V MSB,
/// V LSB]}.
void DramPlan::placePlanes(Operation *progressiveFetch) {
  auto op = cast<ProgressiveFetchOp>(progressiveFetch);
  placePlanePair(op, op.getKey(), TensorClass::KMsb, TensorClass::KLsb);
  // A key projection read only by this op writes the planes itself (the
  // GEMM's store quantizes), instead of its fp32 rows being re-read; so
  // does a fused projection whose key columns a slice read only by this
  // op takes (GPT-2's c_attn), and the slice is not copied.
  // A copy: inserting the projection's entry may rehash the map under a
  // reference to the op's.
  SmallVector<Tensor, 2> keyPlanes = scratch.lookup(op);
  Value key = op.getKey();
  if (auto linear = key.getDefiningOp<LinearOp>(); linear && key.hasOneUse()) {
    scratch[linear] = keyPlanes;
    planeColumns[linear] = 0;
  }
  if (auto slice = key.getDefiningOp<SliceOp>();
      slice && key.hasOneUse() && isColumnSlice(slice)) {
    if (auto linear = slice.getInput().getDefiningOp<LinearOp>();
        linear && !scratch.count(linear)) {
      scratch[linear] = keyPlanes;
      planeColumns[linear] = slice.getOffsets().back();
      planeSlices.insert(slice);
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

void DramPlan::placePlanePair(Operation *progressiveFetch, Value x,
                              TensorClass msb, TensorClass lsb) {
  auto op = cast<ProgressiveFetchOp>(progressiveFetch);
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

LogicalResult DramPlan::alias(Value from, Value to) {
  auto it = tensors.find(from);
  if (it == tensors.end())
    return emitError(to.getLoc())
           << "cannot alias a value that has no DRAM placement";
  Tensor t = it->second;
  auto shape = cast<ShapedType>(to.getType()).getShape();
  t.shape.assign(shape.begin(), shape.end());
  tensors[to] = t;
  return success();
}

FailureOr<const Tensor *> DramPlan::lookup(Value v, Operation *user) const {
  auto it = tensors.find(v);
  if (it != tensors.end())
    return &it->second;
  InFlightDiagnostic diag = user->emitOpError("reads or writes a value that ");
  if (views.count(v))
    diag << "is read in place from another tensor, not placed in DRAM";
  else
    diag << "the DRAM plan did not place";
  return diag;
}

const InPlaceView *DramPlan::viewOf(Value v) const {
  auto it = views.find(v);
  return it == views.end() ? nullptr : &it->second;
}

ArrayRef<Tensor> DramPlan::scratchOf(Operation *op) const {
  auto it = scratch.find(op);
  return it == scratch.end() ? ArrayRef<Tensor>() : ArrayRef(it->second);
}

std::optional<ProjectionPlanes>
DramPlan::planesWrittenBy(Operation *linear) const {
  auto it = planeColumns.find(linear);
  if (it == planeColumns.end())
    return std::nullopt;
  return ProjectionPlanes{scratchOf(linear).take_front(2), it->second};
}

bool DramPlan::writtenAsPlanes(Value v) const {
  Operation *def = v.getDefiningOp();
  return def && (planeColumns.count(def) || planeSlices.contains(def));
}
