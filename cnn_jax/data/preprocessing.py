"""Evaluation preprocessing of one image file, in NumPy and Pillow.

The training pipelines prepare evaluation images (tf.data's host decoding
and ``device_augment.make_eval_transform`` in JAX); ``python -m
cnn_jax.predict`` must give the same model input without TensorFlow, on any
backend. ``Preprocessing`` describes that input and reproduces it: Pillow's
float ('F' mode) resampling is the same antialiased triangle / Keys-cubic
filter as ``tf.image.resize(..., antialias=True)`` and ``jax.image.resize``
(equal to about 1e-5 on the 0-1 scale, ``tests/test_predict.py``).

Two geometries cover what runs and pretrained weights expect:

* ours (``crop_fraction``): the central square of ``crop_fraction`` of the
  shorter side, resized to ``input_size`` (``augment.central_window``;
  rounded to 0..255 where the host resized: ``rounded``);
* torchvision / timm (``resize_size``): the shorter side resized to
  ``resize_size`` (aspect kept), then the central ``input_size`` square
  (``transforms.Resize`` + ``CenterCrop``; timm's ``crop_pct`` is
  ``input_size / resize_size``).

The second is done as torchvision and timm do it on a PIL image (Pillow
resizes the 8-bit image), so that it is bit-identical to theirs.

A record of it (``to_dict``) is kept beside every checkpoint
(``preprocessing.json``): written by the trainer from the run's config and by
the converter from the reference library's own conventions.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Optional, Sequence

import numpy as np

# The mean / std of ImageNet (0-1 scale), the default for photographs.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = ('bilinear', 'bicubic')


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """How an image file becomes one float32 HWC model input.

  Attributes:
    input_size: side of the square model input; None: the native
      ``native_hw`` of the dataset (an image of another size is brought to it
      by a central square crop and a resize).
    native_hw: (height, width) of the dataset's images (``input_size=None``).
    crop_fraction: ours: the central square of this fraction of the shorter
      side is resized to ``input_size`` (1.0: the whole image is, stretched
      to a square if it is not one, as ``augment.central_crop_resize``).
    resize_size: torchvision / timm: resize the shorter side to this first,
      then take the central ``input_size`` square (``crop_fraction`` unused).
    read_size: image folders: the training pipeline reads every image as a
      ``read_size`` square (central square crop, resize, rounded to uint8)
      before the evaluation crop; None elsewhere.
    rounded: ours: the resized image is rounded to 0..255 before
      normalization (JPEG photos of varying sizes, ImageNet: the host crops
      and resizes them, and hands over uint8).
    interpolation: 'bilinear' or 'bicubic' (antialiased when shrinking).
    mean: per-channel mean on the 0-1 scale, in the model's channel order.
    std: per-channel standard deviation on the 0-1 scale.
    channels: channels the image is decoded to (1: grayscale, 3: RGB).
    grayscale_to_rgb: repeat a 1-channel image to 3 channels after decoding.
    channel_order: 'RGB', or 'BGR' (Keras' 'caffe' mode, ResNet50).
  """

  input_size: Optional[int] = None
  native_hw: Optional[tuple[int, int]] = None
  crop_fraction: float = 1.0
  resize_size: Optional[int] = None
  read_size: Optional[int] = None
  rounded: bool = False
  interpolation: str = 'bilinear'
  mean: tuple[float, ...] = IMAGENET_MEAN
  std: tuple[float, ...] = IMAGENET_STD
  channels: int = 3
  grayscale_to_rgb: bool = False
  channel_order: str = 'RGB'

  def __post_init__(self):
    if self.interpolation not in INTERPOLATIONS:
      raise ValueError(
        f'interpolation {self.interpolation!r} is not one of {INTERPOLATIONS}.'
      )
    if self.channel_order not in ('RGB', 'BGR'):
      raise ValueError(
        f"channel_order must be 'RGB' or 'BGR', not {self.channel_order!r}."
      )
    if self.input_size is None and self.native_hw is None:
      raise ValueError('Preprocessing needs input_size or native_hw.')
    if not 0 < self.crop_fraction <= 1:
      raise ValueError(f'crop_fraction={self.crop_fraction} must be in (0, 1].')

  @property
  def output_shape(self) -> tuple[int, int, int]:
    """(H, W, C) of the model input this produces."""
    channels = 3 if self.grayscale_to_rgb else self.channels
    if self.input_size is not None:
      return (self.input_size, self.input_size, channels)
    return (*self.native_hw, channels)

  def to_dict(self) -> dict[str, Any]:
    d = dataclasses.asdict(self)
    d['mean'], d['std'] = list(self.mean), list(self.std)
    if self.native_hw is not None:
      d['native_hw'] = list(self.native_hw)
    return d

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> 'Preprocessing':
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
      raise ValueError(
        f'Unknown preprocessing fields {unknown}; known: {sorted(known)}.'
      )
    d = dict(d)
    for key in ('mean', 'std', 'native_hw'):
      if d.get(key) is not None:
        d[key] = tuple(d[key])
    return cls(**d)

  def __call__(self, image) -> np.ndarray:
    """A PIL image -> the float32 (H, W, C) model input."""
    if self.resize_size is not None and self.input_size is not None:
      x = self._torchvision_geometry(image)
      return self._normalize(x / 255.0)
    x = decode(image, self.channels)
    if self.read_size is not None:
      x = np.clip(
        np.round(
          square_crop_resize(x, self.read_size, None, self.interpolation)
        ),
        0,
        255,
      )
    x = x / 255.0
    if self.input_size is None:
      if x.shape[:2] != tuple(self.native_hw):
        # Not done by the training pipeline (its images all have this size);
        # the closest image of the right size.
        x = square_crop_resize(x, *self.native_hw, self.interpolation)
    else:
      x = central_crop_resize(
        x, self.input_size, self.crop_fraction, self.interpolation
      )
      if self.rounded:
        x = np.clip(np.round(x * 255.0), 0, 255) / 255.0
    return self._normalize(x)

  def _torchvision_geometry(self, image) -> np.ndarray:
    """torchvision's / timm's ``Resize`` + ``CenterCrop`` on a PIL image.

    As those libraries do with a PIL image: Pillow resizes the 8-bit image
    (antialiased), so the result is bit-identical to theirs.
    """
    pil = _pil().Image
    mode = 'L' if self.channels == 1 else 'RGB'
    if image.mode != mode:
      image = image.convert(mode)
    w, h = image.size
    if h <= w:
      new_h, new_w = self.resize_size, int(self.resize_size * w / h)
    else:
      new_h, new_w = int(self.resize_size * h / w), self.resize_size
    method = {'bilinear': pil.BILINEAR, 'bicubic': pil.BICUBIC}[
      self.interpolation
    ]
    if (new_w, new_h) != (w, h):
      image = image.resize((new_w, new_h), method)
    x = np.asarray(image, np.float32)
    x = x[..., None] if x.ndim == 2 else x
    return center_crop(x, self.input_size)

  def _normalize(self, x: np.ndarray) -> np.ndarray:
    """0-1 scale -> channels repeated / reordered, then (x - mean) / std."""
    if self.grayscale_to_rgb and x.shape[-1] == 1:
      x = np.repeat(x, 3, axis=-1)
    if self.channel_order == 'BGR':
      x = x[..., ::-1]
    mean = np.asarray(self.mean, np.float32)
    std = np.asarray(self.std, np.float32)
    return ((x - mean) / std).astype(np.float32)


def decode(image, channels: int) -> np.ndarray:
  """A PIL image as float32 (H, W, channels) on the 0-255 scale.

  Like ``tf.io.decode_image(channels=...)``: alpha is dropped, palettes are
  expanded, grayscale is repeated to RGB, RGB is reduced to luma (ITU-R
  601-2) for ``channels=1``, 16-bit images are scaled to 8 bits.
  """
  if image.mode in ('I;16', 'I;16B', 'I;16L', 'I'):
    array = np.asarray(image, np.float32) / 257.0
    image = _pil().Image.fromarray(
      np.clip(np.round(array), 0, 255).astype(np.uint8), mode='L'
    )
  mode = 'L' if channels == 1 else 'RGB'
  if image.mode != mode:
    image = image.convert(mode)
  x = np.asarray(image, np.float32)
  return x[..., None] if x.ndim == 2 else x


def _pil():
  import PIL.Image  # pylint: disable=g-import-not-at-top

  return PIL


def resize(
  x: np.ndarray, height: int, width: int, interpolation: str = 'bilinear'
) -> np.ndarray:
  """Resizes float (H, W, C) ``x``; antialiased when shrinking (as TF's)."""
  pil = _pil().Image
  if x.shape[:2] == (height, width):
    return x.astype(np.float32)
  method = {'bilinear': pil.BILINEAR, 'bicubic': pil.BICUBIC}[interpolation]
  channels = [
    np.asarray(
      pil.fromarray(
        np.ascontiguousarray(x[..., c], np.float32), mode='F'
      ).resize((width, height), method)
    )
    for c in range(x.shape[-1])
  ]
  return np.stack(channels, axis=-1)


def central_crop_resize(
  x: np.ndarray, size: int, fraction: float, interpolation: str = 'bilinear'
) -> np.ndarray:
  """The evaluation's central crop and resize in NumPy.

  With ``fraction < 1`` the central square of that fraction of the shorter
  side, resized to ``size``; with 1.0 the whole image resized to a square
  (as the tf.data evaluation does: a non-square image is stretched).
  """
  h, w = x.shape[:2]
  if fraction < 1.0:
    side = int(min(h, w) * np.float32(fraction))
    top, left = (h - side) // 2, (w - side) // 2
    x = x[top : top + side, left : left + side]
  return resize(x, size, size, interpolation)


def square_crop_resize(
  x: np.ndarray,
  height: int,
  width: Optional[int] = None,
  interpolation: str = 'bilinear',
) -> np.ndarray:
  """The central square of the shorter side resized to (height, width).

  How image folders read images as ``read_size`` squares
  (``image_folder.square_crop_resize`` in TensorFlow): the aspect ratio is
  kept, the ends of the longer side are cut.
  """
  h, w = x.shape[:2]
  side = min(h, w)
  top, left = (h - side) // 2, (w - side) // 2
  return resize(
    x[top : top + side, left : left + side],
    height,
    width or height,
    interpolation,
  )


def center_crop(x: np.ndarray, size: int) -> np.ndarray:
  """torchvision's ``CenterCrop(size)`` (zero-pads an image that is smaller)."""
  h, w = x.shape[:2]
  if h < size or w < size:
    ph, pw = max(0, size - h), max(0, size - w)
    x = np.pad(x, ((ph // 2, (ph + 1) // 2), (pw // 2, (pw + 1) // 2), (0, 0)))
    h, w = x.shape[:2]
  top = int(round((h - size) / 2.0))
  left = int(round((w - size) / 2.0))
  return x[top : top + size, left : left + size]


def timm_resize_size(input_size: int, crop_pct: float) -> int:
  """timm's eval resize: ``floor(input_size / crop_pct)``."""
  return int(math.floor(input_size / crop_pct))


def per_channel(values: Sequence[float], channels: int) -> tuple[float, ...]:
  """A 1-value mean/std repeated to ``channels``."""
  return tuple(values) * channels if len(values) == 1 else tuple(values)
