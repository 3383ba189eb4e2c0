"""ImageNet prepared from its two ILSVRC2012 tars on first use, with progress.

TFDS's ``imagenet2012`` builder reads ``ILSVRC2012_img_train.tar`` and
``ILSVRC2012_img_val.tar`` from the manual directory (no network). When both
are there, :func:`prepare` runs that builder, unchanged but for a progress
line: every ``REPORT_EVERY_S`` seconds, how much of each tar has been read and
how long the rest will take at the rate so far (the shards are written after
a split is read; they take a fraction of the time). :func:`missing` names the
tars that are not there, for the error message.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import time

from absl import logging

TARS = ('ILSVRC2012_img_train.tar', 'ILSVRC2012_img_val.tar')
_SPLIT_TARS = dict(zip(('train', 'validation'), TARS))
REPORT_EVERY_S = 30.0
_GB = 1e9


def missing(manual_dir: str) -> list[str]:
  """The tars of :data:`TARS` that are not files in ``manual_dir``."""
  return [t for t in TARS if not os.path.isfile(os.path.join(manual_dir, t))]


def _size(nbytes: float) -> str:
  return f'{nbytes / _GB:.1f} GB' if nbytes >= _GB else f'{nbytes / 1e6:.0f} MB'


def _duration(seconds: float) -> str:
  seconds = int(seconds)
  if seconds < 3600:
    return f'{seconds // 60}m{seconds % 60:02d}s'
  return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m'


class _Progress:
  """Bytes of a tar's members read so far, reported as a progress line."""

  def __init__(self, path: str):
    with tarfile.open(path, 'r:') as tar:  # headers only: seeks past the data
      self.sizes = {m.name: m.size for m in tar.getmembers()}
    self.name = os.path.basename(path)
    self.total = sum(self.sizes.values()) or 1
    self.done = 0
    self.start = self.last = time.monotonic()

  def wrap(self, archive):
    """``archive``'s (name, file) pairs, counting each member when reached."""
    for name, fobj in archive:
      yield name, fobj
      self.done += self.sizes.get(os.path.basename(name), 0)
      now = time.monotonic()
      if now - self.last >= REPORT_EVERY_S or self.done >= self.total:
        self.last = now
        elapsed = now - self.start
        left = elapsed * (self.total - self.done) / max(self.done, 1)
        logging.info(
          'imagenet2012: %s %s of %s read (%.0f%%), %s so far, about %s left',
          self.name,
          _size(self.done),
          _size(self.total),
          100.0 * self.done / self.total,
          _duration(elapsed),
          _duration(left),
        )


def _builder_class(data_dir: str):
  """TFDS's imagenet2012 builder, reporting its progress through the tars."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  base = type(tfds.builder('imagenet2012', data_dir=data_dir))

  class WithProgress(base, skip_registration=True):
    def _split_generators(self, dl_manager):
      splits = super()._split_generators(dl_manager)
      for split in splits:
        tar = _SPLIT_TARS.get(str(split.name))
        if tar is not None:
          progress = _Progress(os.path.join(dl_manager.manual_dir, tar))
          split.gen_kwargs['archive'] = progress.wrap(
            split.gen_kwargs['archive']
          )
      return splits

  WithProgress.name = 'imagenet2012'
  WithProgress.__module__ = base.__module__  # recorded in dataset_info.json
  return WithProgress


def check_space(data_dir: str, manual_dir: str) -> None:
  """An OSError-like UserError if ``data_dir`` cannot hold the prepared data
  (about the tars' size: TFDS keeps the JPEGs as they are)."""
  from cnn_jax.data import datasets  # pylint: disable=g-import-not-at-top

  need = sum(os.path.getsize(os.path.join(manual_dir, t)) for t in TARS)
  os.makedirs(data_dir, exist_ok=True)
  free = shutil.disk_usage(data_dir).free
  if free < need:
    raise datasets.DatasetNotPreparedError(
      f'Preparing imagenet2012 in {data_dir} needs about {_size(need)} '
      f'(the size of the two tars), and {_size(free)} are free there. '
      'Free space, or pass --config.data_dir=DIR on a larger disk.'
    )


def prepare(data_dir: str, manual_dir: str) -> None:
  """Prepares imagenet2012 in ``data_dir`` from the tars in ``manual_dir``."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  check_space(data_dir, manual_dir)
  sizes = ' and '.join(
    f'{t} ({_size(os.path.getsize(os.path.join(manual_dir, t)))})' for t in TARS
  )
  logging.info(
    'imagenet2012 is not prepared in %s: preparing it once, from %s in %s, '
    "with TFDS's builder (progress every %.0f s).",
    data_dir,
    sizes,
    manual_dir,
    REPORT_EVERY_S,
  )
  start = time.monotonic()
  builder = _builder_class(data_dir)(data_dir=data_dir)
  builder.download_and_prepare(
    download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
  )
  logging.info(
    'imagenet2012 prepared in %s, in %s.',
    data_dir,
    _duration(time.monotonic() - start),
  )
