// RUN: spatten-opt %s --convert-spatten-to-isa --mlir-elide-elementsattrs-if-larger=16 | FileCheck %s

// BERT-base's 128 x 768 x 768 projection with the paper's buffers (act and
// acc slots of 32768 elements, wgt slots of 65536): tiles are chosen by DRAM
// traffic, X x ceil(N/tn) + W x ceil(M/tm). 512 columns would allow only
// 64 rows (weights read twice); 256 columns take all 128 rows in one tile,
// so every weight element is loaded exactly once: 3 column tiles x 4 K
// tiles of (65536 - 256) / 256 = 255 rows.
// CHECK-LABEL: spatten_isa.program @bert_projection
// CHECK-COUNT-12: spatten_isa.gemm {{{.*}}m = 128 : i64, n = 256 : i64
// CHECK-NOT: spatten_isa.gemm
func.func @bert_projection(%x: tensor<128x768xf32>) -> tensor<128x768xf32> {
  %w = arith.constant dense<0.5> : tensor<768x768xf32>
  %y = spatten.linear %x, %w : (tensor<128x768xf32>, tensor<768x768xf32>) -> tensor<128x768xf32>
  return %y : tensor<128x768xf32>
}
