"""Writes a small image folder of drawn shapes: the README's "Your own data".

  python -m examples.shapes_folder --out=shapes

gives shapes/train/{circle,square,triangle}/*.png|jpg (100 per class) and
shapes/test/ alike (30 per class): real PNG and JPEG files of different
sizes and aspect ratios, one light filled shape of random colour, size and
position on a noisy dark background of random hue. It stands in for a folder
of your own photos in the README example and its test.
"""

from __future__ import annotations

import os

import numpy as np
from absl import app, flags

CLASSES = ('circle', 'square', 'triangle')


def draw(shape: str, rng: np.random.Generator):
  """One PIL image of ``shape``."""
  from PIL import Image, ImageDraw  # pylint: disable=g-import-not-at-top

  w, h = (int(v) for v in rng.integers(48, 97, size=2))
  background = rng.integers(0, 100, size=3)  # dark, of any hue
  noise = rng.normal(0, 12, size=(h, w, 3))
  pixels = np.clip(background + noise, 0, 255).astype(np.uint8)
  image = Image.fromarray(pixels, 'RGB')
  colour = tuple(int(v) for v in rng.integers(140, 256, size=3))  # light
  side = float(rng.uniform(0.45, 0.8)) * min(w, h)
  cx = float(rng.uniform(side / 2, w - side / 2))
  cy = float(rng.uniform(side / 2, h - side / 2))
  box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
  pen = ImageDraw.Draw(image)
  if shape == 'circle':
    pen.ellipse(box, fill=colour)
  elif shape == 'square':
    pen.rectangle(box, fill=colour)
  else:
    pen.polygon([(cx, box[1]), (box[2], box[3]), (box[0], box[3])], fill=colour)
  return image


def write(
  root: str, per_class: dict[str, int] | None = None, seed: int = 0
) -> str:
  """Writes the folder (``{'train': 100, 'test': 30}`` images per class)."""
  per_class = per_class or {'train': 100, 'test': 30}
  rng = np.random.default_rng(seed)
  for split, n in per_class.items():
    for shape in CLASSES:
      folder = os.path.join(root, split, shape)
      os.makedirs(folder, exist_ok=True)
      for i in range(n):
        image = draw(shape, rng)
        if i % 2:
          image.save(os.path.join(folder, f'{i:03d}.jpg'), quality=90)
        else:
          image.save(os.path.join(folder, f'{i:03d}.png'))
  return root


def main(argv):
  del argv
  root = write(flags.FLAGS.out)
  print(f'Wrote {root}: train/ and test/, classes {", ".join(CLASSES)}.')


if __name__ == '__main__':
  flags.DEFINE_string('out', 'shapes', 'Folder to write.')
  app.run(main)
