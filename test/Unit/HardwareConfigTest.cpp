//===- HardwareConfigTest.cpp - Presets and JSON parsing ------------------===//

#include "spatten/Support/HardwareConfig.h"

#include "TestUtil.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

using namespace spatten;

namespace {

llvm::Expected<HardwareConfig> parse(llvm::StringRef text) {
  auto json = llvm::json::parse(text);
  if (!json)
    return json.takeError();
  return HardwareConfig::fromJSON(*json);
}

/// Expects each config text to be refused with a message containing its
/// second member.
void expectErrors(
    std::initializer_list<std::pair<const char *, const char *>> cases) {
  for (auto [text, message] : cases) {
    SCOPED_TRACE(text);
    EXPECT_ERR(parse(text), message);
  }
}

TEST(HardwareConfig, DefaultPresetIsThePaperDesign) {
  auto c = HardwareConfig::preset("spatten");
  ASSERT_OK(c);
  EXPECT_EQ(c->name, "spatten");
  EXPECT_EQ(c->multipliers, 1024u);
  EXPECT_EQ(c->qkMultipliers, 512u);
  EXPECT_EQ(c->pvMultipliers, 512u);
  EXPECT_EQ(c->softmaxUnits, c->multipliers / 64); // 16
  EXPECT_EQ(c->softmaxUnits, 16u);
  EXPECT_EQ(c->topkComparators, 16u);
  EXPECT_EQ(c->valueTopkEngines, 8u);
  EXPECT_EQ(c->crossbarInputs, 32u); // paper: 32x16 crossbar
  EXPECT_EQ(c->crossbarOutputs, 16u);
  EXPECT_EQ(c->pipelineQueueDepth, 2u);
  EXPECT_TRUE(c->doubleBuffered);
  EXPECT_EQ(c->hbm.channels, 16u);
  EXPECT_EQ(c->dramBytesPerCycle(), 512u); // 512 GB/s at 1 GHz
  EXPECT_EQ(c->bufferBytes[unsigned(isa::Buffer::K)], 196u << 10);
  EXPECT_EQ(c->bufferBytes[unsigned(isa::Buffer::V)], 196u << 10);
  // Paper Sec. V: 196 KB hold 2 x 1024 keys of 64 x 12 bits, not of fp32.
  EXPECT_EQ(c->bufferElems(isa::Buffer::K), 50176u);
  EXPECT_EQ(c->bufferElems(isa::Buffer::K, 12), 133802u);
  EXPECT_GE(c->bufferElems(isa::Buffer::V, 12), 2u * 1024 * 64);
  EXPECT_EQ(c->bufferElems(isa::Buffer::K, 2), 802816u);
  // Q too holds its rows at their width (a 16-bit query: 992 rows of 64
  // fit); other buffers hold 32-bit elements whatever the data.
  EXPECT_EQ(c->bufferElems(isa::Buffer::Q, 16), 100352u);
  EXPECT_EQ(c->bufferElems(isa::Buffer::Acc, 12), c->bufferElems(isa::Buffer::Acc));
  // The HBM2 geometry and timing the HBM model runs with.
  EXPECT_EQ(c->hbm.banksPerChannel, 16u);
  EXPECT_EQ(c->hbm.rowBytes, 1024u);
  EXPECT_EQ(c->hbm.interleaveBytes, 256u);
  EXPECT_EQ(c->hbm.tRCD, 14u);
  EXPECT_EQ(c->hbm.tRP, 14u);
  EXPECT_EQ(c->hbm.tCL, 14u);
  EXPECT_EQ(c->hbm.tRAS, 33u);
  EXPECT_EQ(c->hbm.tBurst, 1u);
  EXPECT_EQ(c->hbm.tREFI, 3900u);
  EXPECT_EQ(c->hbm.tRFC, 260u);
  EXPECT_EQ(c->hbm.schedulerWindow, 32u);
  EXPECT_EQ(c->dramLatencyCycles, 100u);
  // HBM2 3.9 pJ/bit = 31.2 pJ/byte (O'Connor et al., MICRO 2017).
  EXPECT_DOUBLE_EQ(c->energy.dramReadPerByte.pj, 31.2);
  EXPECT_NE(c->energy.dramReadPerByte.source.find("O'Connor"),
            std::string::npos);
  EXPECT_DOUBLE_EQ(c->energy.gemmMac.pj, 4.1);
  EXPECT_DOUBLE_EQ(c->energy.attnMac.pj, 0.49);
}

TEST(HardwareConfig, DefaultConstructedIsTheSpattenPreset) {
  auto c = HardwareConfig::preset("spatten");
  ASSERT_OK(c);
  EXPECT_EQ(HardwareConfig().toJSON(), c->toJSON());
}

TEST(HardwareConfig, OneEighthPreset) {
  auto c = HardwareConfig::preset("spatten-1/8");
  ASSERT_OK(c);
  EXPECT_EQ(c->name, "spatten-1/8");
  EXPECT_EQ(c->multipliers, 128u);
  EXPECT_EQ(c->qkMultipliers, 64u);
  EXPECT_EQ(c->pvMultipliers, 64u);
  EXPECT_EQ(c->softmaxUnits, 2u); // multipliers / 64
  EXPECT_EQ(c->hbm.channels, 2u);
  EXPECT_EQ(c->crossbarOutputs, 2u);
  EXPECT_EQ(c->crossbarInputs, 4u);
  EXPECT_EQ(c->dramBytesPerCycle(), 64u);
  EXPECT_EQ(c->gemmMultipliers, 128u);
  EXPECT_EQ(c->vectorLanes, 8u);
  EXPECT_EQ(c->hbm.tRCD, 14u); // per-channel timing unchanged
  auto alias = HardwareConfig::preset("spatten-1_8");
  ASSERT_OK(alias);
  EXPECT_EQ(alias->toJSON(), c->toJSON());
  EXPECT_ERR(HardwareConfig::preset("a3"), "known presets: spatten, spatten-1/8");
}

TEST(HardwareConfig, JsonRoundTrip) {
  for (const char *name : {"spatten", "spatten-1/8"}) {
    auto c = HardwareConfig::preset(name);
    ASSERT_OK(c);
    auto back = HardwareConfig::fromJSON(c->toJSON());
    ASSERT_OK(back);
    EXPECT_EQ(back->toJSON(), c->toJSON()) << name;
    // toJSON spells out every field, so the base does not matter.
    auto other = HardwareConfig::preset(
        llvm::StringRef(name) == "spatten" ? "spatten-1/8" : "spatten");
    ASSERT_OK(other);
    auto over = HardwareConfig::fromJSON(c->toJSON(), *other);
    ASSERT_OK(over);
    EXPECT_EQ(over->toJSON(), c->toJSON()) << name;
  }
}

TEST(HardwareConfig, KeysOverrideAndPresetSelectsTheBase) {
  auto c = parse(R"({"preset": "spatten-1/8", "act_buffer_bytes": 4096,
                     "clock_ghz": 0.5})");
  ASSERT_OK(c);
  EXPECT_EQ(c->qkMultipliers, 64u);
  EXPECT_EQ(c->bufferBytes[unsigned(isa::Buffer::Act)], 4096u);
  EXPECT_EQ(c->clockGHz, 0.5);
}

TEST(HardwareConfig, ErrorsNameTheField) {
  EXPECT_ERR(parse(R"({"qk_multiplier": 4})"),
             "field 'qk_multiplier': unknown field");
  EXPECT_ERR(parse(R"({"qk_multipliers": "many"})"),
             "field 'qk_multipliers': expected an integer");
  EXPECT_ERR(parse(R"({"dram_channels": 0})"),
             "field 'dram_channels': must be positive");
  EXPECT_ERR(parse(R"({"vector_lanes": -3})"),
             "field 'vector_lanes': must be positive");
  EXPECT_ERR(parse(R"({"gemm_multipliers": 99999999999})"),
             "field 'gemm_multipliers': 99999999999 is out of range");
  EXPECT_ERR(parse(R"({"clock_ghz": 0})"), "field 'clock_ghz'");
  EXPECT_ERR(parse(R"({"name": 3})"), "field 'name': expected a string");
  EXPECT_ERR(parse(R"({"preset": "nope"})"), "field 'preset'");
  EXPECT_ERR(parse(R"([1, 2])"), "expected a JSON object");
  EXPECT_ERR(parse(R"({"dram_bytes": 1e30})"), "field 'dram_bytes'");
}

TEST(HardwareConfig, InconsistentValuesNameTheField) {
  EXPECT_ERR(parse(R"({"multipliers": 516, "qk_multipliers": 4,
                       "softmax_units": 8})"),
             "field 'softmax_units': 8 exceeds qk_multipliers (4)");
  EXPECT_ERR(parse(R"({"act_buffer_bytes": 1022})"),
             "field 'act_buffer_bytes': 1022 is not a multiple of 4");
  EXPECT_ERR(parse(R"({"wgt_buffer_bytes": 134217728})"),
             "field 'wgt_buffer_bytes'");
  // K and V elements may be 2 bits wide: 4 MiB is the most the 24-bit
  // element offset reaches.
  ASSERT_OK(parse(R"({"k_buffer_bytes": 4194304})"));
  EXPECT_ERR(parse(R"({"v_buffer_bytes": 4194312})"),
             "field 'v_buffer_bytes': 4194312 bytes exceed the 24-bit element "
             "offset of SRAM operands (4194304 bytes of 2-bit elements)");
  EXPECT_ERR(parse(R"({"dram_transaction_bytes": 24})"),
             "field 'dram_transaction_bytes': 24 is not a power of two");
}

TEST(HardwareConfig, LoadPresetOrFile) {
  auto c = HardwareConfig::load("spatten-1/8");
  ASSERT_OK(c);
  llvm::SmallString<128> path;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("hw", "json", path));
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    os << R"({"name": "mine", "vector_lanes": 32})";
  }
  auto f = HardwareConfig::load(path);
  ASSERT_OK(f);
  EXPECT_EQ(f->name, "mine");
  EXPECT_EQ(f->vectorLanes, 32u);
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    os << R"({"vector_lanes": 0})";
  }
  EXPECT_ERR(HardwareConfig::load(path), (path + ": hardware config field "
                                                 "'vector_lanes'").str());
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    os << "{";
  }
  EXPECT_ERR(HardwareConfig::load(path), "invalid JSON");
  llvm::sys::fs::remove(path);
  EXPECT_ERR(HardwareConfig::load("/nonexistent/hw.json"),
             "hardware config: cannot read '/nonexistent/hw.json'");
}

TEST(HardwareConfig, ShippedConfigFilesMatchThePresets) {
  for (auto [file, preset] :
       {std::pair{"spatten.json", "spatten"},
        std::pair{"spatten-1_8.json", "spatten-1/8"}}) {
    auto fromFile =
        HardwareConfig::load(std::string(SPATTEN_SOURCE_DIR "/configs/") + file);
    ASSERT_OK(fromFile);
    auto p = HardwareConfig::preset(preset);
    ASSERT_OK(p);
    EXPECT_EQ(fromFile->toJSON(), p->toJSON()) << file;
  }
}

TEST(HardwareConfig, ShippedFilesSpellOutEveryField) {
  // The presets are these files (embedded at build time); each names every
  // key that toJSON prints, so the file alone documents the design.
  for (const char *file : {"spatten.json", "spatten-1_8.json"}) {
    auto buf = llvm::MemoryBuffer::getFile(
        std::string(SPATTEN_SOURCE_DIR "/configs/") + file);
    ASSERT_TRUE(bool(buf)) << file;
    auto json = llvm::json::parse((*buf)->getBuffer());
    ASSERT_OK(json);
    const llvm::json::Object *obj = json->getAsObject();
    ASSERT_TRUE(obj);
    llvm::json::Value all = HardwareConfig().toJSON();
    for (const auto &kv : *all.getAsObject())
      EXPECT_TRUE(obj->get(kv.first)) << file << ": " << kv.first.str();
    EXPECT_EQ(obj->size(), all.getAsObject()->size()) << file;
  }
}

TEST(HardwareConfig, NewFieldsOverride) {
  auto c = parse(R"({"multipliers": 256, "qk_multipliers": 128,
                     "pv_multipliers": 128, "softmax_units": 4,
                     "crossbar_inputs": 8, "crossbar_outputs": 4,
                     "dram_channels": 4, "pipeline_queue_depth": 5,
                     "double_buffered": false, "dram_banks_per_channel": 8,
                     "dram_row_bytes": 2048, "dram_interleave_bytes": 64,
                     "dram_trcd": 10, "dram_trp": 11, "dram_tcl": 12,
                     "dram_tras": 28, "dram_tburst": 2, "dram_trefi": 7800,
                     "dram_trfc": 350, "dram_scheduler_window": 16})");
  ASSERT_OK(c);
  EXPECT_EQ(c->multipliers, 256u);
  EXPECT_EQ(c->crossbarInputs, 8u);
  EXPECT_EQ(c->crossbarOutputs, 4u);
  EXPECT_EQ(c->pipelineQueueDepth, 5u);
  EXPECT_FALSE(c->doubleBuffered);
  EXPECT_EQ(c->hbm.banksPerChannel, 8u);
  EXPECT_EQ(c->hbm.rowBytes, 2048u);
  EXPECT_EQ(c->hbm.interleaveBytes, 64u);
  EXPECT_EQ(c->hbm.tRCD, 10u);
  EXPECT_EQ(c->hbm.tRP, 11u);
  EXPECT_EQ(c->hbm.tCL, 12u);
  EXPECT_EQ(c->hbm.tRAS, 28u);
  EXPECT_EQ(c->hbm.tBurst, 2u);
  EXPECT_EQ(c->hbm.tREFI, 7800u);
  EXPECT_EQ(c->hbm.tRFC, 350u);
  EXPECT_EQ(c->hbm.schedulerWindow, 16u);
  // Keys left out keep the base preset's value.
  EXPECT_EQ(c->topkComparators, 16u);
}

TEST(HardwareConfig, EnergyTable) {
  auto c = parse(R"({"energy": {"dram_read_pj_per_byte": 20,
                     "gemm_mac_pj": {"pj": 1.5, "source": "my synthesis"}}})");
  ASSERT_OK(c);
  EXPECT_DOUBLE_EQ(c->energy.dramReadPerByte.pj, 20);
  EXPECT_EQ(c->energy.dramReadPerByte.source, ""); // a bare number cites none
  EXPECT_DOUBLE_EQ(c->energy.gemmMac.pj, 1.5);
  EXPECT_EQ(c->energy.gemmMac.source, "my synthesis");
  // Entries left out keep the preset's figure and source.
  HardwareConfig paper;
  EXPECT_DOUBLE_EQ(c->energy.sramReadPerByte.pj, paper.energy.sramReadPerByte.pj);
  EXPECT_EQ(c->energy.sramReadPerByte.source,
            paper.energy.sramReadPerByte.source);
  // Zero is allowed (leave a term out of the estimate).
  ASSERT_OK(parse(R"({"energy": {"topk_compare_pj": 0}})"));
  for (const EnergyEntry *e :
       {&paper.energy.dramReadPerByte, &paper.energy.dramWritePerByte,
        &paper.energy.sramReadPerByte, &paper.energy.sramWritePerByte,
        &paper.energy.attnMac, &paper.energy.softmaxOp,
        &paper.energy.topkCompare, &paper.energy.gemmMac,
        &paper.energy.vectorOp}) {
    EXPECT_GT(e->pj, 0);
    EXPECT_FALSE(e->source.empty());
  }
}

TEST(HardwareConfig, EnergyErrorsNameTheField) {
  expectErrors({
      {R"({"energy": 3})",
       "field 'energy': expected an object"},
      {R"({"energy": {"dram_pj": 3}})",
       "field 'energy.dram_pj': unknown field"},
      {R"({"energy": {"attn_mac_pj": -0.1}})",
       "field 'energy.attn_mac_pj': -0.1 pJ is out of range"},
      {R"({"energy": {"attn_mac_pj": "cheap"}})",
       "field 'energy.attn_mac_pj': expected a number of pJ"},
      {R"({"energy": {"attn_mac_pj": {"pj": 1, "src": "x"}}})",
       "field 'energy.attn_mac_pj.src': unknown field"},
      {R"({"energy": {"attn_mac_pj": {"source": "x"}}})",
       "field 'energy.attn_mac_pj.pj': missing"},
      {R"({"energy": {"attn_mac_pj": {"pj": 1, "source": 2}}})",
       "field 'energy.attn_mac_pj.source': expected a string"},
      {R"({"energy": {"vector_op_pj": {"pj": -2}}})",
       "field 'energy.vector_op_pj': -2 pJ is out of range"},
  });
}

TEST(HardwareConfig, NewFieldErrorsNameTheField) {
  expectErrors({
      {R"({"double_buffered": 1})",
       "field 'double_buffered': expected true or false"},
      {R"({"pipeline_queue_depth": 0})",
       "field 'pipeline_queue_depth': must be positive, got 0"},
      {R"({"value_topk_engines": 0})",
       "field 'value_topk_engines': must be positive, got 0"},
      {R"({"crossbar_inputs": 0})",
       "field 'crossbar_inputs': must be positive"},
      {R"({"dram_trcd": 0})",
       "field 'dram_trcd': must be positive"},
      {R"({"dram_tburst": 2.5})",
       "field 'dram_tburst': expected an integer"},
      {R"({"dram_scheduler_window": -1})",
       "field 'dram_scheduler_window': must be positive"},
      {R"({"multipliers": 16777217})",
       "field 'multipliers': 16777217 is out of range"},
  });
}

TEST(HardwareConfig, NewInconsistenciesNameTheField) {
  expectErrors({
      // qk + pv must be the multiplier count.
      {R"({"qk_multipliers": 256})",
       "field 'multipliers': 1024 is not qk_multipliers (256) + "
       "pv_multipliers (512) = 768"},
      {R"({"preset": "spatten-1/8", "multipliers": 1024})",
       "field 'multipliers': 1024 is not qk_multipliers (64)"},
      // The crossbar has one output per channel.
      {R"({"dram_channels": 8})",
       "field 'crossbar_outputs': 16 is not dram_channels (8)"},
      // The address mapping slices bits.
      {R"({"dram_channels": 12, "crossbar_outputs": 12})",
       "field 'dram_channels': 12 is not a power of two"},
      {R"({"dram_banks_per_channel": 6})",
       "field 'dram_banks_per_channel': 6 is not a power of two"},
      {R"({"dram_row_bytes": 1000})",
       "field 'dram_row_bytes': 1000 is not a power of two"},
      {R"({"dram_interleave_bytes": 16})",
       "field 'dram_interleave_bytes': 16 is smaller than "
       "dram_transaction_bytes (32)"},
      {R"({"dram_row_bytes": 128})",
       "field 'dram_row_bytes': 128 is smaller than "
       "dram_interleave_bytes (256)"},
      // Timing.
      {R"({"dram_tras": 13})",
       "field 'dram_tras': 13 is less than dram_trcd (14)"},
      {R"({"dram_trfc": 3900})",
       "field 'dram_trfc': 3900 is not less than dram_trefi (3900)"},
      // The HBM model's rules hold for the JSON too (one HbmTiming::validate).
      {R"({"dram_trefi": 280})",
       "field 'dram_trefi': 280 is less than dram_trfc + dram_trcd + "
       "dram_tcl + dram_tburst (289)"},
      {R"({"dram_scheduler_window": 8192})",
       "field 'dram_scheduler_window': 8192 is out of range (maximum 4096)"},
      {R"({"dram_row_bytes": 2097152})",
       "field 'dram_row_bytes': 2097152 is out of range (maximum 1048576)"},
      // Double buffering splits K and V into halves of whole elements.
      {R"({"k_buffer_bytes": 1028})",
       "field 'k_buffer_bytes': 1028 does not split into two halves"},
  });
  ASSERT_OK(parse(R"({"k_buffer_bytes": 1028, "double_buffered": false})"));
}

} // namespace
