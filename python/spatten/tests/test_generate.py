"""PyTorch greedy generation with a KV cache (spatten.generate): the cache
gives what re-running the whole sequence gives, and the timing helper."""

import numpy as np
import pytest
import torch

from spatten import export as spexport
from spatten import generate

#: PyTorch with a cache vs. PyTorch on the whole sequence: only the order of
#: fp32 reductions differs (one query row instead of L).
CACHE_VS_FULL = 1e-5


@pytest.fixture(scope="module")
def lm():
    # init std 0.3: the argmax margins (> 0.05) dwarf fp32 rounding.
    return spexport.build_model(spexport.tiny_config("gpt2", lm_head=True, layers=3, init_std=0.3))


PROMPT = [5, 17, 42, 3, 88, 61, 9]


def test_greedy_equals_rerunning_the_whole_sequence(lm):
    ids, logits = generate.greedy(lm, PROMPT, 6)
    assert ids.shape == (1, 6) and ids.dtype == np.int64
    assert logits.shape == (6, lm.config.vocab) and logits.dtype == np.float32
    assert len(set(ids[0].tolist())) > 1  # the model does not repeat one token
    seq = list(PROMPT)
    for t in range(6):
        with torch.no_grad():
            full = lm(torch.tensor([seq]))[0, -1].numpy()
        err = float(np.abs(full - logits[t]).max())
        assert err <= CACHE_VS_FULL, f"step {t}: max abs error {err}"
        assert ids[0, t] == int(np.argmax(full))
        seq.append(int(ids[0, t]))


def test_greedy_accepts_a_batch_of_one_and_the_past_model(lm):
    past_model = spexport.build_model(spexport.tiny_config("gpt2", lm_head=True, past=True, layers=3,
                                                           init_std=0.3))
    a = generate.greedy(lm, np.asarray([PROMPT]), 4)
    b = generate.greedy(past_model, PROMPT, 4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("prompt,n,message", [([], 2, "prompt is empty"), ([1, 2], 0, "at least one token"),
                                              ([1, 99], 2, r"prompt ids must be in \[0, 99\)"),
                                              ([1] * 60, 6, "exceeds max_positions 64")])
def test_greedy_refuses_bad_input(lm, prompt, n, message):
    with pytest.raises(ValueError, match=message):
        generate.greedy(lm, prompt, n)


def test_greedy_fills_every_position(lm):
    """A prompt of 60 and 5 tokens feeds positions up to 63, the last one."""
    ids, _ = generate.greedy(lm, [1] * 60, 5)
    assert ids.shape == (1, 5)


def test_time_greedy(lm):
    t = generate.time_greedy(lm, PROMPT, 4, repeats=2, warmup=0)
    assert t.tokens == 4 and t.prefill_s > 0 and t.decode_s > 0
    assert t.total_s == pytest.approx(t.prefill_s + t.decode_s)
    assert t.decode_per_token_s == pytest.approx(t.decode_s / 3)
    with pytest.raises(ValueError, match="repeats=0"):
        generate.time_greedy(lm, PROMPT, 4, repeats=0)
