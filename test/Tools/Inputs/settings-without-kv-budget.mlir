module attributes {spatten.settings = {"attn-bits" = 0 : i64, "head-keep" = 1.0 : f64, "k-bits" = 0 : i64, "keep-positions" = [], "pq-lsb" = 4 : i64, "pq-msb" = 0 : i64, "pq-threshold" = 0.1 : f64, "pq-values" = false, "q-bits" = 0 : i64, "token-keep" = 1.0 : f64, "token-schedule" = "paper", "v-bits" = 0 : i64, "value-keep" = 1.0 : f64}} {
  spatten_isa.program @old_settings attributes {dram_size = 64 : i64, rodata_size = 0 : i64, hardware = "{}", inputs = [], outputs = []} {
    spatten_isa.halt
  }
}
