"""Numerical tests of the spatten -> spatten_isa lowering and the simulator.

Each case is a small spatten-dialect function written by hand. It goes
through ``spatten-opt --convert-spatten-to-isa`` (with the paper's buffers
and with tiny buffers that force every tiling loop), ``spatten-translate
--export-binary`` and ``spatten-sim``; the outputs are compared with NumPy
formulas of each op's definition (the op descriptions in SpAttenOps.td).

Tolerance: 1e-5 absolute. Every op computes in fp32; the NumPy side is in
float64, so the bound covers fp32 rounding of sums over at most 16 terms.
"""

from __future__ import annotations

import json
from math import erf, sqrt
from pathlib import Path

import numpy as np
import pytest

from spatten import tools

TOL = 1e-5
HW_CONFIGS = {
    "paper": "spatten",
    # 64-element act/acc/q buffers and a 64-element weight buffer: every
    # loop of the lowering runs more than once on these shapes.
    "tiny-buffers": {"preset": "spatten", "name": "tiny-buffers",
                     "act_buffer_bytes": 256, "acc_buffer_bytes": 256,
                     "wgt_buffer_bytes": 256, "q_buffer_bytes": 64},
}


def run(tmp_path: Path, mlir: str, inputs: dict, hw) -> dict:
    src = tmp_path / "f.mlir"
    src.write_text(mlir)
    if isinstance(hw, dict):
        cfg = tmp_path / "hw.json"
        cfg.write_text(json.dumps(hw))
        hw = str(cfg)
    isa = tmp_path / "f.isa.mlir"
    tools.run_tool("spatten-opt", [src, f"--convert-spatten-to-isa=hw={hw}", "-o", isa])
    binary = tmp_path / "f.spbin"
    tools.run_tool("spatten-translate", ["--export-binary", isa, "-o", binary])
    named = {f"input_{i}": value for i, value in enumerate(inputs.values())}
    return tools.simulate(binary, named, tmp_path / "out", report=False).outputs


def ty(a: np.ndarray) -> str:
    dims = "x".join(str(d) for d in a.shape)
    elem = "f32" if a.dtype == np.float32 else "i64"
    return f"tensor<{dims}x{elem}>" if dims else f"tensor<{elem}>"


def const(name: str, a: np.ndarray) -> str:
    values = ", ".join(repr(float(v)) for v in a.reshape(-1))
    return f"%{name} = arith.constant dense<[{values}]> : tensor<{a.size}xf32>\n" \
           f"  %{name}_r = spatten.reshape %{name} : (tensor<{a.size}xf32>) -> {ty(a)}"


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def attention(q, k, v, heads, scale, bias=None, causal_past=None):
    B, L, HD = q.shape
    D = HD // heads
    out = np.zeros_like(q, dtype=np.float64)
    for b in range(B):
        for h in range(heads):
            qs = q[b, :, h * D:(h + 1) * D].astype(np.float64)
            ks = k[b, :, h * D:(h + 1) * D].astype(np.float64)
            vs = v[b, :, h * D:(h + 1) * D].astype(np.float64)
            s = scale * qs @ ks.T
            if bias is not None:
                s = s + bias[b][None, :]
            if causal_past is not None:
                i = np.arange(L)[:, None]
                j = np.arange(ks.shape[0])[None, :]
                s = np.where(j > i + causal_past, -np.inf, s)
            out[b, :, h * D:(h + 1) * D] = softmax(s) @ vs
    return out


rng = np.random.default_rng(7)


def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture(params=list(HW_CONFIGS))
def hw(request):
    return HW_CONFIGS[request.param]


def test_linear_layer_norm_gelu(tmp_path, hw):
    x, w, b = rand(2, 3, 10), rand(10, 12), rand(12)
    g, beta = rand(12), rand(12)
    mlir = f"""
func.func @main(%x: {ty(x)}) -> (tensor<2x3x12xf32>, tensor<2x3x12xf32>) {{
  {const('w', w)}
  {const('b', b)}
  {const('g', g)}
  {const('beta', beta)}
  %y = spatten.linear %x, %w_r, %b_r : ({ty(x)}, {ty(w)}, {ty(b)}) -> tensor<2x3x12xf32>
  %n = spatten.layer_norm %y, %g_r, %beta_r {{epsilon = 1.0e-5 : f32}} : (tensor<2x3x12xf32>, {ty(g)}, {ty(beta)}) -> tensor<2x3x12xf32>
  %a = spatten.gelu %n <erf> : tensor<2x3x12xf32>
  %t = spatten.gelu %n <tanh> : tensor<2x3x12xf32>
  return %a, %t : tensor<2x3x12xf32>, tensor<2x3x12xf32>
}}"""
    out = run(tmp_path, mlir, {"x": x}, hw)
    y = x.astype(np.float64) @ w + b
    n = (y - y.mean(-1, keepdims=True)) / np.sqrt(y.var(-1, keepdims=True) + 1e-5) * g + beta
    gelu_erf = 0.5 * n * (1 + np.vectorize(erf)(n / sqrt(2)))
    gelu_tanh = 0.5 * n * (1 + np.tanh(sqrt(2 / np.pi) * (n + 0.044715 * n ** 3)))
    np.testing.assert_allclose(out["output_0"], gelu_erf, atol=TOL)
    np.testing.assert_allclose(out["output_1"], gelu_tanh, atol=TOL)


def test_rms_norm_silu_log_softmax_reduce(tmp_path, hw):
    # 20 rows of 12: more rows than one slot of the tiny buffers holds.
    x, g = rand(4, 5, 12), rand(12)
    mlir = f"""
func.func @main(%x: {ty(x)}) -> (tensor<4x5x12xf32>, tensor<4x5x12xf32>, tensor<4x5x12xf32>, tensor<4x5x1xf32>, tensor<4x5x1xf32>, tensor<4x5x1xf32>) {{
  {const('g', g)}
  %r = spatten.rms_norm %x, %g_r {{epsilon = 1.0e-5 : f32}} : ({ty(x)}, {ty(g)}) -> tensor<4x5x12xf32>
  %o = spatten.rms_norm %x, %g_r {{epsilon = 1.0e-2 : f32, epsilon_outside_sqrt}} : ({ty(x)}, {ty(g)}) -> tensor<4x5x12xf32>
  %s = spatten.unary <silu> %r : tensor<4x5x12xf32>
  %l = spatten.log_softmax %s : tensor<4x5x12xf32>
  %a = spatten.reduce <sum> %x : ({ty(x)}) -> tensor<4x5x1xf32>
  %m = spatten.reduce <mean> %x : ({ty(x)}) -> tensor<4x5x1xf32>
  %M = spatten.reduce <max> %x : ({ty(x)}) -> tensor<4x5x1xf32>
  return %o, %s, %l, %a, %m, %M : tensor<4x5x12xf32>, tensor<4x5x12xf32>, tensor<4x5x12xf32>, tensor<4x5x1xf32>, tensor<4x5x1xf32>, tensor<4x5x1xf32>
}}"""
    out = run(tmp_path, mlir, {"x": x}, hw)
    xd = x.astype(np.float64)
    ms = (xd * xd).mean(-1, keepdims=True)
    r = xd / np.sqrt(ms + 1e-5) * g
    silu = r / (1 + np.exp(-r))
    e = silu - silu.max(-1, keepdims=True)
    want = [xd / (np.sqrt(ms) + 1e-2) * g, silu, e - np.log(np.exp(e).sum(-1, keepdims=True)),
            xd.sum(-1, keepdims=True), xd.mean(-1, keepdims=True), xd.max(-1, keepdims=True)]
    for i, w in enumerate(want):
        np.testing.assert_allclose(out[f"output_{i}"], w, atol=TOL, err_msg=f"output_{i}")


def test_linear_transposed_weight(tmp_path, hw):
    x, w = rand(5, 9), rand(7, 9)
    mlir = f"""
func.func @main(%x: {ty(x)}) -> tensor<5x7xf32> {{
  {const('w', w)}
  %y = spatten.linear %x, %w_r {{transpose_weight}} : ({ty(x)}, {ty(w)}) -> tensor<5x7xf32>
  return %y : tensor<5x7xf32>
}}"""
    out = run(tmp_path, mlir, {"x": x}, hw)
    np.testing.assert_allclose(out["output_0"], x.astype(np.float64) @ w.T, atol=TOL)


def test_attention_padding_and_causal(tmp_path, hw):
    q, k, v = rand(2, 5, 8), rand(2, 5, 8), rand(2, 5, 8)
    mask = np.array([[0, 0, 0, -10000, -10000], [0, 0, 0, 0, 0]], np.float32)
    mlir = f"""
func.func @main(%q: {ty(q)}, %k: {ty(k)}, %v: {ty(v)}, %m: {ty(mask)}) -> ({ty(q)}, {ty(q)}) {{
  %p = spatten.attention %q, %k, %v mask(%m) {{num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<padding>}} : ({ty(q)}, {ty(k)}, {ty(v)}, {ty(mask)}) -> {ty(q)}
  %c = spatten.attention %q, %k, %v {{num_heads = 4 : i64, scale = 0.7 : f32, mask_kind = #spatten.mask_kind<causal>}} : ({ty(q)}, {ty(k)}, {ty(v)}) -> {ty(q)}
  return %p, %c : {ty(q)}, {ty(q)}
}}"""
    out = run(tmp_path, mlir, {"q": q, "k": k, "v": v, "m": mask}, hw)
    np.testing.assert_allclose(out["output_0"], attention(q, k, v, 2, 0.5, bias=mask), atol=TOL)
    np.testing.assert_allclose(out["output_1"], attention(q, k, v, 4, 0.7, causal_past=0), atol=TOL)


def test_attention_kv_cache(tmp_path, hw):
    q, pk, pv = rand(1, 2, 8), rand(1, 2, 3, 4), rand(1, 2, 3, 4)
    mlir = f"""
func.func @main(%q: {ty(q)}, %pk: {ty(pk)}, %pv: {ty(pv)}) -> ({ty(q)}, tensor<1x2x5x4xf32>, tensor<1x2x5x4xf32>) {{
  %o, %present:2 = spatten.attention %q, %q, %q past(%pk, %pv) {{num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<causal>, operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 1>}} : ({ty(q)}, {ty(q)}, {ty(q)}, {ty(pk)}, {ty(pv)}) -> ({ty(q)}, tensor<1x2x5x4xf32>, tensor<1x2x5x4xf32>)
  return %o, %present#0, %present#1 : {ty(q)}, tensor<1x2x5x4xf32>, tensor<1x2x5x4xf32>
}}"""
    out = run(tmp_path, mlir, {"q": q, "pk": pk, "pv": pv}, hw)
    new = q.reshape(1, 2, 2, 4).transpose(0, 2, 1, 3)  # [B, H, L, D]
    present_k = np.concatenate([pk, new], axis=2)
    present_v = np.concatenate([pv, new], axis=2)
    k_full = present_k.transpose(0, 2, 1, 3).reshape(1, 5, 8)
    v_full = present_v.transpose(0, 2, 1, 3).reshape(1, 5, 8)
    expected = np.zeros((1, 2, 8))
    for h in range(2):
        s = 0.5 * q[0, :, h * 4:(h + 1) * 4] @ k_full[0, :, h * 4:(h + 1) * 4].T
        s = np.where(np.arange(5)[None, :] > np.arange(2)[:, None] + 3, -np.inf, s)
        expected[0, :, h * 4:(h + 1) * 4] = softmax(s) @ v_full[0, :, h * 4:(h + 1) * 4]
    np.testing.assert_allclose(out["output_0"], expected, atol=TOL)
    np.testing.assert_allclose(out["output_1"], present_k, atol=0)
    np.testing.assert_allclose(out["output_2"], present_v, atol=0)


def test_broadcasting_binary_ops(tmp_path, hw):
    x, row, col, batch = rand(3, 4, 6), rand(6), rand(3, 4, 1), rand(1, 4, 6)
    mlir = f"""
func.func @main(%x: {ty(x)}, %row: {ty(row)}, %col: {ty(col)}, %batch: {ty(batch)}) -> ({ty(x)}, {ty(x)}, {ty(x)}, {ty(x)}) {{
  %one = arith.constant dense<1.0> : tensor<f32>
  %a = spatten.binary <add> %x, %row : ({ty(x)}, {ty(row)}) -> {ty(x)}
  %b = spatten.binary <div> %col, %x : ({ty(col)}, {ty(x)}) -> {ty(x)}
  %c = spatten.binary <sub> %one, %x : (tensor<f32>, {ty(x)}) -> {ty(x)}
  %d = spatten.binary <max> %batch, %x : ({ty(batch)}, {ty(x)}) -> {ty(x)}
  return %a, %b, %c, %d : {ty(x)}, {ty(x)}, {ty(x)}, {ty(x)}
}}"""
    out = run(tmp_path, mlir, {"x": x, "row": row, "col": col, "batch": batch}, hw)
    np.testing.assert_allclose(out["output_0"], x + row, atol=TOL)
    np.testing.assert_allclose(out["output_1"], col / x, rtol=1e-6, atol=TOL)
    np.testing.assert_allclose(out["output_2"], 1 - x, atol=TOL)
    np.testing.assert_allclose(out["output_3"], np.maximum(batch, x), atol=TOL)


def test_embedding_and_data_movement(tmp_path, hw):
    ids = np.array([[3, 0, 7, 3]], np.int64)
    table = rand(8, 5)
    x = rand(2, 3, 4)
    mlir = f"""
func.func @main(%ids: {ty(ids)}, %x: {ty(x)}) -> (tensor<1x4x5xf32>, tensor<4x2x3xf32>, tensor<2x3x8xf32>, tensor<2x1x2xf32>, tensor<1x4xf32>, tensor<2x3x4xf32>) {{
  {const('t', table)}
  %e = spatten.embedding %ids, %t_r : ({ty(ids)}, {ty(table)}) -> tensor<1x4x5xf32>
  %tr = spatten.transpose %x [2, 0, 1] : ({ty(x)}) -> tensor<4x2x3xf32>
  %c = spatten.concat %x, %x {{axis = 2 : i64}} : ({ty(x)}, {ty(x)}) -> tensor<2x3x8xf32>
  %s = spatten.slice %x [0, 1, 1] [1, 2, 2] : ({ty(x)}) -> tensor<2x1x2xf32>
  %f = spatten.cast %ids : ({ty(ids)}) -> tensor<1x4xf32>
  %sm = spatten.softmax %x : {ty(x)}
  return %e, %tr, %c, %s, %f, %sm : tensor<1x4x5xf32>, tensor<4x2x3xf32>, tensor<2x3x8xf32>, tensor<2x1x2xf32>, tensor<1x4xf32>, tensor<2x3x4xf32>
}}"""
    out = run(tmp_path, mlir, {"ids": ids, "x": x}, hw)
    np.testing.assert_array_equal(out["output_0"], table[ids])
    np.testing.assert_array_equal(out["output_1"], x.transpose(2, 0, 1))
    np.testing.assert_array_equal(out["output_2"], np.concatenate([x, x], axis=2))
    np.testing.assert_array_equal(out["output_3"], x[:, 1:2, 1::2])
    np.testing.assert_array_equal(out["output_4"], ids.astype(np.float32))
    np.testing.assert_allclose(out["output_5"], softmax(x.astype(np.float64)), atol=TOL)


def test_attention_per_query_masks(tmp_path, hw):
    q, k = rand(1, 3, 4), rand(1, 4, 4)
    bias = rand(1, 3, 4)
    sel = np.array([[[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 1, 1]]], np.float32)
    mlir = f"""
func.func @main(%q: {ty(q)}, %k: {ty(k)}, %b: {ty(bias)}, %m: {ty(sel)}) -> ({ty(q)}, {ty(q)}) {{
  %a = spatten.attention %q, %k, %k mask(%b) {{num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<padding>}} : ({ty(q)}, {ty(k)}, {ty(k)}, {ty(bias)}) -> {ty(q)}
  %s = spatten.attention %q, %k, %k mask(%m) {{num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<padding>, mask_fill = -10000.0 : f32}} : ({ty(q)}, {ty(k)}, {ty(k)}, {ty(sel)}) -> {ty(q)}
  return %a, %s : {ty(q)}, {ty(q)}
}}"""
    out = run(tmp_path, mlir, {"q": q, "k": k, "b": bias, "m": sel}, hw)

    def reference(modify):
        o = np.zeros((1, 3, 4))
        for h in range(2):
            qs, ks = q[0, :, 2 * h:2 * h + 2].astype(np.float64), k[0, :, 2 * h:2 * h + 2]
            o[0, :, 2 * h:2 * h + 2] = softmax(modify(0.5 * qs @ ks.T)) @ ks
        return o

    np.testing.assert_allclose(out["output_0"], reference(lambda s: s + bias[0]), atol=TOL)
    np.testing.assert_allclose(out["output_1"],
                               reference(lambda s: s * sel[0] - 10000 * (1 - sel[0])), atol=TOL)


def test_prune_tokens_and_heads(tmp_path, hw):
    x, m = rand(1, 5, 6), rand(1, 4, 4)
    pos = np.arange(5, dtype=np.int64)[None, :] * 10
    idx = np.array([[0, 2, 3]], np.int64)
    idx4 = np.array([[1, 3]], np.int64)
    act, w, wt = rand(1, 3, 8), rand(8, 5), rand(5, 8)
    heads = np.array([0, 3], np.int64)
    mlir = f"""
func.func @main(%x: {ty(x)}, %i: {ty(idx)}, %pos: {ty(pos)}, %m: {ty(m)}, %i4: {ty(idx4)},
                %a: {ty(act)}, %w: {ty(w)}, %wt: {ty(wt)}, %h: {ty(heads)})
    -> (tensor<1x3x6xf32>, tensor<1x3xi64>, tensor<1x2x2xf32>, tensor<1x3x4xf32>, tensor<4x5xf32>, tensor<5x4xf32>) {{
  %xp = spatten.prune_tokens %x, %i : {ty(x)}, {ty(idx)} -> tensor<1x3x6xf32>
  %pp = spatten.prune_tokens %pos, %i : {ty(pos)}, {ty(idx)} -> tensor<1x3xi64>
  %m1 = spatten.prune_tokens %m, %i4 {{axis = 1 : i64}} : {ty(m)}, {ty(idx4)} -> tensor<1x2x4xf32>
  %m2 = spatten.prune_tokens %m1, %i4 {{axis = 2 : i64}} : tensor<1x2x4xf32>, {ty(idx4)} -> tensor<1x2x2xf32>
  %ap = spatten.prune_heads %a, %h {{num_heads = 4 : i64, axis = 2 : i64}} : {ty(act)}, {ty(heads)} -> tensor<1x3x4xf32>
  %wp = spatten.prune_heads %w, %h {{num_heads = 4 : i64, axis = 0 : i64}} : {ty(w)}, {ty(heads)} -> tensor<4x5xf32>
  %wtp = spatten.prune_heads %wt, %h {{num_heads = 4 : i64, axis = 1 : i64}} : {ty(wt)}, {ty(heads)} -> tensor<5x4xf32>
  return %xp, %pp, %m2, %ap, %wp, %wtp : tensor<1x3x6xf32>, tensor<1x3xi64>, tensor<1x2x2xf32>, tensor<1x3x4xf32>, tensor<4x5xf32>, tensor<5x4xf32>
}}"""
    out = run(tmp_path, mlir, {"x": x, "i": idx, "pos": pos, "m": m, "i4": idx4,
                               "a": act, "w": w, "wt": wt, "h": heads}, hw)
    cols = np.concatenate([np.arange(2 * h, 2 * h + 2) for h in heads])
    np.testing.assert_array_equal(out["output_0"], x[:, idx[0]])
    np.testing.assert_array_equal(out["output_1"], pos[:, idx[0]])
    np.testing.assert_array_equal(out["output_2"], m[:, idx4[0]][:, :, idx4[0]])
    np.testing.assert_array_equal(out["output_3"], act[:, :, cols])
    np.testing.assert_array_equal(out["output_4"], w[cols])
    np.testing.assert_array_equal(out["output_5"], wt[:, cols])


def test_decomposed_attention_with_token_importance(tmp_path, hw):
    q, k, v = rand(1, 5, 8), rand(1, 5, 8), rand(1, 5, 8)
    mask = np.array([[0, 0, 0, 0, -10000]], np.float32)
    imp = rand(1, 5)
    mlir = f"""
func.func @main(%q: {ty(q)}, %k: {ty(k)}, %v: {ty(v)}, %m: {ty(mask)}, %s: {ty(imp)}) -> ({ty(q)}, {ty(imp)}) {{
  %p = spatten.attention_probs %q, %k mask(%m : {ty(mask)}) {{num_heads = 2 : i64, scale = 0.5 : f32, mask_kind = #spatten.mask_kind<padding>}} : {ty(q)}, {ty(k)} -> tensor<1x2x5x5xf32>
  %s1 = spatten.token_importance %p, %s : tensor<1x2x5x5xf32>, {ty(imp)} -> {ty(imp)}
  %o = spatten.attention_output %p, %v : tensor<1x2x5x5xf32>, {ty(v)} -> {ty(q)}
  return %o, %s1 : {ty(q)}, {ty(imp)}
}}"""
    out = run(tmp_path, mlir, {"q": q, "k": k, "v": v, "m": mask, "s": imp}, hw)
    np.testing.assert_allclose(out["output_0"], attention(q, k, v, 2, 0.5, bias=mask), atol=TOL)
    probs = np.zeros((2, 5, 5))
    for h in range(2):
        s = 0.5 * q[0, :, 4 * h:4 * h + 4].astype(np.float64) @ k[0, :, 4 * h:4 * h + 4].T
        probs[h] = softmax(s + mask[0])
    # docs/Algorithms.md: s[j] += sum over heads and query rows of P[h, i, j].
    np.testing.assert_allclose(out["output_1"], imp + probs.sum(axis=(0, 1))[None, :], atol=TOL)
