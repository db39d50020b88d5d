//===- Passes.td - spatten_isa passes ----------------------*- tablegen -*-===//

#ifndef SPATTEN_ISA_PASSES_TD
#define SPATTEN_ISA_PASSES_TD

include "mlir/Pass/PassBase.td"

def SpAttenISASchedule : Pass<"spatten-isa-schedule", "mlir::ModuleOp"> {
  let summary = "Replace per-op syncs by the exact queue dependencies";
  let description = [{
    The lowering orders every op's instructions after the previous op's
    with a `sync`. This pass removes the `sync`s and instead sets each
    instruction's `dep_wait` to the queues (load, compute, store; docs/ISA.md
    "Queues and dependencies") whose earlier instructions it conflicts with:
    they touch overlapping SRAM, DRAM or attention-unit state and one of
    them writes (`include/spatten/ISA/Accesses.h`). Loads of the next tile
    then overlap the compute of this one wherever the lowering
    double-buffers, and stores overlap the next op.

    A wait on a queue covers every earlier instruction of that queue (each
    queue runs in order), and what a waited-for instruction had itself
    waited for, so the pass adds no redundant bit it can prove covered.
  }];
  let dependentDialects = ["spatten::isa::ISADialect"];
}

#endif
