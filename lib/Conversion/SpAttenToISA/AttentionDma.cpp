//===- AttentionDma.cpp - One attention head's rows from DRAM -------------===//
//
// The loads of one head's Q, K or V rows: columns of a [B, L, H*D] tensor,
// fixed-point rows, kept heads read in place by index, or a column slice of
// a fused projection.
//
//===----------------------------------------------------------------------===//

#include "AttentionLowering.h"

using namespace mlir;
using namespace spatten;
using namespace spatten::isa;

/// Loads `rows` rows of head `h` of a [B, L, H*D] tensor (batch `b`, from
/// row `r0`) into `dst`: fp32 columns [h*D, (h+1)*D), or the head's
/// fixed-point rows when the tensor is packed.
void AttentionLowering::loadHeadRows(SramRef dst, const Tensor &src,
                                     TensorClass cls, int64_t b, int64_t h,
                                     int64_t r0, int64_t rows, DmaPred pred) {
  int64_t D = p.D, L = src.shape[1], HD = src.shape[2], H = HD / D;
  DramRef ref = src.ref;
  ref.cls = cls;
  if (src.ref.packed()) {
    int64_t row = src.ref.rowBytes(D);
    ref.addr += ((b * L + r0) * H + h) * row;
    pb.load(dst, ref, H * row, rows, D, pred);
    return;
  }
  ref.addr = src.addrOf((b * L + r0) * HD + h * D);
  pb.load(dst, ref, HD * 4, rows, D, pred);
}

/// loadHeadRows of a HeadRows: a kept head of an unpruned tensor is one
/// gather with period 1 (its index, one token row apart), fp32 or packed.
void AttentionLowering::loadHeadRows(SramRef dst, const HeadRows &src,
                                     TensorClass cls, int64_t b, int64_t h,
                                     int64_t r0, int64_t rows, DmaPred pred) {
  if (src.listOff < 0 && src.colOff)
    return loadSliceHeadRows(dst, src, cls, b, h, r0, rows, pred);
  // A slice from column 0 reads like a tensor of its input's row width.
  if (src.listOff < 0)
    return loadHeadRows(dst, *src.src, cls, b, h, r0, rows, pred);
  const Tensor &in = *src.src;
  int64_t D = p.D, L = in.shape[1], H = in.shape[2] / D;
  DramRef ref = in.ref;
  ref.cls = cls;
  int64_t row = ref.packed() ? ref.rowBytes(D) : D * dtypeBytes(ref.dtype);
  ref.addr += (b * L + r0) * H * row;
  pb.gather(dst, ref, row, rows, D, {src.listOff + h, 1, H * row}, pred);
}

/// Head h of a column slice of fp32 [B, L, C], read in place: columns
/// colOff + h*D.., one input row apart.
void AttentionLowering::loadSliceHeadRows(SramRef dst, const HeadRows &src,
                                          TensorClass cls, int64_t b, int64_t h,
                                          int64_t r0, int64_t rows,
                                          DmaPred pred) {
  const Tensor &in = *src.src;
  int64_t L = in.shape[1], C = in.shape[2];
  DramRef ref = in.ref;
  ref.cls = cls;
  ref.addr = in.addrOf((b * L + r0) * C + src.colOff + h * p.D);
  pb.load(dst, ref, C * 4, rows, p.D, pred);
}

