//===- ISAOps.td - SpAtten ISA dialect ---------------------*- tablegen -*-===//
//
// One op per instruction. Attribute names are exactly the field names of
// include/spatten/ISA/Spec.h; the verifier checks each value fits its field,
// so the binary emitter is a table walk.
//
//===----------------------------------------------------------------------===//

#ifndef SPATTEN_ISA_OPS_TD
#define SPATTEN_ISA_OPS_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/RegionKindInterface.td"
include "mlir/IR/SymbolInterfaces.td"

def ISA_Dialect : Dialect {
  let name = "spatten_isa";
  let cppNamespace = "::spatten::isa";
  let summary = "SpAtten accelerator instructions";
  let description = [{
    One op per instruction of the SpAtten ISA (docs/ISA.md), inside a
    `spatten_isa.program` that also holds the DRAM image of constants.
    Every integer field is an `i64` attribute named as in the ISA tables;
    fp32 fields (`scale`, `imm`) are `f32` attributes.
  }];
}

class ISA_Op<string mnemonic, list<Trait> traits = []>
    : Op<ISA_Dialect, mnemonic, traits>;

def ISA_ProgramOp : ISA_Op<"program", [
    NoTerminator, SingleBlock, IsolatedFromAbove, Symbol]> {
  let summary = "an accelerator program and its DRAM image";
  let description = [{
    The body holds `spatten_isa.segment` ops (constants at DRAM addresses,
    written to `.rodata`) and instructions in program order, ending in
    `spatten_isa.halt`. `inputs` and `outputs` are arrays of dictionaries
    `{name, shape, dtype, addr}` (addr in bytes); `dram_size` and
    `rodata_size` are bytes; `hardware` is the configuration compiled for,
    as JSON text (docs/HardwareConfig.md).

    A module may hold several programs, one per entry point of the binary
    (`sym_name` is the entry's name, e.g. `prefill` and `decode`); they
    share one DRAM and `.rodata`. `registers` names the registers the host
    sets before the entry runs, in register order (`registers[i]` is
    `r<i>`, docs/BinaryFormat.md, "entries").
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, I64Attr:$dram_size,
                       I64Attr:$rodata_size, ArrayAttr:$inputs,
                       ArrayAttr:$outputs, StrAttr:$hardware,
                       OptionalAttr<StrArrayAttr>:$registers);
  let regions = (region SizedRegion<1>:$body);
  // A program without registers, as a single-entry compile builds it.
  let builders = [
    OpBuilder<(ins "::mlir::StringAttr":$sym_name,
                   "::mlir::IntegerAttr":$dram_size,
                   "::mlir::IntegerAttr":$rodata_size,
                   "::mlir::ArrayAttr":$inputs, "::mlir::ArrayAttr":$outputs,
                   "::mlir::StringAttr":$hardware), [{
      build($_builder, $_state, sym_name, dram_size, rodata_size, inputs,
            outputs, hardware, /*registers=*/nullptr);
    }]>
  ];
  let assemblyFormat = "$sym_name attr-dict-with-keyword $body";
  let hasVerifier = 1;
}

def ISA_SegmentOp : ISA_Op<"segment", [HasParent<"ProgramOp">]> {
  let summary = "constant bytes at a DRAM address";
  let description = [{
    `value` (any ElementsAttr, typically a dense_resource blob) is stored
    little endian at byte address `addr` of `.rodata`.
  }];
  let arguments = (ins I64Attr:$addr, ElementsAttr:$value);
  let assemblyFormat = "attr-dict";
}

// An instruction op whose i64 attributes are `fields` (ISA field names).
class ISA_InstOp<string mnemonic, list<string> fields, dag extra = (ins)>
    : ISA_Op<mnemonic, [HasParent<"ProgramOp">]> {
  let arguments = !con(
      !dag(ins, !listsplat(I64Attr, !size(fields)), fields),
      extra,
      (ins OptionalAttr<I64Attr>:$dep_wait, OptionalAttr<I64Attr>:$dep_signal));
  let assemblyFormat = "attr-dict";
  let hasVerifier = 1;
}

defvar DmaFields = ["tensor_class", "dtype", "bits", "dram_addr", "dram_stride",
                    "sram_buf", "sram_off", "sram_stride", "rows", "cols"];
// The SpAtten fields of DMA instructions (planes, predicates, layer) default
// to 0 = off, so dense programs need not name them.
defvar I64Zero = DefaultValuedAttr<I64Attr, "0">;
defvar DmaSpAttenFields = (ins I64Zero:$plane, I64Zero:$lsb_bits,
                               I64Zero:$pred, I64Zero:$layer);

def ISA_HaltOp : ISA_InstOp<"halt", []> { let summary = "stop the program"; }
def ISA_SyncOp : ISA_InstOp<"sync", []> {
  let summary = "wait for every earlier instruction";
}
def ISA_LoadOp : ISA_InstOp<"load", DmaFields, DmaSpAttenFields> {
  let summary = "DMA: strided 2-D copy DRAM -> SRAM";
}
def ISA_StoreOp : ISA_InstOp<"store", DmaFields, DmaSpAttenFields> {
  let summary = "DMA: strided 2-D copy SRAM -> DRAM";
}
def ISA_GatherOp : ISA_InstOp<"gather", !listconcat(DmaFields, ["idx_off"]),
                               !con(DmaSpAttenFields,
                                    (ins I64Zero:$idx_period,
                                         I64Zero:$period_stride))> {
  let summary = "DMA: DRAM rows selected by the on-chip index list";
}
def ISA_ScatterOp : ISA_InstOp<"scatter", !listconcat(DmaFields, ["idx_off"]),
                                !con(DmaSpAttenFields,
                                     (ins I64Zero:$idx_period,
                                          I64Zero:$period_stride))> {
  let summary = "DMA: SRAM rows to the DRAM rows named by the index list";
}
def ISA_GemmOp : ISA_InstOp<"gemm", [
    "flags", "a_buf", "a_off", "a_stride", "b_buf", "b_off", "b_stride",
    "c_buf", "c_off", "c_stride", "bias_buf", "bias_off", "bias_stride",
    "m", "n", "k"], (ins I64Zero:$layer)> {
  let summary = "GEMM tile: C[m,n] (+)= A[m,k] B[k,n] (+ bias)";
}
def ISA_AttnOp : ISA_InstOp<"attn", [
    "mask_kind", "flags", "q_buf", "q_off", "q_stride", "k_buf", "k_off",
    "k_stride", "v_buf", "v_off", "v_stride", "o_buf", "o_off", "o_stride",
    "mask_buf", "mask_off", "mask_stride", "lq", "lk", "d", "causal_offset",
    "imp_buf", "imp_off"],
    (ins F32Attr:$mask_fill, F32Attr:$scale,
         DefaultValuedAttr<F32Attr, "0.0f">:$pq_threshold, I64Zero:$phase,
         I64Zero:$head_imp_buf, I64Zero:$head_imp_off, I64Zero:$vk,
         I64Zero:$layer, I64Zero:$next_tile, I64Zero:$head_decided)> {
  let summary = "one attention head: softmax(scale Q K^T + mask) V";
}
def ISA_VecOp : ISA_InstOp<"vec", [
    "func", "flags", "x_buf", "x_off", "x_stride", "y_buf", "y_off",
    "y_stride", "z_buf", "z_off", "z_stride", "w_buf", "w_off", "w_stride",
    "rows", "cols"], (ins F32Attr:$imm, I64Zero:$layer)> {
  let summary = "vector unit: elementwise, layer norm, softmax, GELU";
}

def ISA_TopkOp : ISA_InstOp<"topk", [
    "flags", "layer", "s_buf", "s_off", "in_off", "out_off", "n", "k",
    "seed"], (ins I64Zero:$role, I64Zero:$count_reg)> {
  let summary = "top-k engine: the k best-scored candidates, in list order";
}

def ISA_BindOp : ISA_Op<"bind", [HasParent<"ProgramOp">]> {
  let summary = "sets a field of the next instruction from a register";
  let description = [{
    Patches field `field` (its name) of the next op of the block that is
    not a `bind` before it executes, with
    `clamp(add + mul * x, lo, hi)`, where `x` is register `reg`
    (`source` 0) or the u32 at DRAM byte `table + 4 * r[reg]` (`source`
    1) (docs/ISA.md, "bind"). The verifier checks the field exists in that
    op, no other bind of the group names it, `lo <= hi` and `[lo, hi]`
    fits the field. A bind carries no dependency tokens: the instruction
    it patches does.
  }];
  let arguments = (ins StrAttr:$field, I64Zero:$source, I64Attr:$reg,
                       I64Zero:$table, I64Attr:$mul, I64Attr:$add,
                       I64Attr:$lo, I64Attr:$hi);
  let assemblyFormat = "attr-dict";
  let hasVerifier = 1;
}

#endif // SPATTEN_ISA_OPS_TD
