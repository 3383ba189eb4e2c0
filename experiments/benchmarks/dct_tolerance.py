r"""How far DCT-scaled window decoding is from full decoding, in levels of 255.

Run::

  python -m experiments.benchmarks.dct_tolerance [--images=40] [--seed=0]

On ImageNet-like photos (``imagenet_like.photo``, at 2-3x ImageNet's sizes so
that the ratios 2, 4 and 8 occur), for random windows and outputs of 56-224
px: the crop decoded as the tf.data path decodes it
(``decode_crop.decode_crop_resize(dct_scaling=True)``) against the whole
JPEG decoded, cropped and resized (``tf.image.resize(antialias=True)``), both
rounded to uint8; per DCT ratio, the mean, 99th percentile and maximum of
the absolute difference. For scale, the same figures of JPEG's own
compression error (the original pixels against the decoded JPEG, through
the same crop and resize).
"""

from __future__ import annotations

import argparse
import io
import json

import numpy as np


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--images', type=int, default=40)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--json_out', default='')
  args = parser.parse_args(argv)

  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top

  from cnn_jax.data import decode_crop  # pylint: disable=g-import-not-at-top
  from experiments.benchmarks import imagenet_like  # pylint: disable=g-import-not-at-top

  def to_uint8(x):
    return tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8).numpy()

  def resized(pixels, offset, extent, size):
    crop = pixels[
      offset[0] : offset[0] + extent[0], offset[1] : offset[1] + extent[1]
    ]
    return to_uint8(
      tf.image.resize(tf.cast(crop, tf.float32), [size, size], antialias=True)
    )

  rng = np.random.default_rng(args.seed)
  diffs = {}  # 'ratio r' or 'jpeg' -> [(mean, p99, max)]
  for _ in range(args.images):
    h, w = imagenet_like.image_size(rng)
    h, w = int(h * rng.uniform(2, 3)), int(w * rng.uniform(2, 3))
    original = imagenet_like.photo(rng, h, w)
    out = io.BytesIO()
    Image.fromarray(original).save(
      out, 'JPEG', quality=int(rng.integers(85, 98))
    )
    data = out.getvalue()
    decoded = tf.io.decode_jpeg(data, channels=3).numpy()
    for size in (56, 112, 176, 224):
      if min(h, w) < size:
        continue
      extent = np.array(
        [rng.integers(size, h + 1), rng.integers(size, w + 1)], np.int32
      )
      offset = np.array(
        [
          rng.integers(0, h - extent[0] + 1),
          rng.integers(0, w - extent[1] + 1),
        ],
        np.int32,
      )
      window = lambda shape, o=offset, e=extent: (
        tf.constant(o),
        tf.constant(e),
      )  # noqa: E731
      ratio = decode_crop.RATIOS[
        int(decode_crop.dct_ratio_index(tf.constant(extent), size))
      ]
      want = resized(decoded, offset, extent, size)
      got = decode_crop.decode_crop_resize(
        tf.constant(data), window, size, 3, dct_scaling=True
      ).numpy()
      for key, a, b in (
        (f'ratio {ratio}', got, want),
        ('jpeg', want, resized(original, offset, extent, size)),
      ):
        d = np.abs(a.astype(np.int32) - b.astype(np.int32))
        diffs.setdefault(key, []).append(
          (d.mean(), np.percentile(d, 99), d.max())
        )
  summary = {}
  for key in sorted(diffs):
    a = np.array(diffs[key])
    summary[key] = {
      'crops': len(a),
      'mean': float(a[:, 0].mean()),
      'p99': float(a[:, 1].mean()),
      'max': float(a[:, 2].max()),
    }
    print(
      f'{key:8s} {len(a):4d} crops: mean {a[:, 0].mean():.2f}, 99th '
      f'percentile {a[:, 1].mean():.1f}, max {a[:, 2].max():.0f} levels'
    )
  if args.json_out:
    with open(args.json_out, 'w') as f:
      json.dump(summary, f, indent=2)


if __name__ == '__main__':
  main()
