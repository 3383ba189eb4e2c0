"""Small models for trainer tests: BatchNorm, dropout and auxiliary heads."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from cnn_jax.models import layers


class TinyBNNet(nn.Module):
  """conv-BN-ReLU x2, dropout, dense; optionally an auxiliary head."""

  num_classes: int = 10
  aux_head: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = layers.ConvBNAct(8, 3, dtype=self.dtype)(x, train)
    x = layers.ConvBNAct(16, 3, strides=2, dtype=self.dtype)(x, train)
    pooled = layers.global_avg_pool(x)
    logits = nn.Dense(self.num_classes, dtype=self.dtype)(
      nn.Dropout(0.2, deterministic=not train)(pooled)
    )
    if self.aux_head and train:
      return logits, [nn.Dense(self.num_classes, dtype=self.dtype)(pooled)]
    return logits
