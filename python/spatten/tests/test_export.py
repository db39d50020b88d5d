"""The PyTorch exporter: valid ONNX at opsets 13/14/17 that onnxruntime runs
to the PyTorch outputs.

Tolerance ORT vs PyTorch: max abs error <= 1e-5 (both fp32; only the order of
floating-point reductions differs; observed ~1e-6 on outputs of magnitude ~3).
See docs/Numerics.md.
"""

import subprocess
import sys

import numpy as np
import onnx
import pytest

from conftest import ROOT
from spatten import export as spexport
from spatten import ort

ORT_VS_TORCH = 1e-5
OPSETS = (13, 14, 17)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_export_matches_torch(kind, opset, tiny_models, reference_ready):
    path, model = tiny_models(kind, opset)
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    assert m.opset_import[0].version == opset
    assert [i.name for i in m.graph.input] == model.config.input_names
    assert [o.name for o in m.graph.output] == model.config.output_names
    # Traced at batch 1, sequence 8: run at another batch and length to
    # prove the batch and sequence axes are really dynamic.
    inputs = spexport.make_inputs(model.config, batch=2, seq_len=5, seed=3)
    want = spexport.torch_outputs(model, inputs)
    got = ort.run(path, inputs)
    assert set(got) == set(want)
    for name in want:
        assert got[name].shape == want[name].shape, name
        err = float(np.abs(got[name] - want[name]).max())
        assert err <= ORT_VS_TORCH, f"{name}: max abs error {err} vs PyTorch"


@pytest.mark.parametrize("kind", ["bert", "gpt2"])
def test_dynamic_dims_named(kind, tiny_models):
    path, model = tiny_models(kind, 14)
    m = onnx.load(str(path))
    for vi in m.graph.input:
        dims = [d.dim_param for d in vi.type.tensor_type.shape.dim]
        assert dims == ["batch", "sequence"], vi.name


def test_exporter_patterns(tiny_models):
    """The HF patterns the lifting relies on are what the export contains."""
    ops13 = [n.op_type for n in onnx.load(str(tiny_models("bert", 13)[0])).graph.node]
    ops17 = [n.op_type for n in onnx.load(str(tiny_models("bert", 17)[0])).graph.node]
    gpt = onnx.load(str(tiny_models("gpt2", 13)[0])).graph.node
    assert "Erf" in ops13 and "Softmax" in ops13 and "LayerNormalization" not in ops13
    assert "LayerNormalization" in ops17  # opset 17 exports nn.LayerNorm as one op
    perms = [list(a.ints) for n in gpt if n.op_type == "Transpose" for a in n.attribute]
    assert [0, 2, 3, 1] in perms  # K transposed directly
    gpt_ops = [n.op_type for n in gpt]
    assert {"Gemm", "Split", "Where", "Tanh"} <= set(gpt_ops)


def test_padding_mask_changes_output(tiny_models):
    """Masked keys must not influence unmasked rows: changing a padded
    token's id leaves the other rows of the padded sequence unchanged."""
    _, model = tiny_models("bert", 14)
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=8, seed=5)
    assert inputs["attention_mask"][0, -1] == 0
    other = {k: v.copy() for k, v in inputs.items()}
    other["input_ids"][0, -1] = (other["input_ids"][0, -1] + 1) % model.config.vocab
    a = spexport.torch_outputs(model, inputs)["last_hidden_state"]
    b = spexport.torch_outputs(model, other)["last_hidden_state"]
    np.testing.assert_allclose(a[0, :-2], b[0, :-2], atol=1e-6)
    assert np.abs(a[0, -1] - b[0, -1]).max() > 1e-3


def test_gpt2_is_causal(tiny_models):
    _, model = tiny_models("gpt2", 14)
    inputs = spexport.make_inputs(model.config, batch=1, seq_len=6, seed=2)
    other = {"input_ids": inputs["input_ids"].copy()}
    other["input_ids"][0, -1] = (other["input_ids"][0, -1] + 1) % model.config.vocab
    a = spexport.torch_outputs(model, inputs)["last_hidden_state"]
    b = spexport.torch_outputs(model, other)["last_hidden_state"]
    np.testing.assert_array_equal(a[0, :-1], b[0, :-1])
    assert np.abs(a[0, -1] - b[0, -1]).max() > 1e-3


@pytest.mark.parametrize("kind,params", [("bert", 109_482_240), ("gpt2", 124_439_808)])
def test_base_sizes_match_hugging_face(kind, params):
    """bert-base-uncased BertModel and gpt2 GPT2Model parameter counts."""
    cfg = spexport.base_config(kind)
    model = spexport.BertModel(cfg) if kind == "bert" else spexport.GPT2Model(cfg)
    assert sum(p.numel() for p in model.parameters()) == params


def test_seed_determinism():
    a = spexport.build_model(spexport.tiny_config("gpt2", seed=7))
    b = spexport.build_model(spexport.tiny_config("gpt2", seed=7))
    c = spexport.build_model(spexport.tiny_config("gpt2", seed=8))
    wa, wb, wc = (m.h[0].attn.c_attn.weight.detach().numpy() for m in (a, b, c))
    np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(wa, wc)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "spatten.export", *args], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT / "python"), "PATH": "/usr/bin:/bin"})


def test_cli(tmp_path):
    out = tmp_path / "m.onnx"
    r = _cli("bert", "--tiny", "--opset", "17", "--layers", "1", "-o", str(out))
    assert r.returncode == 0, r.stderr
    m = onnx.load(str(out))
    assert m.opset_import[0].version == 17
    assert sum(n.op_type == "Softmax" for n in m.graph.node) == 1


def test_cli_rejects_bad_config(tmp_path):
    r = _cli("gpt2", "--hidden", "30", "--heads", "4", "-o", str(tmp_path / "x.onnx"))
    assert r.returncode == 2
    assert "not divisible by heads" in r.stderr
    assert not (tmp_path / "x.onnx").exists()


# ----------------------------------------------------------------------------- GPT-2 with the LM head

LM_OPSETS = (13, 14, 15, 16, 17)


@pytest.mark.parametrize("opset", LM_OPSETS)
@pytest.mark.parametrize("past", [False, True])
def test_gpt2_lm_export_matches_torch(opset, past, tmp_path, reference_ready):
    """logits (and with past, every present) equal PyTorch's at a batch,
    sequence and past length other than the traced ones, past 0 included."""
    path = tmp_path / "lm.onnx"
    model = spexport.export("gpt2-lm", str(path), size="tiny", opset=opset, past=past)
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    assert [i.name for i in m.graph.input] == model.config.input_names
    assert [o.name for o in m.graph.output] == model.config.output_names
    for past_len in ((0, 5) if past else (0,)):
        inputs = spexport.make_inputs(model.config, batch=2, seq_len=3, seed=4, past_len=past_len)
        want = spexport.torch_outputs(model, inputs)
        got = ort.run(path, inputs)
        assert got["logits"].shape == (2, 3, model.config.vocab)
        for name in want:
            assert got[name].shape == want[name].shape, name
            err = float(np.abs(got[name] - want[name]).max())
            assert err <= ORT_VS_TORCH, f"{name} (past {past_len}): max abs error {err} vs PyTorch"


def test_gpt2_lm_head_is_tied_and_named_like_hugging_face(tmp_path):
    model = spexport.export("gpt2-lm", str(tmp_path / "lm.onnx"), past=True, layers=2)
    assert model.lm_head.weight is model.transformer.wte.weight
    assert model.lm_head.bias is None
    assert model.config.input_names == ["input_ids", "past_key_values.0.key", "past_key_values.0.value",
                                        "past_key_values.1.key", "past_key_values.1.value"]
    assert model.config.output_names == ["logits", "present.0.key", "present.0.value",
                                         "present.1.key", "present.1.value"]
    g = onnx.load(str(tmp_path / "lm.onnx")).graph
    dims = {vi.name: [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]
            for vi in list(g.input) + list(g.output)}
    assert dims["past_key_values.0.key"] == ["batch", 4, "past_sequence", 8]
    assert dims["present.1.value"] == ["batch", 4, "total_sequence", 8]
    assert dims["logits"] == ["batch", "sequence", 99]


def test_gpt2_lm_shares_the_transformer_of_gpt2():
    """Same config and seed: the LM model's transformer is GPT2Model's."""
    base = spexport.build_model(spexport.tiny_config("gpt2", seed=3))
    lm = spexport.build_model(spexport.tiny_config("gpt2", seed=3, lm_head=True))
    inputs = spexport.make_inputs(base.config, seq_len=5, seed=1)
    want = spexport.torch_outputs(base, inputs)["last_hidden_state"]
    import torch
    with torch.no_grad():
        got = lm.transformer(torch.from_numpy(inputs["input_ids"])).numpy()
    np.testing.assert_array_equal(got, want)


def test_gpt2_lm_base_size_matches_hugging_face():
    """gpt2 GPT2LMHeadModel: the tied head adds no parameter."""
    model = spexport.GPT2LMHeadModel(spexport.base_config("gpt2", lm_head=True))
    assert sum(p.numel() for p in model.parameters()) == 124_439_808


def test_cli_gpt2_lm_past(tmp_path):
    out = tmp_path / "lm.onnx"
    r = _cli("gpt2-lm", "--tiny", "--past", "--layers", "1", "--opset", "15", "-o", str(out))
    assert r.returncode == 0, r.stderr
    m = onnx.load(str(out))
    assert [o.name for o in m.graph.output] == ["logits", "present.0.key", "present.0.value"]


def test_past_needs_the_lm_head(tmp_path):
    r = _cli("gpt2", "--past", "-o", str(tmp_path / "x.onnx"))
    assert r.returncode == 2
    assert "past key values need the language-model head" in r.stderr


@pytest.mark.parametrize("past", [False, True])
def test_gpt2_lm_goes_through_the_compiler(past, tmp_path):
    """The LM head (MatMul with the transposed embedding) and the cache's
    Concat take the importer's existing paths: the simulator's logits and
    presents equal PyTorch's."""
    from spatten import tools
    path = tmp_path / "lm.onnx"
    model = spexport.export("gpt2-lm", str(path), size="tiny", past=past)
    inputs = spexport.make_inputs(model.config, seq_len=6, seed=1, past_len=3 if past else 0)
    shapes = {"batch": 1, "sequence": 6, **({"past_sequence": 3} if past else {})}
    binary = tools.compile(path, tmp_path / "lm.spbin", shapes=shapes)
    got = tools.simulate(binary, inputs, tmp_path / "out").outputs
    want = spexport.torch_outputs(model, inputs)
    assert set(got) == set(want)
    for name in want:
        err = float(np.abs(got[name] - want[name]).max())
        assert err <= 1e-4, f"{name}: max abs error {err} vs PyTorch"
