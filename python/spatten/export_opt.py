"""The OPT family for ``spatten.export``: Hugging Face's ``OPTForCausalLM``
(Zhang et al. 2022, the 125M-style configuration with
``do_layer_norm_before``) in plain torch, written so that
``torch.onnx.export`` produces the node patterns a user's HF export does:

* ``embed_tokens``, and ``embed_positions`` (``OPTLearnedPositionalEmbedding``)
  whose positions are counted from ``attention_mask``:
  ``cumsum(mask, 1) * mask - 1``, read at row ``p + 2`` (OPT's offset), so a
  padded position reads row 1 and the tokens rows 2, 3, ... in order;
* pre-LN decoder layers: ``self_attn_layer_norm``, ``self_attn`` (OPTAttention,
  BART's: Q scaled by ``head_dim ** -0.5`` after ``q_proj``, heads as
  ``[B*H, L, D]`` 3-D ``bmm``) under the causal mask with the padding
  filled in (transformers >= 4.36), residual; ``final_layer_norm``, ReLU FFN
  ``fc1``/``fc2``, residual;
* a final LayerNorm and ``lm_head`` tied to ``embed_tokens``.

Inputs are int64 ``input_ids`` and ``attention_mask`` ``[batch, sequence]``;
the output is ``logits [batch, sequence, vocab]``. No KV cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from .export_encdec import BartEncoderLayer
from .export_llama import causal_mask_4d

if TYPE_CHECKING:  # pragma: no cover
    from .export import ModelConfig

#: OPTLearnedPositionalEmbedding's offset: position p reads row p + 2.
POSITION_OFFSET = 2


class OPTLearnedPositionalEmbedding(nn.Embedding):
    """Rows for the positions counted from the 0/1 attention_mask."""

    def __init__(self, positions: int, hidden: int):
        super().__init__(positions + POSITION_OFFSET, hidden)

    def forward(self, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.long()
        positions = (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() - 1
        return super().forward(positions + POSITION_OFFSET)


class OPTDecoderLayer(BartEncoderLayer):
    """BART's layer modules, used pre-LN with a ReLU FFN."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.self_attn_layer_norm(x)
        x = x + self.self_attn(h, h, mask)
        return x + self.fc2(nn.functional.relu(self.fc1(self.final_layer_norm(x))))


class OPTForCausalLM(nn.Module):
    """Inputs int64 input_ids and attention_mask [batch, sequence]; output
    logits [batch, sequence, vocab]."""

    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.config = c
        self.embed_tokens = nn.Embedding(c.vocab, c.hidden)
        self.embed_positions = OPTLearnedPositionalEmbedding(c.max_positions, c.hidden)
        self.layers = nn.ModuleList(OPTDecoderLayer(c) for _ in range(c.layers))
        self.final_layer_norm = nn.LayerNorm(c.hidden, eps=c.ln_eps)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = causal_mask_4d(attention_mask, input_ids.shape[1])
        x = self.embed_tokens(input_ids) + self.embed_positions(attention_mask)
        for layer in self.layers:
            x = layer(x, mask)
        return torch.matmul(self.final_layer_norm(x), self.embed_tokens.weight.t())
