"""spatten.train and spatten.corpus: the tiny models learn (their validation
loss beats the unigram baseline), training is deterministic and cached, and
the ONNX export holds the trained weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spatten import corpus, export
from spatten import reference as R
from spatten import train


@pytest.fixture(scope="module", params=train.KINDS)
def trained(request) -> train.Trained:
    return train.train(train.TrainSettings.of(request.param, "tiny"), stream=None)


def test_tiny_training_lowers_the_loss(trained):
    losses = trained.metrics["losses"]
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.3
    assert len(losses) == trained.settings.steps


@pytest.mark.parametrize("kind", train.KINDS)
def test_tiny_training_beats_the_unigram_baseline(kind):
    m = train.train(train.TrainSettings.of(kind, "tiny"), stream=None).metrics
    assert m["validation_loss"] < m["unigram_loss"] - 0.2, m  # here by 0.72 (GPT-2) and 0.44 nats (BERT)
    if kind == "bert":
        assert m["validation_accuracy"] > m["unigram_accuracy"] + 0.02, m  # 8.7% against 3.9% here


def test_cached_model_is_loaded(trained):
    again = train.train(trained.settings, stream=None)
    assert again.metrics == trained.metrics
    for (name, a), b in zip(trained.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_onnx_export_holds_the_trained_weights(trained):
    cfg = trained.model.config
    inputs = export.make_inputs(cfg, seq_len=16, seed=3)
    expected = export.torch_outputs(trained.model, inputs)
    onnx_weights = R.from_onnx(trained.onnx)
    got = R.run_inputs(onnx_weights, inputs).outputs
    name = cfg.output_names[0]
    assert name in ("logits", "prediction_scores")
    np.testing.assert_allclose(got[name], expected[name], atol=1e-4, rtol=1e-4)


def test_training_is_deterministic():
    settings = train.TrainSettings.of("gpt2", "tiny", steps=3)
    first = train.train(settings, stream=None, force=True)
    second = train.train(settings, stream=None, force=True)
    assert first.metrics["losses"] == second.metrics["losses"]
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)


def test_settings_key_follows_every_setting():
    base = train.TrainSettings.of("gpt2", "tiny")
    assert base.key.startswith("gpt2-tiny-")
    assert train.TrainSettings.of("gpt2", "tiny").key == base.key
    assert train.TrainSettings.of("gpt2", "tiny", seed=1).key != base.key
    assert train.TrainSettings.of("gpt2", "tiny", steps=7).key != base.key
    assert train.TrainSettings.of("gpt2", "tiny", mask_rate=0.3).key != base.key
    assert train.TrainSettings.of("gpt2", "tiny", short_context=64).key != base.key
    # A field at its default stays out of the key: the caches of older settings stay valid.
    assert train.TrainSettings.of("gpt2", "tiny", mask_rate=train.MASK_RATE, short_context=0).key == base.key


def test_short_windows_keep_the_tokens_per_step():
    s = train.TrainSettings.of("bert", "small")
    assert s.short_context and s.context % s.short_context == 0
    shapes = [train.window_shape(s, step) for step in range(s.steps)]
    short = shapes.count((s.batch * s.context // s.short_context, s.short_context))
    assert short == round(train.SHORT_SHARE * s.steps) and shapes[-1] == (s.batch, s.context)
    assert train.window_shape(train.TrainSettings.of("gpt2", "small"), 0) == (8, 512)


@pytest.mark.parametrize("kind,size", [("gpt3", "tiny"), ("bert", "huge")])
def test_unknown_kind_or_size_is_an_error(kind, size):
    with pytest.raises(ValueError, match="unknown"):
        train.TrainSettings.of(kind, size)


def test_bad_settings_are_errors(capsys):
    with pytest.raises(ValueError, match="steps must be at least 1"):
        train.TrainSettings.of("gpt2", "tiny", steps=0)
    assert train.main(["bert", "--lr", "-1"]) == 2
    assert capsys.readouterr().err.strip() == "spatten.train: error: the learning rate must be positive, got -1.0"
    with pytest.raises(ValueError, match="masking rate"):
        train.TrainSettings.of("bert", "tiny", mask_rate=1.5)
    with pytest.raises(ValueError, match="short_context"):
        train.TrainSettings.of("bert", "tiny", short_context=4096)


@pytest.mark.parametrize("kind", train.KINDS)
def test_small_size_is_the_documented_shape(kind):
    s = train.TrainSettings.of(kind, "small")
    assert 4 <= s.layers <= 6 and 256 <= s.hidden <= 384 and s.hidden // s.heads == 64 and s.context >= 512


def test_split_depends_only_on_the_page_name():
    files = corpus.corpus_files()
    pages = [p.relative_to(corpus.HTML_ROOT).as_posix() for p in corpus.pages()]
    splits = [corpus.split_of(p) for p in pages]
    assert splits == [corpus.split_of(p) for p in reversed(pages)][::-1]
    share = {s: splits.count(s) / len(splits) for s in corpus.SPLITS}
    assert share["train"] > 0.8 and share["validation"] > 0.02 and share["test"] > 0.02
    lines = {s: set(files[s].read_text(encoding="utf-8").splitlines()) for s in ("validation", "test")}
    assert len(lines["validation"]) > 100 and len(lines["test"]) > 100


def test_tokenizer_has_the_mask_piece():
    sp = corpus.load_tokenizer(corpus.tokenizer_file(train.SIZES["tiny"]["vocab"]))
    assert sp.get_piece_size() == train.SIZES["tiny"]["vocab"]
    assert sp.piece_to_id(corpus.MASK_PIECE) == 3
    assert sp.decode(sp.encode("The interpreter reads the file.")) == "The interpreter reads the file."
