//===- HardwareConfigTest.cpp - Presets and JSON parsing ------------------===//

#include "spatten/Support/HardwareConfig.h"

#include "TestUtil.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

using namespace spatten;

namespace {

llvm::Expected<HardwareConfig> parse(llvm::StringRef text) {
  auto json = llvm::json::parse(text);
  if (!json)
    return json.takeError();
  return HardwareConfig::fromJSON(*json);
}

TEST(HardwareConfig, DefaultPresetIsThePaperDesign) {
  auto c = HardwareConfig::preset("spatten");
  ASSERT_OK(c);
  EXPECT_EQ(c->qkMultipliers + c->pvMultipliers, 1024u);
  EXPECT_EQ(c->softmaxUnits, 8u);
  EXPECT_EQ(c->dramChannels, 16u);
  EXPECT_EQ(c->dramBytesPerCycle(), 512u); // 512 GB/s at 1 GHz
  EXPECT_EQ(c->bufferBytes[unsigned(isa::Buffer::K)], 196u << 10);
}

TEST(HardwareConfig, OneEighthPreset) {
  auto c = HardwareConfig::preset("spatten-1/8");
  ASSERT_OK(c);
  EXPECT_EQ(c->name, "spatten-1/8");
  EXPECT_EQ(c->qkMultipliers, 64u);
  EXPECT_EQ(c->pvMultipliers, 64u);
  EXPECT_EQ(c->softmaxUnits, 1u);
  EXPECT_EQ(c->dramChannels, 2u);
  EXPECT_EQ(c->gemmMultipliers, 128u);
  EXPECT_ERR(HardwareConfig::preset("a3"), "known presets: spatten, spatten-1/8");
}

TEST(HardwareConfig, JsonRoundTrip) {
  for (const char *name : {"spatten", "spatten-1/8"}) {
    auto c = HardwareConfig::preset(name);
    ASSERT_OK(c);
    auto back = HardwareConfig::fromJSON(c->toJSON());
    ASSERT_OK(back);
    EXPECT_EQ(back->toJSON(), c->toJSON());
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
  EXPECT_ERR(parse(R"({"qk_multipliers": 4, "softmax_units": 8})"),
             "field 'softmax_units': 8 exceeds qk_multipliers (4)");
  EXPECT_ERR(parse(R"({"act_buffer_bytes": 1022})"),
             "field 'act_buffer_bytes': 1022 is not a multiple of 4");
  EXPECT_ERR(parse(R"({"wgt_buffer_bytes": 134217728})"),
             "field 'wgt_buffer_bytes'");
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
             "cannot read hardware config '/nonexistent/hw.json'");
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

} // namespace
