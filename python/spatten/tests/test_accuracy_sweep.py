"""bench/accuracy.py on the trained tiny GPT-2 and BERT: a point per curve
on the reference (whole windows, and the generation stage for GPT-2),
simulator points equal to their reference twins, keep ratios of 1 leave
the metric unchanged, the no-loss search picks the largest reduction
within each model's bound (1% perplexity, 0.5 points of masked-token
accuracy), a second sweep resumes from the cache, and the section renders
both models."""

from __future__ import annotations

import importlib.util
import json
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
import accuracy_report as report  # noqa: E402  (bench/, on the path once bench/accuracy.py is loaded)
import accuracy_sweep as S  # noqa: E402

SETTINGS = {"gpt2": S.Setting("tiny", windows=2, sim_windows=1), "bert": S.Setting("tiny", 2, 1, "bert")}


@pytest.fixture(scope="module")
def models():
    return {kind: train.train(train.TrainSettings.of(kind, "tiny"), stream=None).onnx for kind in SETTINGS}


@pytest.fixture(scope="module")
def sweeps(models, tmp_path_factory):
    """kind -> (cache, Sweep, whole-window result)."""
    out = {}
    for kind, model in models.items():
        cache = tmp_path_factory.mktemp(f"sweep-{kind}")
        sweep = S.Sweep(model, corpus.corpus_files()["test"], cache, SETTINGS[kind])
        out[kind] = (cache, sweep, S.run_sweep(sweep))
    return out


@pytest.fixture(scope="module")
def generation_swept(models, sweeps):
    sweep = S.Sweep(models["gpt2"], corpus.corpus_files()["test"], sweeps["gpt2"][0], SETTINGS["gpt2"],
                    generation=True)
    return S.run_sweep(sweep)


@pytest.fixture(params=["gpt2 whole", "gpt2 generation", "bert whole"])
def stage(request, sweeps, generation_swept):
    """(metric, stage result, setting)."""
    kind, which = request.param.split()
    res = generation_swept if which == "generation" else sweeps[kind][2]
    return sweeps[kind][1].metric, res, SETTINGS[kind]


def test_each_model_has_its_metric(sweeps):
    assert sweeps["gpt2"][1].metric is S.PERPLEXITY and sweeps["bert"][1].metric is S.ACCURACY
    dense = sweeps["bert"][2]["dense"]
    assert 0 <= dense["accuracy"] <= 1 and "perplexity" not in dense


def test_every_curve_has_its_points(stage):
    _, res, setting = stage
    for c in S.CURVES:
        got = res["curves"][c.name]
        assert [p["x"] for p in got] == [x for x, _ in c.points]
        assert all(p["windows"] == setting.windows and p["attention_bytes"] > 0 for p in got)


def test_keep_ratio_one_leaves_the_metric_unchanged(stage):
    metric, res, _ = stage
    dense = res["dense"]
    for name in ("token", "head", "value"):
        one = next(p for p in res["curves"][name] if p["x"] == 1.0)
        assert one[metric.key] == dense[metric.key]
        assert one["attention_bytes"] == dense["attention_bytes"]


def test_generation_stage_scores_the_generated_tokens(sweeps, generation_swept):
    window = sweeps["gpt2"][1].windows.window
    setting = SETTINGS["gpt2"]
    assert generation_swept["dense"]["predictions"] == setting.windows * (window - setting.prompt(window))
    assert generation_swept["sim"] == [] and "no_loss_sim" not in generation_swept


@pytest.mark.parametrize("kind", SETTINGS)
def test_simulator_points_equal_their_reference_twins(sweeps, kind):
    _, sweep, res = sweeps[kind]
    key = sweep.metric.key
    assert len(res["sim"]) == len(S.CURVES)
    for s in res["sim"]:
        assert s["sim"]["windows"] == s["reference"]["windows"] == SETTINGS[kind].sim_windows
        assert s["sim"][key] == pytest.approx(s["reference"][key], rel=REL)
        assert s["sim"]["loss"] == pytest.approx(s["reference"]["loss"], rel=REL)
        assert s["sim"]["attention_bytes"] == s["reference"]["attention_bytes"], s["curve"]


def test_no_loss_point_is_the_largest_reduction_within_the_bound(stage):
    metric, res, _ = stage
    dense, best = res["dense"], res["no_loss"]
    candidates = [p for ps in res["curves"].values() for p in ps] + res["combined"]
    assert best is not None and metric.within(best, dense)
    assert best["attention_bytes"] == min(p["attention_bytes"] for p in candidates if metric.within(p, dense))


def test_no_loss_search_ignores_points_beyond_the_bound():
    dense = {"perplexity": 100.0, "attention_bytes": 1000}
    points = [{"perplexity": 100.5, "attention_bytes": 600}, {"perplexity": 101.0, "attention_bytes": 500},
              {"perplexity": 101.5, "attention_bytes": 100}, dense]
    assert S.no_loss(points, dense, S.PERPLEXITY) is points[1]
    assert S.no_loss([points[2]], dense, S.PERPLEXITY) is None


def test_masked_lm_bound_is_half_a_point_of_accuracy():
    dense = {"accuracy": 0.25, "attention_bytes": 1000}
    points = [{"accuracy": 0.2475, "attention_bytes": 600}, {"accuracy": 0.245, "attention_bytes": 500},
              {"accuracy": 0.2449, "attention_bytes": 100}, {"accuracy": 0.30, "attention_bytes": 1000}]
    assert S.no_loss(points, dense, S.ACCURACY) is points[1]
    assert S.no_loss([points[2]], dense, S.ACCURACY) is None
    assert S.ACCURACY.change(points[1], dense) == pytest.approx(-0.5)
    assert S.ACCURACY.quality_change(points[3], dense) == pytest.approx(5.0)
    assert S.PERPLEXITY.quality_change({"perplexity": 102.0}, {"perplexity": 100.0}) == pytest.approx(-2.0)


def test_a_second_sweep_resumes_from_the_cache(sweeps, models):
    for kind, (cache, first, res) in sweeps.items():
        assert first.runs > 0
        again = S.Sweep(models[kind], corpus.corpus_files()["test"], cache, SETTINGS[kind])
        assert S.run_sweep(again) == res
        assert again.runs == 0


def _result(kind, sweeps, generation_swept):
    window = sweeps[kind][1].windows.window
    metrics = json.loads(train.cache_files(train.TrainSettings.of(kind, "tiny"))["metrics"].read_text())
    res = {"setting": vars(SETTINGS[kind]), "metrics": metrics, "window": window, "whole": sweeps[kind][2]}
    if kind == "gpt2":
        res.update(prompt=SETTINGS[kind].prompt(window), generation=generation_swept)
    return res


def test_render_and_plots(sweeps, generation_swept, tmp_path):
    results = {kind: _result(kind, sweeps, generation_swept) for kind in SETTINGS}
    page = tmp_path / "results.md"
    page.write_text("# Results\n")
    lines = report.render(results)
    assert lines[0] == bench.BEGIN and lines[-1] == bench.END
    text = bench.generation.splice(page, lines, bench.BEGIN, bench.END)
    assert text.startswith("# Results\n") and text.count(bench.BEGIN) == 1
    assert "### GPT-2" in text and "### BERT (masked LM)" in text
    assert "masked-token accuracy falls at most 0.5 points" in text and "perplexity rises at most 1%" in text
    page.write_text(text)
    assert bench.generation.splice(page, lines, bench.BEGIN, bench.END) == text
    assert "### GPT-2" not in "\n".join(report.render({"bert": results["bert"]}))
    for kind, res in results.items():
        report.plot(res, tmp_path / "results")
        assert all((tmp_path / "results" / name).is_file() for name in report.PLOTS[kind])


def test_render_only_keeps_the_other_models_saved_results(sweeps, generation_swept, tmp_path):
    for kind in SETTINGS:
        (tmp_path / S.MODELS[kind].saved).write_text(json.dumps(_result(kind, sweeps, generation_swept)))
    out = tmp_path / "results.md"
    assert bench.main(["--render-only", "--work-dir", str(tmp_path), "--output", str(out)]) == 0
    text = out.read_text()
    assert "### GPT-2" in text and "### BERT (masked LM)" in text
