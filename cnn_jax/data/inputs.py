"""The run's input path: on the devices, or tf.data on the host.

``config.input_pipeline`` picks it:

* ``'device'`` (:mod:`cnn_jax.data.device_pipeline`): the dataset is loaded
  once onto the devices and batches are gathered there. No TensorFlow
  needed (without TFDS the dataset's own files are read). For datasets that
  fit in memory (MNIST, Fashion-MNIST, CIFAR-10/100, synthetic) without the
  crops that resize (``rrc``, ``inception_crop``: drawn where the host
  decodes).
* ``'tfdata'`` (:mod:`cnn_jax.data.pipeline`): TFDS + tf.data on the host
  CPU, for every dataset (ImageNet) and every augmentation; the host
  decodes, crops and resizes, and hands over uint8 batches, two in flight
  to the devices.
* ``'auto'`` (the default): ``'device'`` where it applies, else ``'tfdata'``.

Both give the trainer the same thing: ``train_batches(start_step)`` (global
batches, sharded over the mesh, from a step on), ``eval_batches(split)`` (one
padded, masked pass, ready for the model) and the train step's
``batch_transform`` (:mod:`cnn_jax.data.device_augment`: the same
augmentation, normalization and dtype handling in JAX for both paths).
"""

from __future__ import annotations

import collections
import itertools
from typing import Iterable, Iterator, Optional

import jax

from cnn_jax.data import arrays, datasets, device_augment, pipeline
from cnn_jax.training import sharding

INPUT_PIPELINES = ('auto', 'device', 'tfdata')


def device_path_problems(config) -> list[str]:
  """Why the on-device path cannot run ``config`` (empty if it can)."""
  problems = []
  if not arrays.has_arrays(config.dataset):
    problems.append(
      f'dataset {config.dataset!r} is not one that fits in memory'
    )
  bad = device_augment.unsupported(config)
  if bad:
    problems.append(
      f'augmentation(s) {bad} have no on-device version (it '
      f'has {", ".join(device_augment.AUGMENTATIONS)})'
    )
  return problems


def choose(config) -> str:
  """'device' or 'tfdata' for ``config.input_pipeline`` (see module doc)."""
  wanted = config.input_pipeline
  if wanted not in INPUT_PIPELINES:
    raise ValueError(
      f'input_pipeline={wanted!r}; use one of {", ".join(INPUT_PIPELINES)}.'
    )
  if wanted == 'tfdata':
    return 'tfdata'
  problems = device_path_problems(config)
  if wanted == 'device' and problems:
    raise ValueError(
      'input_pipeline=device cannot run this config: '
      + '; '.join(problems)
      + '. Use --config.input_pipeline='
      'tfdata (or auto).'
    )
  return 'tfdata' if problems else 'device'


PREFETCH = 2  # tf.data batches in flight to the devices


def prefetched(batches: Iterable, size: int = PREFETCH) -> Iterator:
  """``batches``, each made ``size`` items ahead: their host-to-device copies
  overlap the steps that run before them."""
  queue = collections.deque()
  it = iter(batches)
  queue.extend(itertools.islice(it, size))
  while queue:
    yield queue.popleft()
    queue.extend(itertools.islice(it, 1))


class TFDataPipeline:
  """tf.data batches (:mod:`cnn_jax.data.pipeline`) as global device arrays."""

  name = 'tfdata'
  source = 'tfds'

  def __init__(self, config, info: pipeline.InputInfo, mesh):
    self.config, self.info, self.mesh = config, info, mesh
    if datasets.import_tfds() is None:  # also hides GPUs from TensorFlow
      raise ValueError(
        'input_pipeline=tfdata needs TensorFlow and TensorFlow Datasets, '
        'which are not installed here: `pip install tensorflow-cpu '
        'tensorflow-datasets` (versions in requirements.txt), or use '
        '--config.input_pipeline=auto.'
      )
    self.batch_transform = device_augment.make_train_transform(
      config, info, host_crops_done=True
    )
    self._eval_transform = jax.jit(
      device_augment.make_eval_transform(
        config, info, host_resized=info.jpeg_photos
      ),
      out_shardings=sharding.data_sharding(mesh),
    )

  def train_batches(self, start_step: int = 0) -> Iterator[dict]:
    ds = pipeline.train_dataset(
      self.config,
      self.info,
      start_step=start_step,
      process_index=jax.process_index(),
      process_count=jax.process_count(),
    )
    return prefetched(
      sharding.global_batch(batch, self.mesh) for batch in pipeline.as_numpy(ds)
    )

  def eval_batches(self, split: str) -> Iterator[dict]:
    ds, _ = pipeline.eval_dataset(
      self.config,
      self.info,
      split,
      process_index=jax.process_index(),
      process_count=jax.process_count(),
    )
    for batch in prefetched(
      sharding.global_batch(b, self.mesh) for b in pipeline.as_numpy(ds)
    ):
      yield {**batch, 'image': self._eval_transform(batch['image'])}


def build(config, info: pipeline.InputInfo, mesh, which: Optional[str] = None):
  """The input path for ``config`` (``which`` overrides the choice)."""
  which = which or choose(config)
  if which == 'device':
    from cnn_jax.data import device_pipeline  # pylint: disable=g-import-not-at-top

    return device_pipeline.DevicePipeline(config, info, mesh)
  return TFDataPipeline(config, info, mesh)
