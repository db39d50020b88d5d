"""spatten.compile / spatten.simulate and spatten.sweep: a 4-point sweep of
a tiny BERT on a LocalCluster and on a dask-scheduler with two dask-worker
processes started here, resume, failing points, the CSV against single
tool runs, Pareto fronts, and specification errors naming the field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import spatten
from spatten import api, sweep, tools
from spatten.sweep_spec import SpecError
from spatten.sweep_tasks import metrics

pd = pytest.importorskip("pandas")
pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore:make_current is deprecated:DeprecationWarning")

SHAPES = 'shapes = { batch = 1, sequence = 8 }'
FOUR_POINTS = """
[axes]
token-keep = [1.0, 0.5]
"hw.topk_comparators" = [1, 16]
"""
#: Columns that are not the report's (wall-clock seconds).
TIMES = ["compile_seconds", "sim_seconds"]


def assert_same_results(df, want):
    """Equal results but for the wall-clock seconds."""
    assert list(df.columns) == list(want.columns)
    for c in df.columns:
        if c not in TIMES:
            assert df[c].equals(want[c]), (c, df[c].tolist(), want[c].tolist())


def write_spec(folder: Path, model: Path, body: str, top: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "spec.toml"
    spec.write_text(f'{top}\n[[model]]\npath = "{model}"\nname = "bert"\n{SHAPES}\n{body}')
    return spec


@pytest.fixture(scope="module")
def bert(tiny_models):
    return tiny_models("bert", 14)[0]


@pytest.fixture(scope="module")
def local_sweep(bert, tmp_path_factory):
    """The 4-point sweep on a LocalCluster: (spec, out dir, results)."""
    folder = tmp_path_factory.mktemp("sweep-local")
    spec = sweep.load_spec(write_spec(folder, bert, FOUR_POINTS))
    return spec, folder / "out", sweep.run(spec, folder / "out", progress=False)


# ----------------------------------------------------------------------------- the API

def test_compile_and_simulate_api(bert, tmp_path, monkeypatch):
    monkeypatch.setenv("SPATTEN_CACHE_DIR", str(tmp_path / "cache"))
    b = spatten.compile(bert, {"token_keep": 0.5}, {"topk_comparators": 4}, {"batch": 1, "sequence": 8})
    assert b.settings.token_keep == 0.5 and b.hardware["topk_comparators"] == 4 and b.seconds is not None
    again = spatten.compile(bert, {"token-keep": 0.5}, {"topk_comparators": 4}, {"batch": 1, "sequence": 8})
    assert again.path == b.path and again.seconds is None  # from the cache
    report = spatten.simulate(b)
    assert report.cycles > 0 and report.energy_uj > 0
    # Inputs from the manifest alone are the demo's inputs from the model.
    from_manifest = api.default_inputs(tools.Binary(b.path))
    assert all(np.array_equal(v, from_manifest[k]) for k, v in api.default_inputs(b).items())
    assert spatten.simulate(b.path, from_manifest) == report
    assert spatten.simulate(b, hw="spatten-1/8").cycles > report.cycles
    assert spatten.simulate(b, host_threads=1) == report  # same for every thread count
    with pytest.raises(spatten.Error, match="--host-threads must be at least 1"):
        spatten.simulate(b, host_threads=0)
    with pytest.raises(spatten.Error, match="topk_comparatorz"):
        spatten.compile(bert, None, {"topk_comparatorz": 4}, {"batch": 1, "sequence": 8})
    with pytest.raises(spatten.Error, match="input_ids.*bind its dimensions"):
        spatten.compile(bert, shapes={"batch": 1})
    with pytest.raises(spatten.Error, match="settings: token_keep=2.0 is outside"):
        spatten.compile(bert, {"token_keep": 2.0}, shapes={"batch": 1, "sequence": 8})


# ----------------------------------------------------------------------------- sweeps

def test_local_cluster_points_share_the_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert sweep.host_threads_per_point(None, 2) == 4
    assert sweep.host_threads_per_point(None, 3) == 2
    assert sweep.host_threads_per_point(None, 16) == 1
    assert sweep.host_threads_per_point("tcp://127.0.0.1:8786", 2) is None


def test_local_cluster_sweep(local_sweep, bert):
    spec, out, df = local_sweep
    assert list(df["status"]) == ["ok"] * 4 and df.attrs["computed"] == 4
    assert list(df["token-keep"]) == [1.0, 1.0, 0.5, 0.5] and list(df["hw.topk_comparators"]) == [1, 16, 1, 16]
    # One binary per setting: the comparators only re-time it.
    assert df["compile_key"].nunique() == 2 and len(list((out / "binaries").glob("*.spbin"))) == 2
    assert df.loc[2, "attention_bytes_read"] < df.loc[0, "attention_bytes_read"]
    loaded = sweep.load(out)
    assert list(loaded.columns) == list(df.columns) and loaded["cycles"].tolist() == df["cycles"].tolist()


def test_csv_equals_single_runs(local_sweep, bert, tmp_path):
    """Each row equals compiling the point with its whole hardware
    configuration and simulating without --hw."""
    spec, out, _ = local_sweep
    df = sweep.load(out)
    inputs = {p.stem: p for p in (out / "inputs" / "bert").glob("*.npy")}
    for point, row in zip(spec.points(), df.itertuples(index=False)):
        b = api.compile(bert, point.settings, dict(point.hw), point.model.shapes, out=tmp_path / f"{point.index}.spbin")
        single = metrics(api.simulate(b, inputs))
        got = row._asdict()
        for column, want in single.items():
            if want is None:
                assert pd.isna(got[column]), (point.index, column)
            else:
                assert got[column] == pytest.approx(want, rel=1e-12), (point.index, column)


def test_resume_computes_nothing_twice(local_sweep, bert, dask_cluster):
    spec, out, first = local_sweep
    stamps = {p: p.stat().st_mtime_ns for p in (out / "points").glob("*.json")}
    again = sweep.run(spec, out, progress=False)
    assert again.attrs["computed"] == 0 and again.attrs["cached"] == 4
    assert {p: p.stat().st_mtime_ns for p in (out / "points").glob("*.json")} == stamps
    assert_same_results(again, first)
    # A new comparator count: two new points, on the binaries already there
    # (on the other cluster, which sees the same files).
    grown = sweep.load_spec(write_spec(out.parent / "grown", bert, FOUR_POINTS.replace("[1, 16]", "[1, 16, 4]")))
    df = sweep.run(grown, out, scheduler=dask_cluster, progress=False)
    assert (df.attrs["computed"], df.attrs["cached"], len(df)) == (2, 4, 6)
    assert len(list((out / "binaries").glob("*.spbin"))) == 2


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A dask-scheduler and two dask-worker processes on localhost; yields
    the scheduler's address and stops them after the module."""
    folder = tmp_path_factory.mktemp("dask")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tools.ROOT / "python"), os.environ.get("PYTHONPATH", "")])}
    scheduler_file = folder / "scheduler.json"
    common = dict(cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cli = [sys.executable, "-m"]
    procs = [subprocess.Popen([*cli, "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(scheduler_file)], **common)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(2):
            procs.append(subprocess.Popen([*cli, "distributed.cli.dask_worker", address, "--nthreads", "1",
                                           "--no-dashboard", "--local-directory", str(folder)], **common))
        from dask.distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def test_dask_scheduler_sweep(dask_cluster, local_sweep, tmp_path):
    spec, _, local = local_sweep
    df = sweep.run(spec, tmp_path / "out", scheduler=dask_cluster, progress=False)
    assert list(df["status"]) == ["ok"] * 4 and df.attrs["computed"] == 4
    assert_same_results(df, local)


def test_failing_points_are_recorded(dask_cluster, bert, tmp_path):
    body = """
[axes]
case = [
  { label = "ok", "token-keep" = 0.5 },
  { label = "schedule of 3 layers", "token-schedule" = "1,0.5,0.5" },
  { label = "3 channels", "hw.dram_channels" = 3, "hw.crossbar_outputs" = 3 },
  { label = "keep 2", "token-keep" = 2.0 },
]
"""
    spec = sweep.load_spec(write_spec(tmp_path, bert, body))
    df = sweep.run(spec, tmp_path / "out", scheduler=dask_cluster, progress=False)
    assert list(df["status"]) == ["ok", "failed", "failed", "failed"]
    errors = list(df["error"])
    assert errors[0] == ""
    assert errors[1].startswith("compile: ") and "schedule '1,0.5,0.5' lists 3 fractions for 2 layers" in errors[1]
    assert errors[2].startswith("simulate: ") and "dram_channels" in errors[2]
    assert errors[3].startswith("settings: ") and "token_keep" in errors[3]
    assert sweep.load(tmp_path / "out")["status"].tolist() == list(df["status"])
    # Failures are results too: a re-run computes nothing unless asked to.
    assert sweep.run(spec, tmp_path / "out", scheduler=dask_cluster, progress=False).attrs["computed"] == 0
    retried = sweep.run(spec, tmp_path / "out", scheduler=dask_cluster, progress=False, retry_failed=True)
    assert retried.attrs["computed"] == 2


# ----------------------------------------------------------------------------- plots

def test_pareto_front():
    df = pd.DataFrame({"status": ["ok"] * 5 + ["failed"], "cycles": [5, 1, 3, 3, 4, 0],
                       "energy_uj": [1, 5, 2, 4, 2, 0]})
    front = sweep.pareto(df, "cycles", "energy_uj")
    assert front[["cycles", "energy_uj"]].values.tolist() == [[1, 5], [3, 2], [5, 1]]
    with pytest.raises(KeyError, match="no column 'joules'"):
        sweep.pareto(df, "cycles", "joules")


def test_cli_writes_pareto_plots(local_sweep, capsys):
    spec, out, _ = local_sweep
    assert sweep.main([spec.source, "--out", str(out), "--pareto", "--quiet",
                       "--plot", "hw.topk_comparators,cycles,token-keep"]) == 0
    assert "0 computed, 4 from earlier runs" in capsys.readouterr().out
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["pareto-attention_bytes_read-energy_uj.png", "pareto-cycles-attention_bytes_read.png",
                    "pareto-cycles-energy_uj.png", "plot-hw.topk_comparators-cycles.png"]


def test_settings_take_their_python_field_names(bert, tmp_path):
    # The issue-style spelling (token_keep, as SpAttenConfig names the field)
    # means the flag it names; results columns use the flag name.
    dashed = sweep.load_spec(write_spec(tmp_path / "a", bert, '[settings]\npq-msb = 6\n[axes]\n'
                                        'token-keep = [1.0, 0.5]\ncase = [{ label = \"half\", head-keep = 0.5 }]'))
    snake = sweep.load_spec(write_spec(tmp_path / "b", bert, '[settings]\npq_msb = 6\n[axes]\n'
                                       'token_keep = [1.0, 0.5]\ncase = [{ label = \"half\", head_keep = 0.5 }]'))
    assert [(p.settings, p.columns) for p in snake.points()] == [(p.settings, p.columns) for p in dashed.points()]
    assert snake.columns == dashed.columns == ["token-keep", "case", "head-keep"]


# ----------------------------------------------------------------------------- bad specifications

@pytest.mark.parametrize("body, message", [
    ("[axes]\ntoken-kep = [0.5]", "[axes] 'token-kep': unknown axis"),
    ('[axes]\n"hw.topk_comparator" = [1]', "'hw.topk_comparator': unknown hardware field"),
    ('[axes]\ntoken-keep = ["half"]', "[axes] 'token-keep' value 1 'token-keep': expected a number, got 'half'"),
    ("[axes]\ntoken-keep = []", "[axes] 'token-keep': an axis is a non-empty list"),
    ('[axes]\ncase = [{ "hw.k_buffer" = 8 }]', "'hw.k_buffer': unknown hardware field"),
    ("[settings]\npq-msb = 6.5", "[settings] 'pq-msb': expected an integer, got 6.5"),
    ('[hw]\ndouble_buffered = 1', "'hw.double_buffered': expected true or false"),
    ("[axes]\ntoken-keep = [1.0, 0.5]\nhead-keep = [1.0]", "'zip = true' needs axes of one length"),
    ("[axes\ntoken-keep = [0.5]", "not valid TOML"),
    ("flavour = 1", "unknown key 'flavour'"),
])
def test_bad_spec_names_the_field(bert, tmp_path, body, message):
    top = "zip = true" if "zip" in message else ""
    path = write_spec(tmp_path, bert, body, top)
    with pytest.raises(SpecError) as e:
        sweep.load_spec(path)
    assert message in str(e.value) and str(path) in str(e.value)


def test_bad_spec_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "spec.toml"
    path.write_text('[[model]]\npath = "missing.onnx"\n')
    assert sweep.main([str(path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "spatten.sweep: error:" in err and "'path'" in err and "missing.onnx is not a file" in err
