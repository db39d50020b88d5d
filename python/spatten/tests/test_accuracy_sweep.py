"""bench/accuracy.py on the trained tiny GPT-2: a point per curve on the
reference (whole windows and the generation stage), simulator points equal
to their reference twins, keep ratios of 1 leave the perplexity unchanged,
the no-loss search picks the largest reduction within the bound, and a
second sweep resumes from the cache."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from spatten import corpus, train

from conftest import ROOT

REL = 1e-4


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_accuracy", ROOT / "bench" / "accuracy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _load_bench()
SETTING = bench.Setting("tiny", windows=2, sim_windows=1)


@pytest.fixture(scope="module")
def model():
    return train.train(train.TrainSettings.of("gpt2", "tiny"), stream=None).onnx


@pytest.fixture(scope="module")
def swept(model, tmp_path_factory):
    cache = tmp_path_factory.mktemp("sweep")
    sweep = bench.Sweep(model, corpus.corpus_files()["test"], cache, SETTING)
    return cache, sweep, bench.run_sweep(sweep)


@pytest.fixture(scope="module")
def generation_swept(model, swept):
    sweep = bench.Sweep(model, corpus.corpus_files()["test"], swept[0], SETTING, generation=True)
    return bench.run_sweep(sweep)


@pytest.fixture(params=["whole", "generation"])
def stage(request, swept, generation_swept):
    return swept[2] if request.param == "whole" else generation_swept


def test_every_curve_has_its_points(stage):
    for c in bench.CURVES:
        got = stage["curves"][c.name]
        assert [p["x"] for p in got] == [x for x, _ in c.points]
        assert all(p["windows"] == SETTING.windows and p["attention_bytes"] > 0 for p in got)


def test_keep_ratio_one_leaves_perplexity_unchanged(stage):
    dense = stage["dense"]
    for name in ("token", "head", "value"):
        one = next(p for p in stage["curves"][name] if p["x"] == 1.0)
        assert one["perplexity"] == dense["perplexity"]
        assert one["attention_bytes"] == dense["attention_bytes"]


def test_generation_stage_scores_the_generated_tokens(swept, generation_swept):
    window = swept[1].windows.window
    prompt = SETTING.prompt(window)
    assert generation_swept["dense"]["predictions"] == SETTING.windows * (window - prompt)
    assert generation_swept["sim"] == [] and "no_loss_sim" not in generation_swept


def test_simulator_points_equal_their_reference_twins(swept):
    _, _, res = swept
    assert len(res["sim"]) == len(bench.CURVES)
    for s in res["sim"]:
        assert s["sim"]["windows"] == s["reference"]["windows"] == SETTING.sim_windows
        assert s["sim"]["perplexity"] == pytest.approx(s["reference"]["perplexity"], rel=REL)
        assert s["sim"]["attention_bytes"] == s["reference"]["attention_bytes"], s["curve"]


def test_no_loss_point_is_the_largest_reduction_within_the_bound(stage):
    dense, best = stage["dense"], stage["no_loss"]
    candidates = [p for ps in stage["curves"].values() for p in ps] + stage["combined"]
    assert best is not None and bench.within_bound(best, dense)
    assert best["attention_bytes"] == min(p["attention_bytes"] for p in candidates if bench.within_bound(p, dense))


def test_no_loss_search_ignores_points_beyond_the_bound():
    dense = {"perplexity": 100.0, "attention_bytes": 1000}
    points = [{"perplexity": 100.5, "attention_bytes": 600}, {"perplexity": 101.0, "attention_bytes": 500},
              {"perplexity": 101.5, "attention_bytes": 100}, dense]
    assert bench.no_loss(points, dense) is points[1]
    assert bench.no_loss([points[2]], dense) is None


def test_a_second_sweep_resumes_from_the_cache(swept, model):
    cache, first, res = swept
    assert first.runs > 0
    again = bench.Sweep(model, corpus.corpus_files()["test"], cache, SETTING)
    assert bench.run_sweep(again) == res
    assert again.runs == 0


def test_render_and_plots(swept, generation_swept, tmp_path):
    window = swept[1].windows.window
    res = {"setting": vars(SETTING), "metrics": {"settings": dict(train.SIZES["tiny"]), "validation_perplexity": 1.0,
                                                 "validation_loss": 0.0, "unigram_loss": 1.0},
           "window": window, "prompt": SETTING.prompt(window), "whole": swept[2], "generation": generation_swept}
    page = tmp_path / "results.md"
    page.write_text("# Results\n")
    lines = bench.render(res)
    assert lines[0] == bench.BEGIN and lines[-1] == bench.END
    text = bench.generation.splice(page, lines, bench.BEGIN, bench.END)
    assert text.startswith("# Results\n") and text.count(bench.BEGIN) == 1
    page.write_text(text)
    assert bench.generation.splice(page, lines, bench.BEGIN, bench.END) == text
    bench.plot(res, tmp_path / "results")
    assert (tmp_path / "results" / bench.PLOT_CURVES).is_file()
    assert (tmp_path / "results" / bench.PLOT_REFETCH).is_file()
