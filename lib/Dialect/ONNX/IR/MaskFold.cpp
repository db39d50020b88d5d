//===- MaskFold.cpp - constant folding of Trilu, Tile and CumSum -----------===//
//
// Exporters build causal masks with Trilu (torch.triu/tril), repeat tables
// with Tile and number positions with CumSum; on constants these fold here.
//
//===----------------------------------------------------------------------===//

#include "FoldUtils.h"
#include "spatten/Dialect/ONNX/IR/ONNXOps.h"

#include <cstring>

using namespace mlir;
using namespace spatten::onnx;

/// Trilu-14: element (i, j) of each matrix of the last two dims is kept when
/// j - i >= k (upper) or j - i <= k (lower), else zero.
OpFoldResult TriluOp::fold(FoldAdaptor a) {
  auto type = staticType(getOutput());
  auto in = constOf(a.getInput());
  if (!type || !in || in->type != type || type.getRank() < 2 ||
      in->size() > kMoveLimit)
    return {};
  int64_t k = 0;
  if (getK()) {
    auto kValue = constOf(a.getK());
    if (!kValue || kValue->size() != 1)
      return {};
    k = kValue->getInt(0);
  }
  int64_t cols = type.getShape().back();
  int64_t rows = type.getShape()[type.getRank() - 2];
  int64_t eb = in->elemBytes;
  std::vector<char> out(in->size() * eb, 0);
  for (int64_t o = 0, n = in->size(); o < n; ++o) {
    int64_t j = o % cols, i = (o / cols) % rows;
    bool keep = getUpper() ? j - i >= k : j - i <= k;
    if (keep)
      std::memcpy(out.data() + o * eb, in->at(o), eb);
  }
  return makeElements(type, out);
}

OpFoldResult TileOp::fold(FoldAdaptor a) {
  auto type = staticType(getOutput());
  auto in = constOf(a.getInput());
  if (!type || !in || type.getRank() != in->type.getRank() ||
      type.getNumElements() > kMoveLimit)
    return {};
  if (in->type == type)
    return a.getInput(); // every repeat is 1
  int64_t rank = type.getRank();
  for (int64_t d = 0; d < rank; ++d)
    if (in->shape()[d] == 0 || type.getDimSize(d) % in->shape()[d] != 0)
      return {};
  SmallVector<int64_t> inStrides = stridesOf(in->shape());
  return gatherByCoordinates(type, *in, [&](int64_t d, int64_t x) {
    return x % in->shape()[d] * inStrides[d];
  });
}

/// CumSum-14: running sums along `axis`, from the end when `reverse`, each
/// without its own element when `exclusive`.
OpFoldResult CumSumOp::fold(FoldAdaptor a) {
  auto type = staticType(getY());
  auto in = constOf(a.getX());
  auto axisValue = constOf(a.getAxis());
  if (!type || !in || !axisValue || axisValue->size() != 1 ||
      in->type != type || in->size() > kMathLimit)
    return {};
  auto axis = normalizeAxis(axisValue->getInt(0), type.getRank());
  if (!axis)
    return {};
  int64_t len = type.getDimSize(*axis), stride = stridesOf(type.getShape())[*axis];
  Type et = type.getElementType();
  std::vector<char> out(in->size() * elementBytes(et));
  for (int64_t o = 0, n = in->size(); o < n; ++o) {
    if ((o / stride) % len != 0)
      continue; // each line along the axis starts at index 0
    double dsum = 0;
    int64_t isum = 0;
    auto store = [&](int64_t e) {
      in->isFloat() ? storeDouble(et, out.data(), e, dsum)
                    : storeInt(et, out.data(), e, isum);
    };
    for (int64_t s = 0; s < len; ++s) {
      int64_t e = o + (getReverse() ? len - 1 - s : s) * stride;
      if (getExclusive())
        store(e);
      dsum += in->isFloat() ? in->getDouble(e) : 0.0;
      isum += in->isFloat() ? 0 : in->getInt(e);
      if (!getExclusive())
        store(e);
    }
  }
  return makeElements(type, out);
}
