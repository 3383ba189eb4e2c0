"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning
applied to document recognition", Proc. IEEE 86(11)).

One module, two registered forms:

``lenet5`` -- the modern form (as in most tutorials): conv5x5-6, average pool,
conv5x5-16, average pool, conv5x5-120, dense 84, dense classes, tanh; every C3
map sees all six S2 maps. 61,706 parameters for 10 classes.

``lenet5_1998`` -- the network as the paper describes it (Section II.B):
  * squashing function ``f(a) = 1.7159 tanh(2a/3)`` (Appendix A) applied to the
    weighted sum of every unit "in layers up to F6" (C1, S2, C3, S4, C5, F6);
  * trainable subsampling S2/S4: the four inputs of a unit are added,
    multiplied by one trainable coefficient per map and added to one trainable
    bias per map, then squashed;
  * C3 connects each of its 16 maps to a subset of the 6 S2 maps (Table I):
    maps 0-5 see 3 contiguous maps, 6-11 see 4 contiguous maps, 12-14 see 4
    non-contiguous maps, 15 sees all 6;
  * an RBF output layer: ``y_i = sum_j (x_j - w_ij)^2`` with one 84-dimensional
    prototype per class. We return ``-y`` as logits so softmax cross-entropy
    trains it (the paper uses a related MAP criterion). The paper fixes the
    prototypes to hand-drawn +-1 bitmaps; we initialise them to random +-1
    codes and make them trainable by default (``rbf_trainable=False`` freezes
    them with ``stop_gradient``; they still count as parameters).
  Parameters (10 classes): C1 156 + S2 12 + C3 1,516 + S4 32 + C5 48,120 +
  F6 10,164 + RBF 840 = 60,840.

28x28 inputs (MNIST, Fashion-MNIST) are zero-padded to 32x32 as in the paper,
so C5 sees a 5x5 map and is effectively fully connected.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.models import layers
from cnn_jax.models.registry import register

# LeCun et al. 1998, Table I: the S2 maps (rows 0-5) each C3 map (0-15) sees.
C3_TABLE: tuple[tuple[int, ...], ...] = (
  (0, 1, 2),
  (1, 2, 3),
  (2, 3, 4),
  (3, 4, 5),
  (4, 5, 0),
  (5, 0, 1),
  (0, 1, 2, 3),
  (1, 2, 3, 4),
  (2, 3, 4, 5),
  (3, 4, 5, 0),
  (4, 5, 0, 1),
  (5, 0, 1, 2),
  (0, 1, 3, 4),
  (1, 2, 4, 5),
  (0, 2, 3, 5),
  (0, 1, 2, 3, 4, 5),
)


def lecun_tanh(x):
  """The paper's squashing function ``1.7159 tanh(2x / 3)`` (Appendix A)."""
  return 1.7159 * jnp.tanh(x * (2.0 / 3.0))


_ACTIVATIONS = {'lecun_tanh': lecun_tanh}


def _get_activation(name):
  return _ACTIVATIONS.get(name) or layers.get_activation(name)


class TrainableSubsampling(nn.Module):
  """S2/S4: 2x2 sum * per-map coefficient + per-map bias (no squashing)."""

  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    coef = self.param('coef', nn.initializers.ones, (channels,), jnp.float32)
    bias = self.param('bias', nn.initializers.zeros, (channels,), jnp.float32)
    x = layers.avg_pool(x, 2, 2) * 4.0  # Sum of the four inputs.
    return x * coef.astype(self.dtype) + bias.astype(self.dtype)


class PartialConv(nn.Module):
  """A conv whose output map ``i`` sees only the input maps ``table[i]``.

  The weights are stored per fan-in, as the kernel of a grouped conv over the
  gathered input maps (``fan_in_3_kernel``: (k, k, 3, 6), ``fan_in_4_kernel``:
  (k, k, 4, 9), ``fan_in_6_kernel``: (k, k, 6, 1) for C3, and biases), so they
  hold exactly the connections of the table: 1,516 parameters for C3. They are
  placed into a dense kernel with zeros elsewhere and applied as one ordinary
  conv (XLA:CPU runs the grouped conv over gathered maps ~70x slower).
  """

  table: Sequence[Sequence[int]]
  kernel_size: int = 5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    k = (self.kernel_size,) * 2
    n_in, n_out = x.shape[-1], len(self.table)
    init = nn.initializers.lecun_normal()
    kernels, biases, links, order = [], [], [], []
    for fan_in in sorted({len(inputs) for inputs in self.table}):
      maps = [i for i, inputs in enumerate(self.table) if len(inputs) == fan_in]
      kernel = self.param(
        f'fan_in_{fan_in}_kernel', init, k + (fan_in, len(maps))
      )
      kernels.append(kernel.reshape(k + (-1,)))
      biases.append(
        self.param(f'fan_in_{fan_in}_bias', nn.initializers.zeros, (len(maps),))
      )
      # Kernel entry (j, m) links input map table[maps[m]][j] to maps[m].
      links += [(self.table[i][j], i) for j in range(fan_in) for i in maps]
      order += maps
    # Constant 0/1 matrices place the weights in a dense (k, k, in, out)
    # kernel (zeros off the table) and the biases in map order; HIGHEST
    # precision so no accelerator rounds the weights while copying them.
    place = np.zeros((len(links), n_in * n_out), np.float32)
    for row, (src, dst) in enumerate(links):
      place[row, src * n_out + dst] = 1.0
    copy = functools.partial(jnp.matmul, precision=jax.lax.Precision.HIGHEST)
    dense = copy(jnp.concatenate(kernels, -1), place).reshape(k + (n_in, n_out))
    bias = copy(jnp.concatenate(biases), np.eye(n_out, dtype=np.float32)[order])
    y = jax.lax.conv_general_dilated(
      x.astype(self.dtype),
      dense.astype(self.dtype),
      (1, 1),
      'VALID',
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
    )
    return y + bias.astype(self.dtype)


class RBFOutput(nn.Module):
  """Euclidean RBF units; returns negative squared distances as logits."""

  num_classes: int
  trainable: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    def init(key, shape, dtype=jnp.float32):
      return jnp.where(jax.random.bernoulli(key, 0.5, shape), 1.0, -1.0).astype(
        dtype
      )

    protos = self.param('prototypes', init, (self.num_classes, x.shape[-1]))
    if not self.trainable:
      protos = jax.lax.stop_gradient(protos)
    d = x[:, None, :] - protos.astype(self.dtype)[None]
    return -jnp.sum(jnp.square(d), axis=-1)


class LeNet5(nn.Module):
  """LeNet-5; defaults give the modern form, ``LeNet5_1998`` the paper's.

  Attributes:
    act: activation ('tanh' or 'lecun_tanh' = 1.7159 tanh(2x/3), or any name
      in ``layers.ACTIVATIONS``).
    c3_table: use the paper's partial C1->C3 connectivity (Table I).
    subsampling: 'avg' (plain 2x2 average pooling) or 'trainable' (the paper's
      coefficient + bias per map, followed by the activation).
    act_after_conv: apply the activation to C1 and C3 (they feed S2/S4). Both
      forms do: the paper squashes every unit up to F6.
    output: 'dense' (linear classifier) or 'rbf' (the paper's RBF units).
    rbf_trainable: whether the RBF prototypes are learned.
  """

  num_classes: int = 10
  act: str = 'tanh'
  c3_table: bool = False
  subsampling: str = 'avg'
  act_after_conv: bool = True
  output: str = 'dense'
  rbf_trainable: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train  # No BatchNorm or dropout.
    act = _get_activation(self.act)
    pad_h, pad_w = max(0, 32 - x.shape[1]), max(0, 32 - x.shape[2])
    if pad_h or pad_w:
      x = jnp.pad(
        x,
        [
          (0, 0),
          (pad_h // 2, pad_h - pad_h // 2),
          (pad_w // 2, pad_w - pad_w // 2),
          (0, 0),
        ],
      )
    x = x.astype(self.dtype)
    for i, features in enumerate((6, 16)):
      name = f'c{2 * i + 1}'
      if name == 'c3' and self.c3_table:
        x = PartialConv(C3_TABLE, dtype=self.dtype, name=name)(x)
      else:
        x = layers.Conv(
          features, (5, 5), padding='VALID', dtype=self.dtype, name=name
        )(x)
      if self.act_after_conv:
        x = act(x)
      if self.subsampling == 'trainable':
        x = act(TrainableSubsampling(dtype=self.dtype, name=f's{2 * i + 2}')(x))
      elif self.subsampling == 'avg':
        x = layers.avg_pool(x, 2, 2)
      else:
        raise ValueError(f'Unknown subsampling {self.subsampling!r}')
    x = act(
      layers.Conv(120, (5, 5), padding='VALID', dtype=self.dtype, name='c5')(x)
    )
    x = x.reshape((x.shape[0], -1))
    x = act(nn.Dense(84, dtype=self.dtype, name='f6')(x))
    if self.output == 'rbf':
      return RBFOutput(
        self.num_classes, self.rbf_trainable, dtype=self.dtype, name='rbf'
      )(x)
    if self.output != 'dense':
      raise ValueError(f'Unknown output {self.output!r}')
    return nn.Dense(self.num_classes, dtype=self.dtype, name='output')(x)


# LeNet-5 as in LeCun et al. 1998 (see the module docstring).
LeNet5_1998 = functools.partial(
  LeNet5, act='lecun_tanh', c3_table=True, subsampling='trainable', output='rbf'
)


register('lenet5', LeNet5, input_shape=(28, 28, 1), num_classes=10)
register('lenet5_1998', LeNet5_1998, input_shape=(28, 28, 1), num_classes=10)
