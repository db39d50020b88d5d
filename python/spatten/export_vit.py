"""The ViT family for ``spatten.export``: Hugging Face's ``ViTModel`` in plain
torch (no transformers dependency), written so that ``torch.onnx.export``
produces the node patterns a user's HF export does:

* ``embeddings.patch_embeddings.projection`` = ``Conv2d(channels, hidden,
  kernel=patch, stride=patch)`` on ``pixel_values [batch, channels, H, W]``,
  then ``flatten(2).transpose(1, 2)`` to ``[batch, patches, hidden]``
  (patches in row-major order of the patch grid);
* the learned ``cls_token [1, 1, hidden]`` expanded over the batch and
  prepended (Concat on axis 1), then the learned ``position_embeddings
  [1, patches + 1, hidden]`` added;
* pre-LN encoder layers: ``layernorm_before``, BERT's self-attention (no
  mask), the output projection and residual, ``layernorm_after``, the GELU
  (erf) MLP and residual; a final ``layernorm`` (eps 1e-12 throughout).

Output ``last_hidden_state`` [batch, patches + 1, hidden]; only the batch is
dynamic (the image size fixes the sequence).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from .export import ModelConfig


class ViTPatchEmbeddings(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.projection = nn.Conv2d(c.channels, c.hidden, kernel_size=c.patch_size, stride=c.patch_size)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.projection(pixel_values).flatten(2).transpose(1, 2)


class ViTEmbeddings(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.hidden))
        self.patch_embeddings = ViTPatchEmbeddings(c)
        self.position_embeddings = nn.Parameter(torch.zeros(1, c.patches + 1, c.hidden))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.patch_embeddings(pixel_values)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        return torch.cat((cls, x), dim=1) + self.position_embeddings


class ViTSelfAttention(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.heads, self.head_dim = c.heads, c.hidden // c.heads
        self.query = nn.Linear(c.hidden, c.hidden)
        self.key = nn.Linear(c.hidden, c.hidden)
        self.value = nn.Linear(c.hidden, c.hidden)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, l, _ = x.shape
        return x.view(b, l, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (self.split_heads(p(x)) for p in (self.query, self.key, self.value))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
        b, _, l, _ = ctx.shape
        return ctx.permute(0, 2, 1, 3).contiguous().view(b, l, self.heads * self.head_dim)


class ViTLayer(nn.Module):
    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.layernorm_before = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.attention = ViTSelfAttention(c)
        self.attention_output = nn.Linear(c.hidden, c.hidden)
        self.layernorm_after = nn.LayerNorm(c.hidden, eps=c.ln_eps)
        self.intermediate = nn.Linear(c.hidden, c.intermediate)
        self.output = nn.Linear(c.intermediate, c.hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention_output(self.attention(self.layernorm_before(x)))
        return x + self.output(nn.functional.gelu(self.intermediate(self.layernorm_after(x))))


class ViTModel(nn.Module):
    """Input float32 pixel_values [batch, channels, image_size, image_size];
    output last_hidden_state [batch, patches + 1, hidden] (row 0: the CLS
    token)."""

    def __init__(self, c: "ModelConfig"):
        super().__init__()
        self.config = c
        self.embeddings = ViTEmbeddings(c)
        self.layers = nn.ModuleList(ViTLayer(c) for _ in range(c.layers))
        self.layernorm = nn.LayerNorm(c.hidden, eps=c.ln_eps)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(pixel_values)
        for layer in self.layers:
            x = layer(x)
        return self.layernorm(x)
