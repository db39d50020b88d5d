//===- HeadLayout.cpp - Where attention heads sit in a tensor -------------===//

#include "HeadLayout.h"

#include "spatten/Dialect/SpAtten/IR/SpAttenOps.h"

namespace spatten::lift {
namespace {

int64_t sizeOf(ArrayRef<Atom> atoms) {
  int64_t n = 1;
  for (const Atom &a : atoms)
    n *= a.size;
  return n;
}

/// `atoms` as one run {size, stride} (consecutive strides nest without
/// gaps); {1, 0} when empty, nullopt when they do not form one run.
std::optional<Atom> asRun(ArrayRef<Atom> atoms) {
  if (atoms.empty())
    return Atom{1, 0};
  for (size_t i = 0; i + 1 < atoms.size(); ++i)
    if (atoms[i].stride != atoms[i + 1].stride * atoms[i + 1].size)
      return std::nullopt;
  return Atom{sizeOf(atoms), atoms.back().stride};
}

void pushAtom(AtomList &dim, Atom a) {
  if (a.size != 1)
    dim.push_back(a);
}

StridedView identityView(Value v) {
  StridedView view{v, {}};
  ArrayRef<int64_t> shape = shapeOf(v);
  int64_t stride = 1;
  view.dims.resize(shape.size());
  for (int64_t i = shape.size() - 1; i >= 0; --i) {
    pushAtom(view.dims[i], {shape[i], stride});
    stride *= shape[i];
  }
  return view;
}

/// Row-major reinterpretation: the atoms, in order, regrouped into `shape`
/// (an atom is split where a new dimension boundary falls inside it).
std::optional<StridedView> reshapeView(const StridedView &v,
                                       ArrayRef<int64_t> shape) {
  SmallVector<Atom> flat;
  for (const AtomList &dim : v.dims)
    flat.append(dim.begin(), dim.end());
  StridedView out{v.base, {}};
  size_t next = 0;
  for (int64_t size : shape) {
    AtomList dim;
    for (int64_t need = size; need > 1;) {
      if (next == flat.size())
        return std::nullopt;
      Atom &a = flat[next];
      if (a.size <= need) {
        if (need % a.size)
          return std::nullopt;
        dim.push_back(a);
        need /= a.size;
        ++next;
      } else {
        if (a.size % need)
          return std::nullopt;
        a.size /= need;
        dim.push_back({need, a.stride * a.size});
        need = 1;
      }
    }
    out.dims.push_back(dim);
  }
  if (next != flat.size())
    return std::nullopt;
  return out;
}

/// Broadcast as ONNX Expand: new and size-1 dimensions get stride 0.
std::optional<StridedView> expandView(const StridedView &v,
                                      ArrayRef<int64_t> in,
                                      ArrayRef<int64_t> shape) {
  if (shape.size() < in.size())
    return std::nullopt;
  StridedView out{v.base, SmallVector<AtomList, 4>(shape.size())};
  size_t lead = shape.size() - in.size();
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t from = i < lead ? 1 : in[i - lead];
    if (from == shape[i])
      out.dims[i] = i < lead ? AtomList() : v.dims[i - lead];
    else if (from == 1)
      pushAtom(out.dims[i], {shape[i], 0});
    else
      return std::nullopt;
  }
  return out;
}

/// Ops that only reinterpret the row-major shape.
bool isReshapeLike(Operation *op) {
  return isOnnx(op, "Reshape") || isOnnx(op, "Unsqueeze") ||
         isOnnx(op, "Squeeze");
}

/// `op` (Reshape, Unsqueeze, Squeeze, Transpose or, with `expand`, Expand)
/// applied to the view of its data operand.
std::optional<StridedView> applyOp(const StridedView &v, Operation *op,
                                   bool expand) {
  auto type = tensorTypeOf(op->getResult(0));
  // An empty tensor (a `--shape` dimension bound to 0) has no layout to
  // read, and its zero sizes would divide the atoms.
  auto emptyDim = [](const AtomList &dim) {
    return llvm::any_of(dim, [](Atom a) { return a.size == 0; });
  };
  if (!type || !type.hasStaticShape() || type.getNumElements() == 0 ||
      llvm::any_of(v.dims, emptyDim))
    return std::nullopt;
  if (isReshapeLike(op))
    return reshapeView(v, type.getShape());
  if (expand && isOnnx(op, "Expand"))
    return expandView(v, shapeOf(op->getOperand(0)), type.getShape());
  std::optional<SmallVector<int64_t>> perm = getIntsAttr(op, "perm");
  if (!isOnnx(op, "Transpose") || !perm || perm->size() != v.dims.size())
    return std::nullopt;
  StridedView out{v.base, {}};
  for (int64_t p : *perm) {
    if (p < 0 || p >= int64_t(v.dims.size()))
      return std::nullopt;
    out.dims.push_back(v.dims[p]);
  }
  return out;
}

/// A candidate base of a view chain and the scale peeled above it.
struct Candidate {
  Value base;
  double scale;
  size_t ops; // how many ops of the chain lie between base and the value
};

/// Walks from `v` back through Reshape/Transpose (Expand with `expand`),
/// no-ops and, with `scale`, scalar Mul/Div; every value on the way (the
/// operand of a scalar Mul/Div in place of its result) is a candidate
/// base, nearest first.
SmallVector<Candidate> chainBack(Value v, double *scale, bool expand,
                                 SmallVector<Operation *> &ops) {
  SmallVector<Candidate> out;
  double s = scale ? *scale : 1;
  for (Value cur = v;;) {
    cur = skipNoOps(cur);
    if (!tensorTypeOf(cur) || !tensorTypeOf(cur).hasStaticShape())
      break;
    // A scalar Mul/Div reads as its operand, the scale folded: BART scales
    // Q after its projection, which then is the base.
    if (scale)
      cur = peelScale(cur, s);
    out.push_back({cur, s, ops.size()});
    Operation *op = cur.getDefiningOp();
    if (!isReshapeLike(op) && !isOnnx(op, "Transpose") &&
        !(expand && isOnnx(op, "Expand")))
      break;
    ops.push_back(op);
    cur = op->getOperand(0);
  }
  return out;
}

/// The view of the chain's value on `c.base`.
std::optional<StridedView> viewOn(const Candidate &c,
                                  ArrayRef<Operation *> ops, bool expand) {
  std::optional<StridedView> view = identityView(c.base);
  for (size_t i = c.ops; i > 0 && view; --i)
    view = applyOp(*view, ops[i - 1], expand);
  return view;
}

/// Splits the trailing `h` indices with stride `stride` off `group`.
bool splitInner(SmallVector<Atom> &group, int64_t h, int64_t stride) {
  for (int64_t need = h; need > 1;) {
    if (group.empty() || group.back().stride != stride)
      return false;
    Atom &a = group.back();
    if (a.size <= need) {
      if (need % a.size)
        return false;
      need /= a.size;
      stride *= a.size;
      group.pop_back();
    } else {
      if (a.size % need)
        return false;
      a = {a.size / need, a.stride * need};
      need = 1;
    }
  }
  return true;
}

/// Reads [B, H, L, D] / [B*H, L, D] (or [.., D, L]) heads off a view.
std::optional<Heads> readHeads(const StridedView &view, bool keyT) {
  size_t r = view.dims.size();
  if (r != 3 && r != 4)
    return std::nullopt;
  const AtomList &dDim = view.dims[keyT ? r - 2 : r - 1];
  const AtomList &lDim = view.dims[keyT ? r - 1 : r - 2];
  std::optional<Atom> d = asRun(dDim), l = asRun(lDim);
  ArrayRef<int64_t> base = shapeOf(view.base);
  if (!d || !l || (d->size > 1 && d->stride != 1) || base.empty() ||
      !isF32Tensor(view.base) || base.back() % d->size)
    return std::nullopt;
  int64_t e = base.back(), h = e / d->size;
  SmallVector<Atom> group;
  for (size_t i = 0; i + 2 < r; ++i)
    group.append(view.dims[i].begin(), view.dims[i].end());
  // Grouped-query attention: the innermost head factor repeats each head
  // of the base (stride 0, an Expand of repeat_kv).
  int64_t shared = 1;
  if (!group.empty() && group.back().stride == 0) {
    shared = group.back().size;
    group.pop_back();
  }
  if ((r == 4 && sizeOf(view.dims[1]) != h * shared) ||
      !splitInner(group, h, d->size))
    return std::nullopt;
  std::optional<Atom> b = asRun(group);
  if (!b || b->size * l->size * e != tensorTypeOf(view.base).getNumElements())
    return std::nullopt;
  bool batchMajor = (b->size == 1 || b->stride == l->size * e) &&
                    (l->size == 1 || l->stride == e);
  bool seqMajor = (l->size == 1 || l->stride == b->size * e) &&
                  (b->size == 1 || b->stride == e);
  if (!batchMajor && !seqMajor)
    return std::nullopt;
  return Heads{view.base, b->size, l->size, h * shared, d->size, !batchMajor,
               shared};
}

/// The axis of O = [B, Lq, E] that an atom of stride `s` indexes.
int axisOf(int64_t s, int64_t lq, int64_t e) {
  return s >= lq * e ? 0 : s >= e ? 1 : 2;
}

/// True if `view` (on O = [B, Lq, E]) is O, or O transposed to [Lq, B, E],
/// reshaped; sets `seqMajor` for the transpose.
bool isFlatOutput(const StridedView &view, ArrayRef<int64_t> o, bool &seqMajor) {
  SmallVector<Atom> flat;
  for (const AtomList &dim : view.dims)
    flat.append(dim.begin(), dim.end());
  SmallVector<int> order;
  SmallVector<SmallVector<Atom>, 3> axes(3);
  for (const Atom &a : flat) {
    if (a.stride == 0)
      return false;
    int axis = axisOf(a.stride, o[1], o[2]);
    if (order.empty() || order.back() != axis) {
      if (llvm::is_contained(order, axis))
        return false;
      order.push_back(axis);
    }
    axes[axis].push_back(a);
  }
  int64_t strides[3] = {o[1] * o[2], o[2], 1};
  for (int axis = 0; axis < 3; ++axis) {
    std::optional<Atom> run = asRun(axes[axis]);
    if (!run || run->size != o[axis] || (o[axis] > 1 && run->stride != strides[axis]))
      return false;
  }
  if (!order.empty() && order.back() != 2 && o[2] > 1)
    return false;
  seqMajor = order.size() >= 2 && order[0] == 1 && order[1] == 0;
  return true;
}

} // namespace

Value peelScale(Value v, double &scale) {
  while (true) {
    v = skipNoOps(v);
    Operation *op = v.getDefiningOp();
    if (!op || !(isOnnx(op, "Mul") || isOnnx(op, "Div")))
      return v;
    bool div = isOnnx(op, "Div");
    int found = -1;
    for (int i : {1, 0}) {
      if (div && i == 0)
        continue;
      std::optional<double> c = getScalarConst(op->getOperand(i));
      Value other = op->getOperand(1 - i);
      if (c && *c != 0 && other.getType() == v.getType()) {
        scale = div ? scale / *c : scale * *c;
        found = 1 - i;
        break;
      }
    }
    if (found < 0)
      return v;
    v = op->getOperand(found);
  }
}

Value forwardNoOps(Value v) {
  while (v.hasOneUse()) {
    Operation *user = *v.getUsers().begin();
    if (!(isOnnx(user, "Identity") ||
          (isOnnx(user, "Cast") &&
           user->getResult(0).getType() == v.getType())))
      break;
    v = user->getResult(0);
  }
  return v;
}

std::optional<Heads> matchHeadsLayout(Value v, bool keyT, double *scale,
                                      SmallVectorImpl<Operation *> *chain) {
  SmallVector<Operation *> ops;
  std::optional<Heads> farthest;
  double farthestScale = scale ? *scale : 1;
  size_t farthestOps = 0;
  auto found = [&](const std::optional<Heads> &heads, double s, size_t n) {
    if (scale)
      *scale = s;
    if (chain)
      chain->assign(ops.begin(), ops.begin() + n);
    return heads;
  };
  for (const Candidate &c : chainBack(v, scale, /*expand=*/true, ops)) {
    std::optional<StridedView> view = viewOn(c, ops, true);
    std::optional<Heads> heads = view ? readHeads(*view, keyT) : std::nullopt;
    if (!heads)
      continue;
    // Any [B*H, L, D] value also reads as one head of batch B*H, so a
    // split into heads further back wins; one head only if none is found.
    if (heads->h > 1)
      return found(heads, c.scale, c.ops);
    farthest = heads;
    farthestScale = c.scale;
    farthestOps = c.ops;
  }
  if (!farthest)
    return std::nullopt;
  return found(farthest, farthestScale, farthestOps);
}

/// [B, L, (H/group)*D] -> [B, L, H*D], each head repeated `group` times:
/// `group` copies side by side in a [B, L, H/group, group, D] concat.
static Value repeatHeads(OpBuilder &rw, Location loc, Value flat,
                         const Heads &x) {
  int64_t kv = x.h / x.group;
  Value one = reshapeTo(rw, loc, flat, {x.b, x.l, kv, 1, x.d});
  SmallVector<Value> copies(x.group, one);
  Value rep = ConcatOp::create(
      rw, loc,
      RankedTensorType::get({x.b, x.l, kv, x.group, x.d}, rw.getF32Type()),
      copies, 3);
  return reshapeTo(rw, loc, rep, {x.b, x.l, x.h * x.d});
}

Value flatProjection(OpBuilder &rw, Location loc, const Heads &x) {
  int64_t e = x.h / x.group * x.d;
  if (x.group > 1) {
    Heads own = x;
    own.h /= x.group;
    own.group = 1;
    return repeatHeads(rw, loc, flatProjection(rw, loc, own), x);
  }
  if (!x.seqMajor)
    return reshapeTo(rw, loc, x.base, {x.b, x.l, e});
  Value seqFirst = reshapeTo(rw, loc, x.base, {x.l, x.b, e});
  return TransposeOp::create(
      rw, loc, RankedTensorType::get({x.b, x.l, e}, rw.getF32Type()), seqFirst,
      rw.getDenseI64ArrayAttr({1, 0, 2}));
}

Value matchKeyPaddingLayout(Value m, ArrayRef<int64_t> scores) {
  size_t r = scores.size();
  SmallVector<Operation *> ops;
  Value found;
  for (const Candidate &c : chainBack(m, nullptr, /*expand=*/true, ops)) {
    std::optional<StridedView> view = viewOn(c, ops, true);
    if (!view || view->dims.size() != r)
      continue;
    std::optional<Atom> keys = asRun(view->dims[r - 1]);
    bool perQuery = llvm::any_of(view->dims[r - 2],
                                 [](const Atom &a) { return a.stride != 0; });
    if (!keys || keys->size != scores.back() ||
        (keys->size > 1 && keys->stride != 1) || perQuery)
      continue;
    // Batch atoms (nonzero stride) outside the heads' broadcast (stride 0).
    SmallVector<Atom> batch;
    bool inHeads = false, ok = true;
    for (size_t i = 0; i + 2 < r; ++i)
      for (const Atom &a : view->dims[i]) {
        inHeads |= a.stride == 0;
        ok &= (a.stride == 0) == inHeads;
        if (a.stride != 0)
          batch.push_back(a);
      }
    std::optional<Atom> b = asRun(batch);
    if (ok && b && (b->size == 1 || b->stride == keys->size) &&
        b->size * keys->size == tensorTypeOf(c.base).getNumElements())
      found = c.base;
  }
  return found;
}

Operation *matchHeadMerge(Operation *pv, int64_t b, int64_t h, bool &seqMajor) {
  ArrayRef<int64_t> s = shapeOf(pv->getResult(0));
  size_t r = s.size();
  int64_t lq = s[r - 2], d = s[r - 1], e = h * d;
  StridedView view{Value(), SmallVector<AtomList, 4>(r)};
  pushAtom(view.dims[0], {b, lq * e});
  pushAtom(view.dims[r == 4 ? 1 : 0], {h, d});
  pushAtom(view.dims[r - 2], {lq, e});
  pushAtom(view.dims[r - 1], {d, 1});
  SmallVector<int64_t> o{b, lq, e};
  Operation *merge = nullptr;
  for (Value cur = forwardNoOps(pv->getResult(0));;) {
    Operation *user = soleUser(cur);
    if (!user || (!isOnnx(user, "Reshape") && !isOnnx(user, "Transpose")) ||
        user->getOperand(0) != cur)
      return merge;
    std::optional<StridedView> next = applyOp(view, user, false);
    if (!next)
      return merge;
    view = *next;
    bool flatSeqMajor;
    if (isFlatOutput(view, o, flatSeqMajor)) {
      merge = user;
      seqMajor = flatSeqMajor;
      // Hugging Face's [B, Lq, H, D] merge is taken as it always was.
      if (r == 4)
        return merge;
    }
    cur = forwardNoOps(user->getResult(0));
  }
}

Value mergedOutput(OpBuilder &rw, Location loc, Value out, Operation *merge,
                   bool seqMajor) {
  if (seqMajor) {
    ArrayRef<int64_t> s = shapeOf(out);
    out = TransposeOp::create(
        rw, loc, RankedTensorType::get({s[1], s[0], s[2]}, rw.getF32Type()),
        out, rw.getDenseI64ArrayAttr({1, 0, 2}));
  }
  return reshapeTo(rw, loc, out, shapeOf(merge->getResult(0)));
}

} // namespace spatten::lift
