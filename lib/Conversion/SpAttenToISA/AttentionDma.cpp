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

/// Key rows [f0, f0 + n) of head h into K at 0 for a pass over one fill:
/// progressive quantization's plane `plane` (0 MSB, 1 LSB) under `pred`,
/// else the rows as loadFill reads them (to the KV cache with
/// `withPresent`).
void AttentionLowering::loadKeyFill(int64_t b, int64_t h, int64_t f0,
                                    int64_t n, unsigned plane, DmaPred pred,
                                    bool withPresent) {
  if (!op.pqThreshold)
    return loadFill(Buffer::K, b, h, f0, n, withPresent);
  const Tensor &t = planes[plane];
  loadHeadRows({Buffer::K, 0, p.D}, t, t.ref.cls, b, h, f0, n, pred);
}

/// Value rows [f0, f0 + n) of head h into V at 0: with K, or
/// (`afterTopk`) only the rows the pending value-row mask keeps; under
/// `--pq-values` the MSB plane and the LSB plane of a head that refetched.
void AttentionLowering::loadValueFill(int64_t b, int64_t h, int64_t f0,
                                      int64_t n, bool withPresent,
                                      bool afterTopk) {
  SramRef dst{Buffer::V, 0, p.D};
  if (op.pqValues) {
    loadHeadRows(dst, planes[2], planes[2].ref.cls, b, h, f0, n,
                 afterTopk ? DmaPred::ValueRows : DmaPred::Always);
    loadHeadRows(dst, planes[3], planes[3].ref.cls, b, h, f0, n,
                 afterTopk ? DmaPred::UnconfidentValueRows
                           : DmaPred::Unconfident);
    return;
  }
  if (afterTopk) // no KV cache: local value pruning has none
    return loadHeadRows(dst, p.v, TensorClass::V, b, h, f0, n,
                        DmaPred::ValueRows);
  loadFill(Buffer::V, b, h, f0, n, withPresent);
}
