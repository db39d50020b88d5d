"""Text generation on the accelerator (docs/Generation.md): a generation
binary (``spatten-compile --max-context``) run with ``spatten-sim
--generate`` gives PyTorch's greedy tokens (``spatten.generate.greedy``, the
exported model with its KV cache) and logits within LOGITS_TOL, whether the
keys fit one K/V fill or take several, with or without ``past_key_values``
inputs in the export."""

import numpy as np
import pytest

from spatten import export as spexport
from spatten import generate, tools
from spatten import reference as R
from spatten.reference import SpAttenConfig
from test_long_attention import hw_file

#: fp32 on both sides; only the order of reductions differs (GEMM tiles,
#: the two-pass softmax over fills).
LOGITS_TOL = 1e-4

#: The 992-token run: 992-key softmax sums and two fills reorder more
#: fp32 reductions, and PyTorch's BLAS (OpenBLAS, blocked and threaded)
#: orders its own; relative to the largest logit.
LONG_LOGITS_REL = 3e-5

PROMPT = np.array([[5, 17, 42, 3, 88, 61, 9]], dtype=np.int64)
N = 6


def export_lm(directory, past=False):
    # init std 0.3: argmax margins far above fp32 rounding (as test_generate).
    path = directory / ("lm-past.onnx" if past else "lm.onnx")
    model = spexport.export("gpt2-lm", str(path), seq_len=8, layers=3, init_std=0.3, past=past)
    return model, path


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return export_lm(tmp_path_factory.mktemp("generation"))


def compile_lm(onnx, out, context=None, hw=None, settings=None):
    flag = "--max-context" if context is None else f"--max-context={context}"
    return tools.compile(onnx, out, shapes={"batch": 1, "sequence": PROMPT.shape[1]}, extra=[flag], hw=hw,
                         settings=settings)


def generate_on_sim(binary, out_dir, n=N):
    return tools.simulate(binary, {"input_ids": PROMPT}, out_dir, generate=n, save_logits=True)


def check_against_pytorch(model, run, n=N):
    ids, logits = generate.greedy(model, PROMPT, n)
    np.testing.assert_array_equal(run.generated_ids, ids)
    sim = run.generation_logits
    assert sim.shape == logits.shape
    err = float(np.abs(sim - logits).max())
    assert err <= LOGITS_TOL, f"max abs logit error {err}"


def test_dense_generation_equals_pytorch_greedy(lm, tmp_path):
    model, onnx = lm
    binary = compile_lm(onnx, tmp_path / "lm.spbin")
    assert binary.entries == ["prefill", "decode"]
    run = generate_on_sim(binary, tmp_path / "out")
    check_against_pytorch(model, run)
    stages = run.report.stages
    assert len(stages.steps) == N - 1
    assert [s.position for s in stages.steps] == list(range(PROMPT.shape[1], PROMPT.shape[1] + N - 1))
    assert stages.prefill.cycles + stages.generation.cycles == run.report.cycles


def test_timing_only_fed_the_generated_ids_gives_the_full_report(lm, tmp_path):
    """--timing-only's logits are meaningless, and the token a step reads
    decides the embedding row it gathers; fed the tokens a full run
    generated (--feed-ids), it gives that run's report byte for byte."""
    _, onnx = lm
    binary = compile_lm(onnx, tmp_path / "lm.spbin")
    full = tools.simulate(binary, {"input_ids": PROMPT}, tmp_path / "full", generate=N)
    fast = tools.simulate(binary, {"input_ids": PROMPT}, tmp_path / "fast", generate=N, timing_only=True,
                          feed_ids=tmp_path / "full" / "generated_ids.npy")
    np.testing.assert_array_equal(fast.generated_ids, full.generated_ids)
    assert (tmp_path / "fast" / "report.json").read_bytes() == (tmp_path / "full" / "report.json").read_bytes()


def test_keys_over_several_fills(lm, tmp_path):
    """Context 64 with 16 keys per fill: the decode step's two-pass softmax."""
    model, onnx = lm
    binary = compile_lm(onnx, tmp_path / "lm.spbin", hw=hw_file(tmp_path, {"max_keys_per_fill": 16}))
    check_against_pytorch(model, generate_on_sim(binary, tmp_path / "out"))


def test_export_with_past_inputs(tmp_path):
    model, onnx = export_lm(tmp_path, past=True)
    binary = compile_lm(onnx, tmp_path / "lm.spbin", context=32)
    assert [t.name for t in binary.inputs] == ["input_ids"]
    check_against_pytorch(model, generate_on_sim(binary, tmp_path / "out"))


def test_decode_attention_bytes_grow_with_the_context(lm, tmp_path):
    """Each step reads the K and V rows of every earlier token once: the
    attention bytes of step s+1 exceed step s's by one K and one V row per
    head and layer (fp32 rows of D = 8)."""
    _, onnx = lm
    run = generate_on_sim(compile_lm(onnx, tmp_path / "lm.spbin"), tmp_path / "out")
    kv = [s.dram.by_class()["k"] + s.dram.by_class()["v"] for s in run.report.stages.steps]
    layers, heads, row = 3, 4, 8 * 4
    assert np.diff(kv).tolist() == [2 * layers * heads * row] * (len(kv) - 1)


def test_a_prompt_id_outside_the_vocabulary_is_refused(lm, tmp_path):
    """An id past the token table would read other DRAM: the host refuses
    it before any run, and writes nothing."""
    _, onnx = lm
    binary = compile_lm(onnx, tmp_path / "lm.spbin")
    bad = PROMPT.copy()
    bad[0, 2] = 999
    with pytest.raises(tools.ToolError) as e:
        tools.simulate(binary, {"input_ids": bad}, tmp_path / "out", generate=3)
    assert "prompt token 2 is 999, outside the vocabulary [0, 99)" in e.value.stderr
    assert not (tmp_path / "out" / "generated_ids.npy").exists()


def test_generation_past_the_context_is_refused(lm, tmp_path):
    _, onnx = lm
    binary = compile_lm(onnx, tmp_path / "lm.spbin", context=10)
    with pytest.raises(tools.ToolError, match="--generate"):
        generate_on_sim(binary, tmp_path / "out", n=5)


def test_local_value_pruning_in_generation_matches_the_reference(lm, tmp_path):
    """Each step keeps max(1, floor((p + 1) 0.3)) probabilities per head
    and fetches only those cached V rows, plus the token's own row for the
    cache (docs/Algorithms.md, "Generation"): the tokens, logits and V
    bytes of every step are the NumPy reference's, and each step reads
    fewer V bytes than dense."""
    model, onnx = lm
    cfg = SpAttenConfig(value_keep=0.3)
    run = generate_on_sim(compile_lm(onnx, tmp_path / "v.spbin", settings=cfg), tmp_path / "v")
    ref = R.generate(R.from_torch(model), PROMPT[0], N, cfg)
    np.testing.assert_array_equal(run.generated_ids, ref.tokens)
    assert float(np.abs(run.generation_logits - ref.logits).max()) <= LOGITS_TOL
    steps = run.report.stages.steps
    assert [s.dram.read(["v"]) for s in steps] == [r.totals()["v_bytes"] for r in ref.steps[1:]]
    dense = generate_on_sim(compile_lm(onnx, tmp_path / "d.spbin"), tmp_path / "d").report.stages.steps
    assert all(v.dram.read(["v"]) < d.dram.read(["v"]) for v, d in zip(steps, dense))


def test_the_papers_992_token_prompt(tmp_path):
    """The paper's setting at GPT-2's context (paper-figures §2): a
    992-token prompt, then generation up to 1024 positions. Heads of 64
    keep 784 fp32 keys per K/V fill, so every decode step takes two fills."""
    path = tmp_path / "lm.onnx"
    model = spexport.export("gpt2-lm", str(path), seq_len=8, layers=2, hidden=256, heads=4, max_positions=1024,
                            init_std=0.3)
    prompt = np.random.default_rng(0).integers(0, model.config.vocab, size=(1, 992), dtype=np.int64)
    binary = tools.compile(path, tmp_path / "lm.spbin", shapes={"batch": 1, "sequence": 992}, extra=["--max-context"])
    run = tools.simulate(binary, {"input_ids": prompt}, tmp_path / "out", generate=4, save_logits=True)
    ids, logits = generate.greedy(model, prompt, 4)
    np.testing.assert_array_equal(run.generated_ids, ids)
    # Logits of this wider model reach tens: the bound is relative to them.
    scale = float(np.abs(logits).max())
    assert float(np.abs(run.generation_logits - logits).max()) <= LONG_LOGITS_REL * scale, scale


@pytest.mark.parametrize("settings", [dict(pq_msb=6, pq_threshold=0.05, value_keep=0.3),
                                      dict(pq_msb=6, pq_threshold=0.5)], ids=["value-pq", "pq-refetching"])
def test_the_papers_prompt_over_fills_and_query_tiles(tmp_path, settings):
    """The paper's 992-token prompt with progressive quantization (and
    local value pruning) in fp32 (paper-figures §2): the prefill's 992
    keys take two fills of 784 and its 992 query rows two tiles, and every
    decode step's 993+ keys two fills (docs/Algorithms.md, "Attention over
    several fills"). Tokens and refetches are the NumPy reference's, logits
    within LONG_LOGITS_REL of the largest, and the Q, K MSB, K LSB and V
    bytes of the prefill and of every step equal its counts."""
    path = tmp_path / "lm.onnx"
    model = spexport.export("gpt2-lm", str(path), seq_len=8, layers=2, hidden=256, heads=4, max_positions=1024,
                            init_std=0.3)
    prompt = np.random.default_rng(0).integers(0, model.config.vocab, size=(1, 992), dtype=np.int64)
    cfg = SpAttenConfig(**settings)
    binary = tools.compile(path, tmp_path / "lm.spbin", shapes={"batch": 1, "sequence": 992}, extra=["--max-context"],
                           settings=cfg)
    run = tools.simulate(binary, {"input_ids": prompt}, tmp_path / "out", generate=3, save_logits=True)
    ref = R.generate(R.from_torch(model), prompt[0], 3, cfg, hardware=binary.manifest["hardware"])
    assert R.keys_per_fill(binary.manifest["hardware"], 64, *R.kv_bits(cfg)) == 784
    np.testing.assert_array_equal(run.generated_ids, ref.tokens)
    stages = [run.report.stages.prefill, *run.report.stages.steps]
    for cls in ("q", "k_msb", "k_lsb", "v"):
        assert [s.dram.read([cls]) for s in stages] == [t.totals()[f"{cls}_bytes"] for t in ref.steps], cls
    refetches = [[len(r.refetched_rows) for r in step.layers] for step in ref.steps[1:]]
    assert [[layer.refetches for layer in s.layers] for s in stages[1:]] == refetches
    scale = float(np.abs(ref.logits).max())
    assert float(np.abs(run.generation_logits - ref.logits).max()) <= LONG_LOGITS_REL * scale, scale


def kv_read(steps):
    return [s.dram.read(["k"]) + s.dram.read(["v"]) for s in steps]


@pytest.mark.parametrize("settings, fill", [
    (dict(attn_bits=12), None),
    (dict(attn_bits=12), 4),
    (dict(k_bits=8), None),
    (dict(v_bits=6, q_bits=16), 4),
    (dict(k_bits=6, v_bits=4, value_keep=0.3), None),
])
def test_static_quantization_in_generation_matches_the_reference(lm, tmp_path, settings, fill):
    """The KV cache holds fixed-point rows; each step writes the token's K
    and V rows to it quantized, then reads rows [0, p] at their widths
    (docs/Algorithms.md, "Generation", "Rows fetched per step"), over one
    K/V fill or fills of ``fill`` keys: tokens, logits and the Q, K and V
    bytes of every step are the NumPy reference's, and the stage reads
    fewer K+V bytes than dense. The logits differ by fp32 reduction order
    only (LOGITS_TOL)."""
    model, onnx = lm
    cfg = SpAttenConfig(**settings)
    hw = hw_file(tmp_path, {"max_keys_per_fill": fill}) if fill else None
    context = 32 if fill else None
    binary = compile_lm(onnx, tmp_path / "q.spbin", context=context, hw=hw, settings=cfg)
    layers = binary.manifest["kv_cache"]["layers"]
    assert all(any("bits" in layer[side] for side in "kv") for layer in layers)
    run = generate_on_sim(binary, tmp_path / "q")
    ref = R.generate(R.from_torch(model), PROMPT[0], N, cfg, hardware=binary.manifest["hardware"])
    np.testing.assert_array_equal(run.generated_ids, ref.tokens)
    assert float(np.abs(run.generation_logits - ref.logits).max()) <= LOGITS_TOL
    steps = run.report.stages.steps
    for cls in ("q", "k", "v"):
        assert [s.dram.read([cls]) for s in steps] == [r.totals()[f"{cls}_bytes"] for r in ref.steps[1:]], cls
    dense = compile_lm(onnx, tmp_path / "d.spbin", context=context, hw=hw)
    dense_steps = generate_on_sim(dense, tmp_path / "d").report.stages.steps
    assert all(q < d for q, d in zip(kv_read(steps), kv_read(dense_steps)))


@pytest.mark.parametrize("settings, refetches", [
    (dict(pq_msb=6, v_bits=6, q_bits=16, pq_threshold=0.05), False),  # the authors' setting
    (dict(pq_msb=6, pq_threshold=0.5), True),
    (dict(pq_msb=8, pq_values=True, pq_threshold=0.6), True),
    (dict(pq_msb=6, v_bits=6, q_bits=16, value_keep=0.5, pq_threshold=0.7), True),
    (dict(pq_msb=8, pq_values=True, value_keep=0.3, pq_threshold=0.6), True),
])
def test_progressive_quantization_in_generation_matches_the_reference(lm, tmp_path, settings, refetches):
    """The cache holds K (and with --pq-values V) as MSB and LSB planes;
    per head each step decides on MSB-only keys and fetches the LSB planes
    only when the query's largest probability is below the threshold
    (docs/Algorithms.md, "Generation"): tokens, logits and every step's
    MSB and LSB bytes are the NumPy reference's (so are its refetches),
    and the stage reads fewer K+V bytes than dense. With a threshold of
    0.05 this small model never refetches; higher ones do. With local
    value pruning the step fetches the V rows kept after the finish (with
    --pq-values their LSB planes too when the head refetched)."""
    model, onnx = lm
    cfg = SpAttenConfig(**settings)
    binary = compile_lm(onnx, tmp_path / "pq.spbin", settings=cfg)
    assert all("k_lsb" in layer for layer in binary.manifest["kv_cache"]["layers"])
    run = generate_on_sim(binary, tmp_path / "pq")
    ref = R.generate(R.from_torch(model), PROMPT[0], N, cfg, hardware=binary.manifest["hardware"])
    np.testing.assert_array_equal(run.generated_ids, ref.tokens)
    assert float(np.abs(run.generation_logits - ref.logits).max()) <= LOGITS_TOL
    steps, totals = run.report.stages.steps, [r.totals() for r in ref.steps[1:]]
    assert [s.dram.read(["q"]) for s in steps] == [t["q_bytes"] for t in totals]
    assert [s.dram.read(["k_msb"]) for s in steps] == [t["k_msb_bytes"] for t in totals]
    assert [s.dram.read(["k_lsb"]) for s in steps] == [t["k_lsb_bytes"] for t in totals]
    assert [s.dram.read(["v", "v_msb", "v_lsb"]) for s in steps] == [t["v_bytes"] for t in totals]
    assert any(t["k_lsb_rows"] for t in totals) == refetches
    dense = generate_on_sim(compile_lm(onnx, tmp_path / "d.spbin"), tmp_path / "d").report.stages.steps
    kv = [s.dram.read(["k", "v", "k_msb", "k_lsb", "v_msb", "v_lsb"]) for s in steps]
    assert all(q < d for q, d in zip(kv, kv_read(dense)))


@pytest.mark.parametrize("settings", [
    dict(pq_msb=6, pq_threshold=0.5),
    dict(pq_msb=6, v_bits=6, q_bits=16, pq_threshold=0.05),
    dict(value_keep=0.3),
    dict(k_bits=6, v_bits=4, value_keep=0.3),
    dict(pq_msb=8, pq_values=True, pq_threshold=0.6),
    dict(pq_msb=6, v_bits=6, q_bits=16, value_keep=0.5, pq_threshold=0.7),
    dict(pq_msb=8, pq_values=True, value_keep=0.3, pq_threshold=0.6),
])
def test_pruning_over_fills_in_generation_matches_the_reference(lm, tmp_path, settings):
    """Progressive quantization and local value pruning over fills of 4
    keys (docs/Algorithms.md, "Attention over several fills"): the 7-token
    prefill takes two fills, each decode step three or four. Each head
    decides on the statistics of every fill and keeps the largest
    probabilities of its whole row, so tokens, the refetches of every
    step's layers and the Q, V and LSB bytes are the NumPy reference's,
    logits within LOGITS_TOL; K MSB and LSB bytes count the passes over
    the fills (R.pq_query_tiles)."""
    model, onnx = lm
    cfg = SpAttenConfig(**settings)
    binary = compile_lm(onnx, tmp_path / "f.spbin", context=32, hw=hw_file(tmp_path, {"max_keys_per_fill": 4}),
                        settings=cfg)
    run = generate_on_sim(binary, tmp_path / "f")
    ref = R.generate(R.from_torch(model), PROMPT[0], N, cfg, hardware=binary.manifest["hardware"])
    np.testing.assert_array_equal(run.generated_ids, ref.tokens)
    assert float(np.abs(run.generation_logits - ref.logits).max()) <= LOGITS_TOL
    steps, totals = run.report.stages.steps, [r.totals() for r in ref.steps[1:]]
    for cls in ("q", "k_msb", "k_lsb") if cfg.pq_msb is not None else ("q", "k"):
        assert [s.dram.read([cls]) for s in steps] == [t[f"{cls}_bytes"] for t in totals], cls
    assert [s.dram.read(["v", "v_msb", "v_lsb"]) for s in steps] == [t["v_bytes"] for t in totals]
    if cfg.pq_msb is not None:
        refetches = [[len(r.refetched_rows) for r in step.layers] for step in ref.steps[1:]]
        assert [[layer.refetches for layer in s.layers] for s in steps] == refetches


def test_requantizing_a_dequantized_row_gives_its_codes_back():
    """The prefill writes its K and V rows to a fixed-point cache from the
    dequantized values in SRAM; a store re-quantizes them to the codes and
    scale the reference's ``quantize_rows`` gives the fp32 rows."""
    rng = np.random.default_rng(0)
    for bits in range(4, 17):
        x = (rng.standard_normal((20000, 8)) * 10.0 ** rng.uniform(-4, 3, (20000, 1))).astype(np.float32)
        q, s = R.quantize_rows(x, bits)
        q2, s2 = R.quantize_rows(R.dequantize(q, s), bits)
        np.testing.assert_array_equal(q2, q)
        np.testing.assert_array_equal(s2, s)


@pytest.mark.parametrize("widths", [{}, dict(k_bits=12, v_bits=12)])
def test_local_value_pruning_saves_generation_bytes_and_cycles(tmp_path, widths):
    """Option (a) in generation (docs/Simulator.md): with one query row,
    fetching only the kept V rows must save V bytes and cycles, here on
    GPT-2 heads of 64 at 480 + 8 tokens."""
    path = tmp_path / "lm.onnx"
    model = spexport.export("gpt2-lm", str(path), seq_len=8, layers=2, hidden=256, heads=4, max_positions=512)
    prompt = np.random.default_rng(0).integers(0, model.config.vocab, size=(1, 480), dtype=np.int64)
    stages = {}
    for name, cfg in (("dense", SpAttenConfig(**widths)), ("value", SpAttenConfig(value_keep=0.3, **widths))):
        binary = tools.compile(path, tmp_path / f"{name}.spbin", settings=cfg, shapes={"batch": 1, "sequence": 480},
                               extra=["--max-context"])
        run = tools.simulate(binary, {"input_ids": prompt}, tmp_path / name, generate=8)
        stages[name] = run.report.stages.generation
    assert stages["value"].dram.read(["v"]) < 0.5 * stages["dense"].dram.read(["v"])
    assert stages["value"].cycles < stages["dense"].cycles
