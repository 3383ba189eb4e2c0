"""Prepares small fake copies of TFDS datasets (real TFDS files, random data).

The ``tfds`` wheel ships no split metadata for ``tfds.testing.mock_data``, so
tests build the real dataset class, with its real features, from random
examples into a temporary ``data_dir``. The pipeline then reads it through the
same ``tfds.builder(name, data_dir=...)`` path as real data.
"""

import numpy as np
import tensorflow_datasets as tfds


def _example(features, rng, image_hw):
  out = {}
  for key, feature in features.items():
    if isinstance(feature, tfds.features.Image):
      shape = tuple(
        d if d is not None else s for d, s in zip(feature.shape, (*image_hw, 3))
      )
      out[key] = rng.integers(0, 256, shape, dtype=np.uint8)
    elif isinstance(feature, tfds.features.ClassLabel):
      out[key] = int(rng.integers(0, feature.num_classes))
    elif isinstance(feature, tfds.features.Text):
      out[key] = f'fake_{rng.integers(1 << 30)}'
    else:
      raise NotImplementedError(f'{key}: {feature}')
  return out


def prepare_fake(
  name: str,
  data_dir: str,
  sizes: dict[str, int],
  image_hw=(40, 48),
  seed: int = 0,
) -> None:
  """Writes ``name`` with ``sizes[split]`` random examples into ``data_dir``."""
  base_cls = type(tfds.builder(name, data_dir=data_dir))

  class Fake(base_cls, skip_registration=True):
    def _split_generators(self, dl_manager):
      del dl_manager
      return {
        split: self._generate_examples(split, n) for split, n in sizes.items()
      }

    def _generate_examples(self, split, n):  # pylint: disable=arguments-differ
      rng = np.random.default_rng([seed, len(split)])
      for i in range(n):
        yield f'{split}_{i}', _example(self.info.features, rng, image_hw)

  Fake.name = name
  Fake(data_dir=data_dir).download_and_prepare()
