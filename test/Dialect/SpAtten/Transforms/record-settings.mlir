// RUN: spatten-opt %s --spatten-record-settings='token-keep=0.5 keep-positions=0,3 pq-msb=6 v-bits=6' -split-input-file | FileCheck %s
// RUN: spatten-opt %s --spatten-record-settings -split-input-file | FileCheck %s --check-prefix=DENSE
// RUN: spatten-opt %s --spatten-record-settings='value-keep=1.5' -split-input-file -verify-diagnostics

// Every setting is recorded on the module, keyed by its flag name; the
// defaults are written too (docs/BinaryFormat.md, "settings").
// CHECK: module attributes {spatten.settings = {"attn-bits" = 0 : i64, "head-keep" = 1.000000e+00 : f64, "k-bits" = 0 : i64, "keep-positions" = [0, 3], "kv-budget" = [], "pq-lsb" = 4 : i64, "pq-msb" = 6 : i64, "pq-threshold" = 1.000000e-01 : f64, "pq-values" = false, "q-bits" = 0 : i64, "token-keep" = 5.000000e-01 : f64, "token-schedule" = "paper", "v-bits" = 6 : i64, "value-keep" = 1.000000e+00 : f64}}
// DENSE: module attributes {spatten.settings = {"attn-bits" = 0 : i64, "head-keep" = 1.000000e+00 : f64, "k-bits" = 0 : i64, "keep-positions" = [], "kv-budget" = [], "pq-lsb" = 4 : i64, "pq-msb" = 0 : i64, "pq-threshold" = 1.000000e-01 : f64, "pq-values" = false, "q-bits" = 0 : i64, "token-keep" = 1.000000e+00 : f64, "token-schedule" = "paper", "v-bits" = 0 : i64, "value-keep" = 1.000000e+00 : f64}}
// An invalid setting is refused on the module, naming the flag.
// expected-error @+1 {{spatten-record-settings: --value-keep=1.50: a keep ratio must be in (0, 1]}}
module {
  func.func @main() {
    return
  }
}
