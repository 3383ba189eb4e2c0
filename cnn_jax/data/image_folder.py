"""Your own images as a dataset: ``--config.dataset=image_folder``.

Layout (TFDS's ``ImageFolder`` layout, plus a split-less form)::

  ROOT/train/<class>/*.jpg|png|...   training images, one folder per class
  ROOT/val/<class>/...               optional: the validation split
                                     (``validation/`` also works)
  ROOT/test/<class>/...              optional: the test split

or ``ROOT/<class>/*.jpg`` alone (everything is training data). Without a
``val/`` folder the validation split is carved from the end of the training
split (``validation_fraction`` or ``validation_examples``). Class names are
the sorted names of the training class folders; label ``i`` is the ``i``-th.

Why not ``tfds.folder_dataset.ImageFolder``: it has no sub-splits (the carved
validation split and per-process shards are ranges of a split), checks
nothing (an empty class silently disappears, an unreadable file fails in the
middle of training) and always decodes to RGB. The layout, label order and
the fixed per-split shuffle (so that a carved validation split holds every
class) are the same as TFDS's.

``scan`` checks the whole folder before anything runs and reports every
problem at once with what to fix. Every image is decoded once by Pillow (JPEGs
at 1/8 scale, which still reads all their data): a truncated download would
otherwise stop training when the pipeline first reaches it. With
``skip_unreadable_images`` the files Pillow cannot read are left out instead,
listed in ``WORKDIR/unreadable_images.txt`` (``write_skipped``). Images
are decoded by TensorFlow in the tf.data pipeline (``read``); with
``image_size`` set, each is read as an ``image_size`` square (central square
crop and resize, aspect kept, rounded to uint8), so that folders of photos of
any size can be trained on and cached small. Without it all images must share
one size. ``load_arrays`` returns the same uint8 arrays for the on-device
path of small datasets.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import os
import zlib
from typing import Optional

import numpy as np

from cnn_jax import config_validation, errors
from cnn_jax.data import preprocessing

NAME = 'image_folder'
EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.webp')
SPLIT_DIRS = {
  'train': ('train',),
  'validation': ('val', 'validation'),
  'test': ('test',),
}
_MAX_LISTED = 5  # problems listed per kind in an error message.
SKIPPED_FILE = 'unreadable_images.txt'  # in the workdir, with skipping on.


class ImageFolderError(errors.UserError, ValueError):
  """The folder does not have the expected layout (message says what to fix)."""


@dataclasses.dataclass(frozen=True)
class FolderScan:
  """What is in an image folder, checked.

  Attributes:
    root: the folder.
    class_names: sorted training class folder names; label i = class_names[i].
    files: split ('train', 'validation', 'test' when present) -> list of
      (path, label), in a fixed shuffled order.
    split_dirs: split -> the folder it came from.
    sizes: set of (height, width) found.
    channels: 3 if any image has colour, else 1.
    ignored: files skipped because their extension is not an image's.
    unreadable: with ``skip_unreadable``: 'path (error)' of each file left
      out because Pillow cannot read it as an image.
  """

  root: str
  class_names: tuple[str, ...]
  files: dict
  split_dirs: dict
  sizes: frozenset
  channels: int
  ignored: tuple[str, ...] = ()
  unreadable: tuple[str, ...] = ()

  def num_examples(self, split: str) -> int:
    return len(self.files.get(split, ()))

  def summary(self) -> dict:
    """The facts kept in ``WORKDIR/dataset.json``."""
    return {
      'root': self.root,
      'class_names': list(self.class_names),
      'split_dirs': dict(self.split_dirs),
      'num_examples': {s: len(f) for s, f in self.files.items()},
      'channels': self.channels,
      'image_sizes': sorted(list(s) for s in self.sizes)[:10],
      'unreadable_skipped': len(self.unreadable),
    }


def _is_image(name: str) -> bool:
  return name.lower().endswith(EXTENSIONS)


def _subdirs(path: str) -> list[str]:
  return sorted(
    d
    for d in os.listdir(path)
    if os.path.isdir(os.path.join(path, d)) and not d.startswith('.')
  )


def _listing(paths, more: int) -> str:
  shown = ', '.join(paths[:_MAX_LISTED])
  return shown + (
    f' and {more - _MAX_LISTED} more' if more > _MAX_LISTED else ''
  )


def _header(path: str):
  """(height, width, has_colour) of a decodable image, or the error text."""
  import PIL.Image  # pylint: disable=g-import-not-at-top

  try:
    with PIL.Image.open(path) as image:
      width, height = image.size
      image.draft(image.mode, (1, 1))  # JPEG: decode at 1/8 scale (faster).
      image.load()  # a truncated or corrupt file fails here, not in training.
      colour = image.mode not in (
        '1',
        'L',
        'LA',
        'I',
        'I;16',
        'I;16B',
        'I;16L',
        'F',
      )
      if image.mode == 'P':  # a palette may hold only greys; decode it.
        colour = (
          image.convert('RGB').getextrema()
          != image.convert('L').convert('RGB').getextrema()
        )
      return height, width, colour
  except Exception as e:  # pylint: disable=broad-except
    text = str(e).replace(f" '{path}'", '')  # the path is listed already.
    return f'{type(e).__name__}: {text}'


def _shuffled(files: list, split: str) -> list:
  """A fixed shuffle per split (as TFDS's ImageFolder): a validation split
  carved from the end then holds every class, not the last ones."""
  order = np.random.default_rng(zlib.crc32(split.encode())).permutation(
    len(files)
  )
  return [files[i] for i in order]


def _error(root: str, problems: list[str]) -> ImageFolderError:
  """One line for one problem, else one line per problem."""
  if len(problems) == 1:
    return ImageFolderError(f'Image folder {root}: {problems[0]}')
  return ImageFolderError(
    f'Image folder {root} cannot be used as it is:\n- ' + '\n- '.join(problems)
  )


@functools.lru_cache(maxsize=8)
def scan(
  root: str, image_size: Optional[int] = None, skip_unreadable: bool = False
) -> FolderScan:
  """Checks ``root`` and lists its images; raises ImageFolderError.

  Every problem is collected first, so one message lists all there is to
  fix: a missing folder, no class folders, images outside class folders, an
  empty class, classes in val/test that train lacks, files that cannot be
  read as images (left out instead with ``skip_unreadable``), and (without
  ``image_size``) images of different sizes.
  """
  root = os.path.abspath(os.path.expanduser(root))
  if os.path.exists(root) and not os.path.isdir(root):
    raise ImageFolderError(
      f'Image folder {root} is a file, not a folder. Pass the folder that '
      'holds train/<class>/*.jpg with --config.image_folder=DIR.'
    )
  if not os.path.isdir(root):
    raise ImageFolderError(
      f'Image folder {root} does not exist. Pass the folder that holds '
      'train/<class>/*.jpg with --config.image_folder=DIR.'
    )
  split_dirs = {}
  for split, names in SPLIT_DIRS.items():
    for name in names:
      if os.path.isdir(os.path.join(root, name)):
        split_dirs[split] = name
        break
  if 'train' not in split_dirs:
    if split_dirs:
      raise ImageFolderError(
        f'{root} has {"/".join(sorted(split_dirs.values()))}/ but no '
        'train/ folder: put the training images in '
        f'{root}/train/<class>/.'
      )
    split_dirs = {'train': '.'}  # ROOT/<class>/*.jpg
  problems: list[str] = []
  train_dir = os.path.normpath(os.path.join(root, split_dirs['train']))
  class_names = tuple(_subdirs(train_dir))
  if not class_names:
    raise ImageFolderError(
      f'{train_dir} has no class folders. Expected one folder per class: '
      f'{train_dir}/<class name>/*.jpg (or .png, .bmp, .gif, .webp), '
      'e.g. train/cat/1.jpg, train/dog/2.jpg.'
    )
  if len(class_names) < 2:
    problems.append(
      f'{train_dir} has one class folder ({class_names[0]}); '
      'a classifier needs at least two: add a folder of images per class.'
    )

  files: dict[str, list] = {}
  ignored: list[str] = []
  for split, sub in split_dirs.items():
    split_root = os.path.normpath(os.path.join(root, sub))
    loose = sorted(
      f
      for f in os.listdir(split_root)
      if _is_image(f) and os.path.isfile(os.path.join(split_root, f))
    )
    if loose:
      problems.append(
        f'{split_root} holds {len(loose)} image(s) outside class folders '
        f'({_listing(loose, len(loose))}): move each into '
        f'{split_root}/<class name>/.'
      )
    entries = []
    for name in _subdirs(split_root):
      if name not in class_names:
        if split != 'train':
          problems.append(
            f'{split_root}/{name} is a class that {train_dir} lacks: add '
            f'{train_dir}/{name}/ with training images, or remove it.'
          )
        continue
      class_dir = os.path.join(split_root, name)
      images = []
      for dirpath, dirnames, filenames in os.walk(class_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
        for f in sorted(filenames):
          if f.startswith('.'):
            continue
          (images if _is_image(f) else ignored).append(os.path.join(dirpath, f))
      entries += [(path, class_names.index(name)) for path in images]
    if entries or split == 'train':
      files[split] = entries

  headers = {}
  all_paths = [p for entries in files.values() for p, _ in entries]
  with concurrent.futures.ThreadPoolExecutor(8) as pool:
    for path, header in zip(all_paths, pool.map(_header, all_paths)):
      headers[path] = header
  unreadable = [f'{p} ({h})' for p, h in headers.items() if isinstance(h, str)]
  skipping = bool(unreadable and skip_unreadable)
  if skipping:
    for split, entries in files.items():
      files[split] = [e for e in entries if not isinstance(headers[e[0]], str)]
  elif unreadable:
    problems.append(
      f'{len(unreadable)} file(s) cannot be read as images: '
      f'{_listing(unreadable, len(unreadable))}. Delete or replace them, or '
      'set --config.skip_unreadable_images=True to leave them out.'
    )
  counts = collections.Counter(label for _, label in files['train'])
  empty = [name for i, name in enumerate(class_names) if not counts[i]]
  if empty:
    what = 'no readable images' if skipping else 'no images'
    kinds = ', '.join(EXTENSIONS)
    if len(empty) == len(class_names) > 1:
      problems.append(
        f'none of its {len(empty)} class folders in {train_dir} '
        f'({_listing(empty, len(empty))}) has {what[3:]} ({kinds}): add '
        'images to them.'
      )
    elif len(empty) == 1:
      problems.append(
        f'Class {empty[0]!r} ({os.path.join(train_dir, empty[0])}) has '
        f'{what} ({kinds}): add some, or remove the folder.'
      )
    else:
      problems.append(
        f'{len(empty)} of its {len(class_names)} classes have {what} '
        f'({kinds}): {_listing(empty, len(empty))} in {train_dir}: add '
        'some, or remove those folders.'
      )
  good = [h for h in headers.values() if not isinstance(h, str)]
  sizes = frozenset((h, w) for h, w, _ in good)
  if len(sizes) > 1 and not image_size:
    examples = {}
    for p, h in headers.items():
      if not isinstance(h, str):
        examples.setdefault((h[0], h[1]), p)
    listed = [f'{h}x{w} ({p})' for (h, w), p in sorted(examples.items())]
    problems.append(
      f'The images have {len(sizes)} different sizes (height x width: '
      f'{_listing(listed, len(listed))}). Set --config.image_size=SIZE: '
      'each image is then read as a SIZE x SIZE square (central square '
      'crop, resize).'
    )
  if problems:
    raise _error(root, problems)
  channels = 3 if any(colour for _, _, colour in good) else 1
  return FolderScan(
    root=root,
    class_names=class_names,
    files={s: _shuffled(e, s) for s, e in files.items()},
    split_dirs=split_dirs,
    sizes=sizes,
    channels=channels,
    ignored=tuple(ignored),
    unreadable=tuple(unreadable) if skip_unreadable else (),
  )


def scan_for(config) -> FolderScan:
  """``scan`` of ``config.image_folder``, with a message if it is unset."""
  if not config.get('image_folder'):
    raise ImageFolderError(
      "dataset='image_folder' needs --config.image_folder=DIR, the folder "
      'that holds train/<class>/*.jpg (see README, "Your own data").'
    )
  size = config.image_size
  return scan(
    config.image_folder, size, bool(config.get('skip_unreadable_images'))
  )


def write_skipped(config, workdir: str) -> Optional[str]:
  """Lists the files ``skip_unreadable_images`` left out in
  ``workdir/unreadable_images.txt`` and warns once; the file's path, or None
  when nothing was left out."""
  from absl import logging  # pylint: disable=g-import-not-at-top

  folder = scan_for(config)
  if not folder.unreadable:
    return None
  path = os.path.join(workdir, SKIPPED_FILE)
  with open(path, 'w') as f:
    f.write(''.join(f'{line}\n' for line in folder.unreadable))
  kept = sum(len(e) for e in folder.files.values())
  logging.warning(
    'Left out %d file(s) of %s that cannot be read as images '
    '(skip_unreadable_images=True; %d images kept); the list is in %s.',
    len(folder.unreadable),
    folder.root,
    kept,
    path,
  )
  return path


def read_size(config) -> Optional[int]:
  """The side images are read at (``image_size``), or None: native size."""
  return config.image_size


def split_slices(config, folder: FolderScan) -> dict[str, tuple[str, int, int]]:
  """'train' / 'validation' / 'test' -> (folder split, start, stop).

  A ``val/`` folder is the validation split; otherwise it is carved from the
  end of the training split: ``validation_fraction`` of it if set, else
  ``validation_examples``.
  """
  n = folder.num_examples('train')
  out = {}
  if 'validation' in folder.files:
    out['validation'] = ('validation', 0, folder.num_examples('validation'))
    n_val = 0
  else:
    fraction = config.get('validation_fraction')
    if fraction is not None:
      if not 0 <= fraction < 1:
        raise config_validation.ConfigError(
          [f'validation_fraction={fraction} must be in [0, 1).']
        )
      n_val = int(round(n * fraction))
    else:
      n_val = config.validation_examples
      if not 0 <= n_val < n:
        raise config_validation.ConfigError(
          [
            f'validation_examples={n_val} must be in [0, {n}) for the {n} '
            f'training images of {folder.root}. Set '
            '--config.validation_fraction=0.1 (or add a val/ folder).'
          ]
        )
    if n_val >= n:
      raise config_validation.ConfigError(
        [
          f'validation_fraction={fraction}: the validation split would take '
          f'all {n} training images; lower validation_fraction.'
        ]
      )
    if n_val:
      out['validation'] = ('train', n - n_val, n)
  out['train'] = ('train', 0, n - n_val)
  if 'test' in folder.files:
    out['test'] = ('test', 0, folder.num_examples('test'))
  return out


def native_shape(config, folder: FolderScan) -> tuple[int, int, int]:
  """(H, W, C) of the images as read."""
  size = read_size(config)
  if size:
    return (size, size, folder.channels)
  ((h, w),) = folder.sizes
  return (h, w, folder.channels)


def default_mean_std(channels: int) -> tuple[tuple, tuple]:
  """ImageNet's statistics (photographs); their average for grayscale."""
  if channels == 1:
    return (
      (float(np.mean(preprocessing.IMAGENET_MEAN)),),
      (float(np.mean(preprocessing.IMAGENET_STD)),),
    )
  return preprocessing.IMAGENET_MEAN, preprocessing.IMAGENET_STD


def _slice_files(folder: FolderScan, sl):
  entries = folder.files[sl.split][sl.start : sl.stop]
  return [p for p, _ in entries], np.asarray([l for _, l in entries], np.int32)


def square_crop_resize(image, size: int):
  """TensorFlow: the central square of the shorter side, resized to ``size``.

  ``preprocessing.square_crop_resize`` is the NumPy twin (``predict``).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  shape = tf.shape(image)
  h, w = shape[0], shape[1]
  side = tf.minimum(h, w)
  image = tf.image.crop_to_bounding_box(
    image, (h - side) // 2, (w - side) // 2, side, side
  )
  return tf.image.resize(
    tf.cast(image, tf.float32), [size, size], method='bilinear', antialias=True
  )


def read(config, split_slice):
  """tf.data of ``{'image': uint8 HWC, 'label': int32}`` of a split range.

  ``split_slice`` (a ``pipeline.Slice``): examples [start, stop) of the
  folder split ``split`` ('train', 'validation' or 'test').
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  folder = scan_for(config)
  paths, labels = _slice_files(folder, split_slice)
  shape = native_shape(config, folder)
  size = read_size(config)

  def load(path, label):
    image = tf.io.decode_image(
      tf.io.read_file(path),
      channels=shape[2],
      expand_animations=False,
      dtype=tf.uint8,
    )
    if size:
      image = square_crop_resize(image, size)
      image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    image = tf.ensure_shape(image, shape)
    return {'image': image, 'label': label}

  ds = tf.data.Dataset.from_tensor_slices(
    (tf.constant(paths, tf.string), tf.constant(labels, tf.int32))
  )
  return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def load_arrays(config, split_slice) -> tuple[np.ndarray, np.ndarray]:
  """Images uint8 [N, H, W, C] and labels int32 [N] of a split range.

  The arrays of the on-device path for small datasets (the ``load_arrays``
  contract of ``cnn_jax.data``): the images ``read`` gives, decoded by
  TensorFlow when it is importable (identical to the tf.data path), else by
  Pillow (the same geometry; JPEG decoders may differ by a few levels).
  """
  try:
    import tensorflow  # noqa: F401  pylint: disable=g-import-not-at-top
  except ImportError:
    return _load_arrays_pillow(config, split_slice)
  images, labels = [], []
  for ex in read(config, split_slice).batch(256).as_numpy_iterator():
    images.append(ex['image'])
    labels.append(ex['label'])
  shape = native_shape(config, scan_for(config))
  if not images:
    return np.zeros((0, *shape), np.uint8), np.zeros((0,), np.int32)
  return np.concatenate(images), np.concatenate(labels).astype(np.int32)


def _load_arrays_pillow(config, split_slice):
  import PIL.Image  # pylint: disable=g-import-not-at-top

  folder = scan_for(config)
  paths, labels = _slice_files(folder, split_slice)
  shape = native_shape(config, folder)
  size = read_size(config)
  images = np.zeros((len(paths), *shape), np.uint8)
  for i, path in enumerate(paths):
    with PIL.Image.open(path) as image:
      x = preprocessing.decode(image, shape[2])
    if size:
      x = np.clip(np.round(preprocessing.square_crop_resize(x, size)), 0, 255)
    images[i] = x.astype(np.uint8)
  return images, labels
