//===- Latency.cpp - Cycles of one instruction on its unit ----------------===//
//
// Each instruction is charged on its own unit with no DRAM bank/row effects:
// the cycle-level model (Engine, Hbm, AttentionPipeline) adds overlap and
// memory timing on top.
//
//===----------------------------------------------------------------------===//

#include "spatten/Sim/Timing/Latency.h"

using namespace spatten;
using namespace spatten::isa;
using namespace spatten::sim;

static uint64_t ceilDiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

unsigned sim::vecFuncCost(VecFunc f) {
  switch (f) {
  // One lane-cycle per element: adders, comparators, sign logic.
  case VecFunc::Copy: case VecFunc::Add: case VecFunc::Sub: case VecFunc::Mul:
  case VecFunc::Max: case VecFunc::Min: case VecFunc::Neg: case VecFunc::Relu:
  case VecFunc::Abs: case VecFunc::RowSum: case VecFunc::RowMean:
  case VecFunc::RowMax:
  case VecFunc::RowCumSum:
    return 1;
  // Iterative units (divider, square root, transcendental approximations).
  case VecFunc::Div: case VecFunc::Recip: case VecFunc::Sqrt:
  case VecFunc::Exp: case VecFunc::Log: case VecFunc::Tanh: case VecFunc::Erf:
  case VecFunc::Sigmoid: case VecFunc::Silu: // Silu: sigmoid, then one MAC
    return 4;
  case VecFunc::Pow: // exp(y * log(x))
    return 8;
  case VecFunc::GeluErf: case VecFunc::GeluTanh: // transcendental + 4 MACs
    return 6;
  // Row passes: layer norm = mean, variance, normalize; softmax = max,
  // exp-and-sum, divide (exp counted at its 4-cycle cost).
  // RMSNorm = mean of squares, normalize; log-softmax = max, exp-and-sum,
  // subtract the log (one log per row, not counted per element).
  case VecFunc::LayerNorm:
    return 3;
  case VecFunc::RmsNorm:
    return 2;
  case VecFunc::Softmax: case VecFunc::LogSoftmax:
    return 6;
  // Rotary: two multiplies and an add (rotate_half is wiring and a sign).
  case VecFunc::Rotary:
    return 3;
  }
  return 1;
}

static uint64_t attnEstimate(const Instr &inst, const HardwareConfig &hw) {
  using F = fields::Attn;
  uint64_t lq = inst.get(F::lq), lk = inst.get(F::lk), d = inst.get(F::d);
  // finish is charged by the simulator (it recomputes some rows only).
  auto phase = AttnPhase(inst.get(F::phase));
  if (phase == AttnPhase::Values)
    return attnCycles(0, lk, d, /*pv=*/true, lq, hw);
  bool pv = phase != AttnPhase::Decide &&
            !(inst.get(F::flags) & (AttnDeferValues | AttnFillStats));
  return attnCycles(lq, lk, d, pv, lq, hw);
}

uint64_t sim::estimateCycles(const Instr &inst, const HardwareConfig &hw) {
  switch (lookupOpcode(inst.opcodeByte())->opcode) {
  case Opcode::Halt:
  case Opcode::Sync:
    return 0; // ordering only; the functional model executes in order
  case Opcode::Bind:
    return 0; // decoded with the instruction it patches
  case Opcode::Load:
  case Opcode::Store:
  case Opcode::Gather:
  case Opcode::Scatter: // gather and scatter share the Dma positions
    return dmaCycles(inst.get(fields::Dma::rows), dmaRowBytes(inst), hw);
  case Opcode::Gemm: {
    using F = fields::Gemm;
    return ceilDiv(inst.get(F::m) * inst.get(F::n) * inst.get(F::k),
                   hw.gemmMultipliers);
  }
  case Opcode::Attn:
    return attnEstimate(inst, hw);
  case Opcode::Vec: {
    using F = fields::Vec;
    return ceilDiv(inst.get(F::rows) * inst.get(F::cols), hw.vectorLanes) *
           vecFuncCost(VecFunc(inst.get(F::func)));
  }
  case Opcode::Topk:
    // Data dependent: the simulator counts the quick-select passes.
    return 0;
  }
  return 0;
}

uint64_t sim::dmaCycles(uint64_t rows, uint64_t rowBytes,
                        const HardwareConfig &hw) {
  if (!rows || !rowBytes) // e.g. a count bound to 0: nothing moves
    return 0;
  return hw.dramLatencyCycles +
         ceilDiv(rows * rowBytes, hw.dramBytesPerCycle());
}

uint64_t sim::attnCycles(uint64_t rows, uint64_t lk, uint64_t d, bool pv,
                         uint64_t lqForPv, const HardwareConfig &hw) {
  uint64_t scores = rows * lk;
  return ceilDiv(scores * d, hw.qkMultipliers) +
         ceilDiv(scores, hw.softmaxUnits) +
         (pv ? ceilDiv(lqForPv * lk * d, hw.pvMultipliers) : 0);
}
