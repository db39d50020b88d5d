# A toy language model with two entry points over a 16-token vocabulary
# whose greedy decoding is a Fibonacci sequence, so that the host loop of
# `spatten-sim --generate` is checked end to end:
#   prefill: logits[r, v] = -|v - (x_r + 1)| for each prompt token x_r, and
#            the last prompt token is stored into the cache cell (DRAM 128);
#   decode:  logits[v] = -|v - (t + prev)| for the fed token t and the token
#            `prev` the previous run stored in the cache cell; t is stored
#            there for the next step.
# So the first generated token is x_last + 1 and each next one the sum of
# the last two (the last id, 15, once the sum leaves the vocabulary).
# DRAM: iota 0..15 (.rodata at 0), prefill input_ids at 64, decode
# input_ids at 80, the cache cell at 128, prefill logits at 256, decode
# logits at 384.
.entry prefill
load tensor_class=weights dtype=f32 bits=32 dram_addr=0 dram_stride=64 sram_buf=wgt sram_stride=16 rows=1 cols=16
load tensor_class=activations dtype=i64 bits=32 dram_addr=64 dram_stride=8 sram_buf=act sram_stride=1 rows=2 cols=1
vec func=add flags=1 x_buf=act x_stride=1 z_buf=act z_off=16 z_stride=1 rows=2 cols=1 imm=1
vec func=sub flags=2 x_buf=wgt x_stride=0 y_buf=act y_off=16 y_stride=1 z_buf=acc z_stride=16 rows=2 cols=16
vec func=abs x_buf=acc x_stride=16 z_buf=acc z_stride=16 rows=2 cols=16
vec func=neg x_buf=acc x_stride=16 z_buf=acc z_stride=16 rows=2 cols=16
store tensor_class=activations dtype=f32 bits=32 dram_addr=256 dram_stride=64 sram_buf=acc sram_stride=16 rows=2 cols=16
store tensor_class=k dtype=f32 bits=32 dram_addr=128 dram_stride=4 sram_buf=act sram_off=1 sram_stride=1 rows=1 cols=1
halt
.entry decode
load tensor_class=weights dtype=f32 bits=32 dram_addr=0 dram_stride=64 sram_buf=wgt sram_stride=16 rows=1 cols=16
load tensor_class=activations dtype=i64 bits=32 dram_addr=80 dram_stride=8 sram_buf=act sram_stride=1 rows=1 cols=1
load tensor_class=k dtype=f32 bits=32 dram_addr=128 dram_stride=4 sram_buf=act sram_off=1 sram_stride=1 rows=1 cols=1
vec func=add x_buf=act x_stride=1 y_buf=act y_off=1 y_stride=1 z_buf=act z_off=16 z_stride=1 rows=1 cols=1
vec func=sub flags=2 x_buf=wgt x_stride=0 y_buf=act y_off=16 y_stride=1 z_buf=acc z_stride=16 rows=1 cols=16
vec func=abs x_buf=acc x_stride=16 z_buf=acc z_stride=16 rows=1 cols=16
vec func=neg x_buf=acc x_stride=16 z_buf=acc z_stride=16 rows=1 cols=16
store tensor_class=activations dtype=f32 bits=32 dram_addr=384 dram_stride=64 sram_buf=acc sram_stride=16 rows=1 cols=16
store tensor_class=k dtype=f32 bits=32 dram_addr=128 dram_stride=4 sram_buf=act sram_stride=1 rows=1 cols=1
halt
.rodata f32 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
