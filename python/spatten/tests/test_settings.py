"""SpAtten settings in their three forms (spatten.reference.config): the
manifest's ``settings`` record, ``spatten-compile`` flags and
SpAttenConfig; and the round trip through a compiled binary."""

from __future__ import annotations

import pytest

from spatten import export as spexport
from spatten import reference as R
from spatten import tools

DEFAULTS = {"token-keep": 1.0, "token-schedule": "paper", "keep-positions": [], "kv-budget": [], "head-keep": 1.0,
            "value-keep": 1.0, "pq-msb": 0, "pq-lsb": 4, "pq-threshold": 0.1, "pq-values": False,
            "attn-bits": 0, "q-bits": 0, "k-bits": 0, "v-bits": 0}

#: Every flag at a value other than its default, except --pq-lsb: the ISA
#: encodes 4-bit LSB planes only, so 4 (the default) is its one valid value,
#: and --kv-budget, which replaces the token schedule (KV_BUDGET_FLAGS).
EVERY_FLAG = ["--token-keep=0.5", "--token-schedule=1,0.75,0.5,0.25", "--keep-positions=0,3",
              "--head-keep=0.75", "--value-keep=0.3", "--pq-msb=8", "--pq-threshold=0.2", "--pq-values",
              "--attn-bits=12", "--q-bits=16", "--k-bits=8", "--v-bits=6"]


#: The KV budget with every other flag it combines with.
KV_BUDGET_FLAGS = ["--kv-budget=4,0,2", "--head-keep=0.75", "--value-keep=0.3", "--pq-msb=8", "--pq-values"]


def test_flag_table_matches_the_manifest_record():
    assert [f.name for f in R.FLAGS] == list(DEFAULTS)
    assert {f.name: f.default for f in R.FLAGS} == DEFAULTS


def test_defaults_are_dense_and_give_no_flags():
    cfg = R.SpAttenConfig.from_manifest(DEFAULTS)
    assert cfg == R.SpAttenConfig()
    assert cfg.to_flags() == [] and not cfg.prunes
    assert R.SpAttenConfig().to_manifest() == DEFAULTS


def test_from_manifest_reads_every_setting():
    settings = {**DEFAULTS, "token-keep": 0.5, "token-schedule": "1,0.75,0.5,0.25", "keep-positions": [0, 3],
                "head-keep": 0.75, "value-keep": 0.3, "pq-msb": 8, "pq-threshold": 0.2, "pq-values": True,
                "attn-bits": 12, "q-bits": 16, "k-bits": 8, "v-bits": 6}
    cfg = R.SpAttenConfig.from_manifest(settings)
    assert cfg == R.SpAttenConfig(token_keep=0.5, token_schedule=[1.0, 0.75, 0.5, 0.25], keep_positions=(0, 3),
                                  head_keep=0.75, value_keep=0.3, pq_msb=8, pq_threshold=0.2, pq_values=True,
                                  attn_bits=12, q_bits=16, k_bits=8, v_bits=6)
    assert cfg.to_flags() == EVERY_FLAG
    assert cfg.to_manifest() == settings


def test_json_integers_and_an_explicit_schedule():
    # llvm::json writes 1.0 as 1; a schedule prunes tokens at any --token-keep.
    cfg = R.SpAttenConfig.from_manifest({**DEFAULTS, "token-keep": 1, "token-schedule": "1,0.5"})
    assert cfg.token_keep == 1.0 and cfg.token_schedule == [1.0, 0.5]
    assert cfg.to_flags() == ["--token-schedule=1,0.5"]


def test_from_manifest_refuses_missing_unknown_and_bad_settings():
    with pytest.raises(ValueError, match=r"missing keys \['attn-bits'\]"):
        R.SpAttenConfig.from_manifest({k: v for k, v in DEFAULTS.items() if k != "attn-bits"})
    with pytest.raises(ValueError, match=r"unknown keys \['head-schedule'\]"):
        R.SpAttenConfig.from_manifest({**DEFAULTS, "head-schedule": "paper"})
    with pytest.raises(ValueError, match="pq_msb=5 must be 6 or 8"):
        R.SpAttenConfig.from_manifest({**DEFAULTS, "pq-msb": 5})
    with pytest.raises(ValueError, match="settings: token-schedule='1,x' is not a valid schedule value"):
        R.SpAttenConfig.from_manifest({**DEFAULTS, "token-schedule": "1,x"})
    with pytest.raises(ValueError, match="settings: keep-positions=3 is not a valid positions value"):
        R.SpAttenConfig.from_manifest({**DEFAULTS, "keep-positions": 3})


def test_from_flags_round_trips_to_flags():
    cfg = R.SpAttenConfig.from_flags(" ".join(EVERY_FLAG))
    assert cfg.to_flags() == EVERY_FLAG
    assert R.SpAttenConfig.from_flags(EVERY_FLAG) == cfg
    # Separate values, explicit defaults: the same config, default flags dropped.
    same = R.SpAttenConfig.from_flags(["--token-keep", "0.5", "--pq-msb", "8", "--pq-lsb=4", "--head-keep=1"])
    assert same == R.SpAttenConfig(token_keep=0.5, pq_msb=8)
    assert same.to_flags() == ["--token-keep=0.5", "--pq-msb=8"]


def test_from_flags_errors_name_the_flag():
    with pytest.raises(ValueError, match="unrecognized arguments: --frobnicate"):
        R.SpAttenConfig.from_flags("--token-keep=0.5 --frobnicate")
    with pytest.raises(ValueError, match="--token-keep=half: not a valid ratio value"):
        R.SpAttenConfig.from_flags("--token-keep=half")
    with pytest.raises(ValueError, match="--token-schedule=1,x: not a valid schedule value"):
        R.SpAttenConfig.from_flags("--token-schedule=1,x")
    with pytest.raises(ValueError, match="token_keep=0.0 is outside"):
        R.SpAttenConfig.from_flags("--token-keep=0")
    with pytest.raises(ValueError, match="pq_values needs pq_msb"):
        R.SpAttenConfig.from_flags("--pq-values")
    with pytest.raises(ValueError, match="v_bits=17 is outside 4..16"):
        R.SpAttenConfig.from_flags("--v-bits=17")


def test_kv_budget_round_trips():
    cfg = R.SpAttenConfig.from_flags(KV_BUDGET_FLAGS)
    assert cfg.kv_budget == (4, 0, 2) and cfg.prunes
    assert cfg.to_flags() == KV_BUDGET_FLAGS
    assert cfg.to_manifest()["kv-budget"] == [4, 0, 2]
    assert R.SpAttenConfig.from_manifest(cfg.to_manifest()) == cfg
    with pytest.raises(ValueError, match="three token counts"):
        R.SpAttenConfig.from_flags("--kv-budget=1,2")
    with pytest.raises(ValueError, match="replaces cascade token pruning"):
        R.SpAttenConfig.from_flags("--kv-budget=1,2,3 --keep-positions=0")


def test_tensor_widths_default_to_attn_bits():
    cfg = R.SpAttenConfig.from_flags("--attn-bits=12 --v-bits=6")
    assert (cfg.query_bits, cfg.key_bits, cfg.value_bits) == (12, 12, 6)
    assert R.SpAttenConfig(k_bits=8).query_bits is None


def test_head_schedule_has_no_flag():
    with pytest.raises(ValueError, match="no head schedule flag"):
        R.SpAttenConfig(head_keep=0.5, head_schedule=[1.0, 0.5]).to_flags()


def test_binary_settings_give_back_the_flags_compiled_with(tmp_path):
    """The manifest's settings record (docs/BinaryFormat.md) read back."""
    path = tmp_path / "bert.onnx"
    spexport.export("bert", str(path), size="tiny", layers=4, seed=0)
    cfg = R.SpAttenConfig.from_flags(EVERY_FLAG)
    binary = tools.compile(path, tmp_path / "m.spbin", settings=cfg, shapes={"batch": 1, "sequence": 8})
    assert binary.settings.to_flags() == EVERY_FLAG
    assert binary.settings == cfg
    dense = tools.compile(path, tmp_path / "d.spbin", shapes={"batch": 1, "sequence": 8})
    assert dense.settings.to_flags() == []
