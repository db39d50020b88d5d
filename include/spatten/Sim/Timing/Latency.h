//===- Latency.h - Cycles of one instruction on its unit --------*- C++ -*-===//
//
// The first-order cost of each instruction on its own unit (docs/Simulator.md,
// "First-order estimate"): what GEMM, VEC and TOPK occupy the compute queue
// for in the cycle-level model, and, summed serially with every DMA at the
// fixed `dram_latency_cycles`, the report's `serial_first_order` estimate.
// Units and rates are HardwareConfig fields.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_SIM_TIMING_LATENCY_H
#define SPATTEN_SIM_TIMING_LATENCY_H

#include "spatten/ISA/Spec.h"
#include "spatten/Support/HardwareConfig.h"

#include <cstdint>

namespace spatten::sim {

/// First-order cost of one instruction in cycles:
/// DMA latency + ceil(bytes / dram bytes per cycle), GEMM
/// ceil(m*n*k / gemm_multipliers), ATTN Q*K + softmax + prob*V on their
/// units, VEC ceil(rows*cols / vector_lanes) * per-function passes.
/// `inst` must already be validated.
/// DMA bytes are the quantized row bytes (isa::dmaRowBytes). ATTN `decide` and
/// AttnDeferValues leave out prob*V; phase `values` is prob*V only. TOPK,
/// ATTN `finish` and DMAs gated by `pred` depend on the data: the simulator
/// charges them itself (timing::quickSelect, attnCycles, dmaCycles).
uint64_t estimateCycles(const isa::Instr &inst, const HardwareConfig &hw);

/// DMA latency + ceil(rows * rowBytes / DRAM bytes per cycle): the cost of
/// moving `rows` rows of `rowBytes` bytes; 0 when nothing moves.
uint64_t dmaCycles(uint64_t rows, uint64_t rowBytes, const HardwareConfig &hw);

/// ATTN cost when `rows` query rows need Q*K and softmax (all of them
/// except in phase `finish`, none in `values`) and `pv` says whether prob*V
/// runs over `lqForPv` rows: ceil(rows*lk*d / qk_multipliers) +
/// ceil(rows*lk / softmax_units) + ceil(lqForPv*lk*d / pv_multipliers).
uint64_t attnCycles(uint64_t rows, uint64_t lk, uint64_t d, bool pv,
                    uint64_t lqForPv, const HardwareConfig &hw);

/// Passes over the data a vector function costs (special functions take
/// more than one lane-cycle per element).
unsigned vecFuncCost(isa::VecFunc f);

} // namespace spatten::sim

#endif // SPATTEN_SIM_TIMING_LATENCY_H
