"""spatten.accuracy on the trained tiny models: the dense binary's
perplexity (and masked-token loss) equals PyTorch's, the simulator and the
NumPy reference give the same numbers with and without pruning, keep
ratios of 1 change nothing, and bad inputs get clear errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from spatten import accuracy, corpus, export, tools, train

WINDOWS = 3
REL = 1e-4
PRUNING = "--token-keep=0.5 --head-keep=0.5 --value-keep=0.5 --pq-msb=6"


@pytest.fixture(scope="module")
def text():
    return corpus.corpus_files()["test"]


@pytest.fixture(scope="module", params=train.KINDS)
def trained(request) -> train.Trained:
    return train.train(train.TrainSettings.of(request.param, "tiny"), stream=None)


def windows(trained, text):
    return accuracy.prepare(trained.onnx, text, max_windows=WINDOWS)


def torch_logits(model):
    def run(inputs):
        args = [torch.from_numpy(inputs[n]) for n in model.config.input_names]
        with torch.no_grad():
            return model(*args).numpy()
    return run


def sim(w, flags, tmp_path):
    settings = accuracy.R.SpAttenConfig.from_flags(flags)
    return accuracy.measure(w, accuracy.sim_logits(w, settings, tmp_path), "sim", settings.to_flags())


def assert_same(a: accuracy.Accuracy, b: accuracy.Accuracy):
    assert a.predictions == b.predictions
    assert a.loss == pytest.approx(b.loss, rel=REL)
    assert a.value == pytest.approx(b.value, rel=REL)


def test_dense_binary_equals_pytorch(trained, text, tmp_path):
    w = windows(trained, text)
    expected = accuracy.measure(w, torch_logits(trained.model), "torch")
    got = sim(w, "", tmp_path)
    assert got.task == ("causal" if trained.settings.kind == "gpt2" else "masked")
    assert got.predictions > 0
    assert_same(got, expected)


@pytest.mark.parametrize("flags", ["--token-keep=0.5", PRUNING])
def test_simulator_and_reference_agree(trained, text, flags, tmp_path):
    w = windows(trained, text)
    settings = accuracy.R.SpAttenConfig.from_flags(flags)
    reference = accuracy.measure(w, accuracy.reference_logits(w, settings), "reference")
    assert_same(sim(w, flags, tmp_path), reference)


@pytest.mark.parametrize("engine", accuracy.ENGINES)
def test_keep_ratio_one_changes_nothing(trained, text, engine):
    dense = accuracy.evaluate(trained.onnx, text, max_windows=WINDOWS, engine=engine)
    kept = accuracy.evaluate(trained.onnx, text, max_windows=WINDOWS, engine=engine,
                             flags="--token-keep=1 --head-keep=1 --value-keep=1")
    assert kept.value == dense.value and kept.loss == dense.loss


def test_pruning_costs_perplexity(trained, text):
    if trained.settings.kind != "gpt2":
        pytest.skip("perplexity is the causal LM's metric")
    dense = accuracy.evaluate(trained.onnx, text, max_windows=WINDOWS, engine="reference")
    pruned = accuracy.evaluate(trained.onnx, text, max_windows=WINDOWS, engine="reference", flags=PRUNING)
    assert pruned.value > dense.value
    assert pruned.flags == PRUNING.split()


# ----------------------------------------------------------------------------- generation stage

PROMPT = 64


def test_dense_generation_stage_equals_the_whole_sequence(gpt2_tiny, text):
    w = accuracy.prepare(gpt2_tiny.onnx, text, max_windows=2, prompt=PROMPT)
    dense = accuracy.R.SpAttenConfig()
    decoded = accuracy.measure(w, accuracy.generation_logits(w, dense))
    assert decoded.predictions == 2 * (w.window - PROMPT) and decoded.prompt == PROMPT
    whole = dataclasses.replace(w, rows=[np.arange(PROMPT - 1, w.window - 1)] * len(w.rows))
    assert_same(decoded, accuracy.measure(whole, accuracy.reference_logits(whole, dense)))


def test_generation_stage_with_pruning(gpt2_tiny, text):
    dense = accuracy.evaluate(gpt2_tiny.onnx, text, max_windows=2, prompt=PROMPT)
    pruned = accuracy.evaluate(gpt2_tiny.onnx, text, max_windows=2, prompt=PROMPT, flags=PRUNING)
    assert dense.engine == pruned.engine == "reference"
    assert pruned.value != dense.value
    assert "generation stage after a 64-token prompt" in pruned.summary()


def test_generation_stage_errors(gpt2_tiny, text):
    with pytest.raises(ValueError, match="runs on the reference engine"):
        accuracy.evaluate(gpt2_tiny.onnx, text, max_windows=1, prompt=PROMPT, engine="sim")
    with pytest.raises(ValueError, match="prompt of 128 tokens needs a causal LM and 1 to 127"):
        accuracy.prepare(gpt2_tiny.onnx, text, prompt=128)
    bert = train.train(train.TrainSettings.of("bert", "tiny"), stream=None)
    with pytest.raises(ValueError, match="needs a causal LM"):
        accuracy.prepare(bert.onnx, text, prompt=PROMPT)
    weights = accuracy.R.from_onnx(gpt2_tiny.onnx)
    with pytest.raises(ValueError, match="feed has 1 ids"):
        accuracy.R.generate(weights, [5, 6], 3, feed=[7])


# ----------------------------------------------------------------------------- errors

@pytest.fixture(scope="module")
def gpt2_tiny():
    return train.train(train.TrainSettings.of("gpt2", "tiny"), stream=None)


def cli_error(capsys, argv):
    assert accuracy.main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("spatten.accuracy: error: ")
    return err


def test_missing_text_file(gpt2_tiny, tmp_path, capsys):
    missing = tmp_path / "none.txt"
    with pytest.raises(ValueError, match="none.txt"):
        accuracy.prepare(gpt2_tiny.onnx, missing)
    assert "none.txt" in cli_error(capsys, [gpt2_tiny.onnx, "--text", missing])


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00binary\x80", b"short text"])
def test_unusable_text_file(gpt2_tiny, tmp_path, content):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match="bad.txt"):
        accuracy.prepare(gpt2_tiny.onnx, bad)


@pytest.mark.parametrize("window", [1, 129])
def test_window_must_fit_the_model(gpt2_tiny, text, window):
    with pytest.raises(ValueError, match=f"a window of {window} tokens does not fit the model"):
        accuracy.prepare(gpt2_tiny.onnx, text, window=window)


def test_unknown_tokenizer(gpt2_tiny, text, tmp_path, capsys):
    with pytest.raises(ValueError, match="nope.model: tokenizer model not found"):
        accuracy.prepare(gpt2_tiny.onnx, text, tmp_path / "nope.model")
    junk = tmp_path / "junk.model"
    junk.write_text("not a model")
    with pytest.raises(ValueError, match="junk.model: not a sentencepiece model"):
        accuracy.prepare(gpt2_tiny.onnx, text, junk)
    assert "junk.model" in cli_error(capsys, [gpt2_tiny.onnx, "--text", text, "--tokenizer", junk])


def test_tokenizer_larger_than_the_vocabulary(gpt2_tiny, text, tmp_path):
    model = tmp_path / "lm.onnx"
    export.export("gpt2-lm", str(model), vocab=99)
    with pytest.raises(ValueError, match="more than the model's vocabulary of 99"):
        accuracy.prepare(model, text, gpt2_tiny.tokenizer)


def test_model_without_logits(gpt2_tiny, text, tmp_path, capsys):
    model = tmp_path / "encoder.onnx"
    export.export("gpt2", str(model))
    with pytest.raises(ValueError, match=r"encoder.onnx: no logits output \(outputs: last_hidden_state\)"):
        accuracy.prepare(model, text, gpt2_tiny.tokenizer)
    assert "no logits output" in cli_error(capsys, [model, "--text", text, "--tokenizer", gpt2_tiny.tokenizer])


def test_missing_model_and_bad_flags(gpt2_tiny, text, tmp_path, capsys):
    assert "absent.onnx: model not found" in cli_error(capsys, [tmp_path / "absent.onnx", "--text", text])
    with pytest.raises(ValueError):
        accuracy.evaluate(gpt2_tiny.onnx, text, flags="--token-keep=2", engine="reference")
    assert "--token-kep=0.5" in cli_error(capsys, [gpt2_tiny.onnx, "--text", text, "--flags", "--token-kep=0.5"])


def test_cli_prints_one_line(gpt2_tiny, text, capsys):
    assert accuracy.main([str(gpt2_tiny.onnx), "--text", str(text), "--max-windows", "2",
                          "--flags", "--token-keep=0.5"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("perplexity ") and "engine sim" in out and "--token-keep=0.5" in out


def test_compile_failure_is_a_tool_error(gpt2_tiny, text, tmp_path):
    w = accuracy.prepare(gpt2_tiny.onnx, text, max_windows=1)
    with pytest.raises(tools.ToolError):
        accuracy.sim_logits(w, accuracy.R.SpAttenConfig(), tmp_path, bin_dir=tmp_path / "no-tools")
