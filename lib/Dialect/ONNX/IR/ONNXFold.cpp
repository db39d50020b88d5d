//===- ONNXFold.cpp - constant folding of onnx ops -------------------------===//
//
// Exporters compute shapes at run time (Shape -> Gather -> Unsqueeze ->
// Concat -> Reshape). Once the importer has bound every dynamic dim, these
// chains are constant; the folders below evaluate them on dense and
// dense_resource constants alike. A folder only fires when its result type is
// static (ShapeRefinement.cpp makes it so), because the folded attribute must
// carry exactly the result type.
//
//===----------------------------------------------------------------------===//

#include "FoldUtils.h"
#include "spatten/Dialect/ONNX/IR/ONNXOps.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

using namespace mlir;
using namespace spatten::onnx;

namespace spatten::onnx {

RankedTensorType staticType(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  if (!t || !t.hasStaticShape())
    return {};
  // Dims come from constant operands; a count that would overflow int64
  // must not reach getNumElements() and the allocations sized by it.
  int64_t n = 1;
  for (int64_t d : t.getShape()) {
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      return {};
    n *= d;
  }
  return t;
}

std::optional<ConstTensor> constOf(Attribute attr) {
  return ConstTensor::get(attr);
}

std::optional<SmallVector<ConstTensor>> constsOf(ArrayRef<Attribute> attrs) {
  SmallVector<ConstTensor> tensors;
  for (Attribute a : attrs) {
    auto t = constOf(a);
    if (!t)
      return std::nullopt;
    tensors.push_back(*t);
  }
  return tensors;
}

SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t i = (int64_t)shape.size() - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

void forEachBroadcast(ArrayRef<int64_t> outShape, ArrayRef<int64_t> inShape,
                      llvm::function_ref<void(int64_t, int64_t)> fn) {
  int64_t rank = outShape.size(), offset = rank - inShape.size();
  SmallVector<int64_t> inStrides = stridesOf(inShape), effStrides(rank, 0);
  for (int64_t d = offset; d < rank; ++d)
    if (inShape[d - offset] != 1)
      effStrides[d] = inStrides[d - offset];
  SmallVector<int64_t> idx(rank, 0);
  int64_t n = ShapedType::getNumElements(outShape), in = 0;
  for (int64_t o = 0; o < n; ++o) {
    fn(o, in);
    for (int64_t d = rank - 1; d >= 0; --d) {
      in += effStrides[d];
      if (++idx[d] < outShape[d])
        break;
      in -= effStrides[d] * idx[d];
      idx[d] = 0;
    }
  }
}

ElementsAttr gatherElements(RankedTensorType type, const ConstTensor &src,
                            llvm::function_ref<int64_t(int64_t)> srcIndex) {
  int64_t n = type.getNumElements(), eb = src.elemBytes;
  std::vector<char> out(n * eb);
  for (int64_t o = 0; o < n; ++o)
    std::memcpy(out.data() + o * eb, src.at(srcIndex(o)), eb);
  return makeElements(type, out);
}

ElementsAttr
gatherByCoordinates(RankedTensorType type, const ConstTensor &src,
                    llvm::function_ref<int64_t(int64_t, int64_t)> term) {
  SmallVector<int64_t> outStrides = stridesOf(type.getShape());
  return gatherElements(type, src, [&](int64_t o) {
    int64_t i = 0;
    for (int64_t d = 0, rank = type.getRank(); d < rank; ++d)
      i += term(d, (o / outStrides[d]) % type.getDimSize(d));
    return i;
  });
}

} // namespace spatten::onnx

/// Same elements, new shape (Reshape, Squeeze, Unsqueeze, Flatten, Identity).
static OpFoldResult refold(Value result, Attribute input) {
  auto type = staticType(result);
  auto t = constOf(input);
  if (!type || !t || t->size() != type.getNumElements() ||
      t->type.getElementType() != type.getElementType())
    return {};
  if (auto dense = dyn_cast<DenseElementsAttr>(input))
    return dense.reshape(type);
  if (t->size() > kMoveLimit)
    return {};
  return gatherElements(type, *t, [](int64_t i) { return i; });
}

OpFoldResult IdentityOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

//===----------------------------------------------------------------------===//
// Shapes
//===----------------------------------------------------------------------===//

OpFoldResult ShapeOp::fold(FoldAdaptor) {
  auto in = rankedType(getData());
  if (!in)
    return {};
  int64_t rank = in.getRank();
  auto clampIndex = [&](int64_t i) {
    if (i < 0)
      i += rank;
    return std::clamp<int64_t>(i, 0, rank);
  };
  int64_t start = clampIndex(getStart().value_or(0));
  int64_t end = clampIndex(getEnd().value_or(rank));
  SmallVector<int64_t> dims;
  for (int64_t d = start; d < end; ++d) {
    if (in.isDynamicDim(d))
      return {};
    dims.push_back(in.getDimSize(d));
  }
  auto type = RankedTensorType::get({(int64_t)dims.size()},
                                    IntegerType::get(getContext(), 64));
  if (type != getType())
    return {};
  return DenseElementsAttr::get(type, ArrayRef<int64_t>(dims));
}

OpFoldResult SizeOp::fold(FoldAdaptor) {
  auto in = staticType(getData());
  auto type = RankedTensorType::get({}, IntegerType::get(getContext(), 64));
  if (!in || type != getType())
    return {};
  return DenseElementsAttr::get(type, in.getNumElements());
}

OpFoldResult ConstantOfShapeOp::fold(FoldAdaptor) {
  auto type = staticType(getOutput());
  if (!type)
    return {};
  if (!getValueAttr())
    return DenseElementsAttr::get(type, 0.0f).reshape(type);
  auto value = constOf(getValueAttr());
  if (!value || value->type.getElementType() != type.getElementType())
    return {};
  if (type.getElementType().isInteger(1))
    return DenseElementsAttr::get(type, value->getInt(0) != 0);
  return DenseElementsAttr::getFromRawBuffer(
      type, ArrayRef<char>(value->at(0), value->elemBytes));
}

OpFoldResult RangeOp::fold(FoldAdaptor a) {
  auto type = staticType(getOutput());
  auto start = constOf(a.getStart()), limit = constOf(a.getLimit()),
       delta = constOf(a.getDelta());
  if (!type || !start || !limit || !delta || type.getNumElements() > kMathLimit)
    return {};
  Type et = type.getElementType();
  int64_t n = type.getNumElements();
  std::vector<char> out(n * elementBytes(et));
  for (int64_t i = 0; i < n; ++i) {
    if (start->isFloat())
      storeDouble(et, out.data(), i,
                  start->getDouble(0) + i * delta->getDouble(0));
    else
      storeInt(et, out.data(), i, start->getInt(0) + i * delta->getInt(0));
  }
  // The count must agree with the ONNX formula, or the result type is stale.
  double count = std::ceil((limit->getDouble(0) - start->getDouble(0)) /
                           delta->getDouble(0));
  if (std::max<double>(count, 0) != (double)n)
    return {};
  return makeElements(type, out);
}

OpFoldResult ReshapeOp::fold(FoldAdaptor a) {
  if (getData().getType() == getType() && staticType(getReshaped()))
    return getData();
  return refold(getReshaped(), a.getData());
}
OpFoldResult FlattenOp::fold(FoldAdaptor a) {
  if (getInput().getType() == getType())
    return getInput();
  return refold(getOutput(), a.getInput());
}
OpFoldResult UnsqueezeOp::fold(FoldAdaptor a) {
  return refold(getExpanded(), a.getData());
}
OpFoldResult SqueezeOp::fold(FoldAdaptor a) {
  if (getData().getType() == getType() && staticType(getSqueezed()))
    return getData();
  return refold(getSqueezed(), a.getData());
}

OpFoldResult ExpandOp::fold(FoldAdaptor a) {
  auto type = staticType(getOutput());
  if (!type)
    return {};
  if (getInput().getType() == type)
    return getInput();
  auto in = constOf(a.getInput());
  if (!in || type.getNumElements() > kMoveLimit)
    return {};
  if (in->splat && !type.getElementType().isInteger(1))
    return DenseElementsAttr::getFromRawBuffer(
        type, ArrayRef<char>(in->at(0), in->elemBytes));
  std::vector<int64_t> index(type.getNumElements());
  forEachBroadcast(type.getShape(), in->shape(),
                   [&](int64_t o, int64_t i) { index[o] = i; });
  return gatherElements(type, *in, [&](int64_t o) { return index[o]; });
}

OpFoldResult ReduceProdOp::fold(FoldAdaptor a) {
  auto type = staticType(getReduced());
  auto in = constOf(a.getData());
  if (!type || !in || in->size() > kMathLimit)
    return {};
  int64_t rank = in->type.getRank();
  SmallVector<bool> reduced(rank, !getAxes().has_value());
  if (auto axes = getAxes())
    for (int64_t ax : *axes)
      reduced[*normalizeAxis(ax, rank)] = true;
  // Output index of each input element: drop (or zero) the reduced dims.
  SmallVector<int64_t> keptShape;
  for (int64_t d = 0; d < rank; ++d)
    keptShape.push_back(reduced[d] ? 1 : in->shape()[d]);
  if (ShapedType::getNumElements(keptShape) != type.getNumElements())
    return {};
  SmallVector<double> acc(type.getNumElements(), 1.0);
  SmallVector<int64_t> inStrides = stridesOf(in->shape()),
                       outStrides = stridesOf(keptShape);
  for (int64_t i = 0, n = in->size(); i < n; ++i) {
    int64_t o = 0, rest = i;
    for (int64_t d = 0; d < rank; ++d) {
      int64_t idx = rest / inStrides[d];
      rest %= inStrides[d];
      if (!reduced[d])
        o += idx * outStrides[d];
    }
    acc[o] *= in->isFloat() ? in->getDouble(i) : (double)in->getInt(i);
  }
  Type et = type.getElementType();
  std::vector<char> out(acc.size() * elementBytes(et));
  for (size_t o = 0; o < acc.size(); ++o)
    storeDouble(et, out.data(), o, acc[o]);
  return makeElements(type, out);
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

OpFoldResult TransposeOp::fold(FoldAdaptor a) {
  auto type = staticType(getTransposed());
  auto in = constOf(a.getData());
  if (!rankedType(getData()))
    return {};
  int64_t rank = rankedType(getData()).getRank();
  SmallVector<int64_t> perm;
  if (auto p = getPerm())
    perm.assign(p->begin(), p->end());
  else
    for (int64_t d = rank - 1; d >= 0; --d)
      perm.push_back(d);
  if (type && getData().getType() == type &&
      llvm::equal(perm, llvm::seq<int64_t>(0, rank)))
    return getData();
  if (!type || !in || in->size() > kMoveLimit)
    return {};
  SmallVector<int64_t> inStrides = stridesOf(in->shape());
  return gatherByCoordinates(type, *in, [&](int64_t d, int64_t x) {
    return x * inStrides[perm[d]];
  });
}

OpFoldResult GatherOp::fold(FoldAdaptor a) {
  auto type = staticType(getOutput());
  auto data = constOf(a.getData());
  auto indices = constOf(a.getIndices());
  if (!type || !data || !indices || type.getNumElements() > kMoveLimit)
    return {};
  int64_t rank = data->type.getRank();
  int64_t axis = *normalizeAxis(getAxis(), rank);
  int64_t dim = data->shape()[axis];
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < rank; ++d)
    inner *= data->shape()[d];
  int64_t numIdx = indices->size();
  SmallVector<int64_t> idx(numIdx);
  for (int64_t k = 0; k < numIdx; ++k) {
    idx[k] = indices->getInt(k);
    if (idx[k] < 0)
      idx[k] += dim;
    if (idx[k] < 0 || idx[k] >= dim)
      return {}; // out of range: left for the runtime to report
  }
  if (type.getNumElements() != data->size() / std::max<int64_t>(dim, 1) * numIdx)
    return {};
  return gatherElements(type, *data, [&](int64_t o) {
    int64_t in = o % inner, k = (o / inner) % numIdx, out = o / (inner * numIdx);
    return (out * dim + idx[k]) * inner + in;
  });
}

OpFoldResult ConcatOp::fold(FoldAdaptor a) {
  auto type = staticType(getConcatResult());
  if (!type || type.getNumElements() > kMoveLimit)
    return {};
  if (getInputs().size() == 1 && getInputs()[0].getType() == type)
    return getInputs()[0];
  auto consts = constsOf(a.getInputs());
  if (!consts)
    return {};
  SmallVector<ConstTensor> &ins = *consts;
  int64_t rank = type.getRank(), axis = *normalizeAxis(getAxis(), rank);
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d)
    outer *= type.getDimSize(d);
  int64_t eb = elementBytes(type.getElementType());
  std::vector<char> out;
  out.reserve(type.getNumElements() * eb);
  for (int64_t o = 0; o < outer; ++o)
    for (ConstTensor &t : ins) {
      int64_t chunk = t.size() / std::max<int64_t>(outer, 1);
      for (int64_t i = 0; i < chunk; ++i)
        out.insert(out.end(), t.at(o * chunk + i), t.at(o * chunk + i) + eb);
    }
  if ((int64_t)out.size() != type.getNumElements() * eb)
    return {};
  return makeElements(type, out);
}

/// Per-axis start and step of a slice, from ONNX Slice-13 clamping rules.
static std::optional<std::pair<SmallVector<int64_t>, SmallVector<int64_t>>>
sliceParams(ArrayRef<int64_t> shape, ArrayRef<int64_t> starts,
            ArrayRef<int64_t> ends, std::optional<SmallVector<int64_t>> axes,
            std::optional<SmallVector<int64_t>> steps) {
  int64_t rank = shape.size();
  SmallVector<int64_t> start(rank, 0), step(rank, 1);
  for (size_t k = 0; k < starts.size(); ++k) {
    int64_t axis = axes ? (*axes)[k] : (int64_t)k;
    auto ax = normalizeAxis(axis, rank);
    if (!ax)
      return std::nullopt;
    int64_t dim = shape[*ax], st = steps ? (*steps)[k] : 1;
    if (st == 0)
      return std::nullopt;
    int64_t s = starts[k] < 0 ? starts[k] + dim : starts[k];
    s = st > 0 ? std::clamp<int64_t>(s, 0, dim)
               : std::clamp<int64_t>(s, 0, dim - 1);
    start[*ax] = s;
    step[*ax] = st;
  }
  return std::make_pair(start, step);
}

OpFoldResult SliceOp::fold(FoldAdaptor a) {
  auto type = staticType(getOutput());
  auto data = constOf(a.getData());
  auto starts = getConstInts(getStarts()), ends = getConstInts(getEnds());
  std::optional<SmallVector<int64_t>> axes, steps;
  if (getAxes() && !(axes = getConstInts(getAxes())))
    return {};
  if (getSteps() && !(steps = getConstInts(getSteps())))
    return {};
  if (!type || !starts || !ends || starts->size() != ends->size())
    return {};
  if (!data) {
    // A slice keeping every element is a no-op.
    if (getData().getType() == type) {
      auto params = sliceParams(type.getShape(), *starts, *ends, axes, steps);
      if (params && llvm::all_of(params->first, [](int64_t s) { return s == 0; }) &&
          llvm::all_of(params->second, [](int64_t s) { return s == 1; }))
        return getData();
    }
    return {};
  }
  if (type.getNumElements() > kMoveLimit)
    return {};
  auto params = sliceParams(data->shape(), *starts, *ends, axes, steps);
  if (!params)
    return {};
  auto &[start, step] = *params;
  SmallVector<int64_t> inStrides = stridesOf(data->shape());
  return gatherByCoordinates(type, *data, [&](int64_t d, int64_t x) {
    return (start[d] + x * step[d]) * inStrides[d];
  });
}

LogicalResult SplitOp::fold(FoldAdaptor a, SmallVectorImpl<OpFoldResult> &results) {
  auto in = constOf(a.getInput());
  if (!in || in->size() > kMoveLimit)
    return failure();
  int64_t rank = in->type.getRank(), axis = *normalizeAxis(getAxis(), rank);
  SmallVector<int64_t> inStrides = stridesOf(in->shape());
  int64_t offset = 0;
  for (Value r : getOutputs()) {
    auto type = staticType(r);
    if (!type)
      return failure();
    results.push_back(gatherByCoordinates(type, *in, [&](int64_t d, int64_t x) {
      return (x + (d == axis ? offset : 0)) * inStrides[d];
    }));
    offset += type.getDimSize(axis);
  }
  if (offset != in->shape()[axis]) {
    results.clear();
    return failure();
  }
  return success();
}
