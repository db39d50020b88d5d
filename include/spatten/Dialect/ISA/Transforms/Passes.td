//===- Passes.td - spatten_isa passes ----------------------*- tablegen -*-===//

#ifndef SPATTEN_ISA_PASSES_TD
#define SPATTEN_ISA_PASSES_TD

include "mlir/Pass/PassBase.td"

def SpAttenISAInsertDependencies : Pass<"spatten-isa-insert-dependencies", "mlir::ModuleOp"> {
  let summary = "Replace per-op syncs by dependency tokens";
  let description = [{
    The lowering orders every op's instructions after the previous op's
    with a `sync`. This pass removes the `sync`s and orders only the
    instructions that conflict: they touch overlapping SRAM, DRAM,
    attention-unit state or registers and one of them writes
    (`include/spatten/ISA/Accesses.h`; an instruction patched by `bind`s
    reads their registers and accesses what it would anywhere in the bound
    fields' `[lo, hi]` ranges). An instruction of queue P that
    conflicts with instruction J of queue Q takes a token from Q
    (`dep_wait`), and J pushes one to P (`dep_signal`; docs/ISA.md "Queues
    and dependencies"); J is the latest such instruction of Q, and none is
    taken when an earlier wait already covers it (a queue finishes in
    order, and a waited-for instruction had itself waited for its own
    producers). Loads of the next tile then overlap the compute of this one
    wherever the lowering double-buffers, and stores overlap the next op.

    First, each `store` moves below the `load`s and `gather`s that follow
    it when they touch nothing it does, so the next tile's loads reach the
    DRAM before a store that waits for compute (the simulator's DRAM model
    takes requests in program order). A store's `bind`s move with it.
    Binds are not scheduled: they stay directly before their instruction
    and carry no tokens.
  }];
  let dependentDialects = ["spatten::isa::ISADialect"];
}

#endif
