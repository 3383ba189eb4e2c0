"""What the trainer needs to know about each dataset, and where it comes from.

``get_builder`` returns a prepared TFDS builder or fails with a message that
says how to prepare the dataset; ``label_names`` gives the class names. TFDS (and with it TensorFlow) is imported
only when a builder is asked for (:func:`import_tfds`): the models, the
trainer and the on-device input path run where TensorFlow is not installed.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

from cnn_jax import errors
from cnn_jax.data import raw_files


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  name: str
  num_classes: int
  image_shape: tuple[int, int, int]  # native (H, W, C); ImageNet: model input.
  mean: tuple[float, ...]  # per-channel, on the 0-1 scale.
  std: tuple[float, ...]
  train_split: str = 'train'
  test_split: str = 'test'
  how_to_prepare: str = ''
  # Small enough to live on the devices: the on-device input path
  # (cnn_jax.data.arrays.load_arrays) can read it.
  in_memory: bool = False
  # Class names in label order, where they are short enough to keep here
  # (TFDS's names); others come from TFDS (``label_names``).
  class_names: tuple[str, ...] = ()
  # JPEG photos of varying sizes: read as bytes, decoded on the host inside
  # each example's crop window (cnn_jax.data.decode_crop).
  jpeg_photos: bool = False


_IMAGENET_HELP = (
  'ImageNet cannot be downloaded automatically. Get ILSVRC2012_img_train.tar '
  'and ILSVRC2012_img_val.tar from image-net.org and put them in '
  '{manual_dir} (or pass --config.manual_dir=DIR): the next run prepares it '
  'from them.'
)
_TFDS_HELP = (
  'Run `tfds build {name} --data_dir={data_dir}` on a machine with internet '
  'access (or copy a prepared {data_dir}/{name} directory here).'
)

DATASETS = {
  'mnist': DatasetSpec(
    'mnist',
    10,
    (28, 28, 1),
    (0.1307,),
    (0.3081,),
    how_to_prepare=_TFDS_HELP + ' Offline, put the four MNIST IDX files in '
    '{manual_dir} and they are prepared automatically.',
    in_memory=True,
    class_names=tuple(str(i) for i in range(10)),
  ),
  'fashion_mnist': DatasetSpec(
    'fashion_mnist',
    10,
    (28, 28, 1),
    (0.2860,),
    (0.3530,),
    how_to_prepare='Install the Debian package: `apt-get install '
    'dataset-fashion-mnist` (files in /usr/share/datasets/fashion-mnist), '
    'or put the four IDX files in {manual_dir}; they are prepared '
    'automatically on first use.',
    in_memory=True,
    class_names=(
      'T-shirt/top',
      'Trouser',
      'Pullover',
      'Dress',
      'Coat',
      'Sandal',
      'Shirt',
      'Sneaker',
      'Bag',
      'Ankle boot',
    ),
  ),
  'cifar10': DatasetSpec(
    'cifar10',
    10,
    (32, 32, 3),
    (0.4914, 0.4822, 0.4465),
    (0.2470, 0.2435, 0.2616),
    how_to_prepare=_TFDS_HELP,
    in_memory=True,
    class_names=(
      'airplane',
      'automobile',
      'bird',
      'cat',
      'deer',
      'dog',
      'frog',
      'horse',
      'ship',
      'truck',
    ),
  ),
  'cifar100': DatasetSpec(
    'cifar100',
    100,
    (32, 32, 3),
    (0.5071, 0.4865, 0.4409),
    (0.2673, 0.2564, 0.2762),
    how_to_prepare=_TFDS_HELP,
    in_memory=True,
  ),
  'imagenet2012': DatasetSpec(
    'imagenet2012',
    1000,
    (224, 224, 3),
    (0.485, 0.456, 0.406),
    (0.229, 0.224, 0.225),
    test_split='validation',
    how_to_prepare=_IMAGENET_HELP,
    jpeg_photos=True,
  ),
  'synthetic': DatasetSpec(
    'synthetic', 10, (32, 32, 3), (0.5,), (0.29,), in_memory=True
  ),
}


def get_spec(name: str) -> DatasetSpec:
  try:
    return DATASETS[name]
  except KeyError:
    raise ValueError(
      f'Unknown dataset {name!r}. Known datasets: {", ".join(sorted(DATASETS))}'
    ) from None


def model_input(config) -> tuple[tuple[int, int, int], int]:
  """The (H, W, C) a config's model sees and its class count.

  From the dataset's facts and the config's ``image_size``,
  ``grayscale_to_rgb``, ``num_classes`` (and the synthetic dataset's shape):
  no data is read, except the listing of an image folder.
  """
  if config.dataset == 'synthetic':
    shape, classes = tuple(config.synthetic_shape), config.synthetic_classes
  elif config.dataset == 'image_folder':
    from cnn_jax.data import image_folder  # pylint: disable=g-import-not-at-top

    folder = image_folder.scan_for(config)
    shape = image_folder.native_shape(config, folder)
    classes = len(folder.class_names)
  else:
    spec = get_spec(config.dataset)
    shape, classes = spec.image_shape, spec.num_classes
  height, width, channels = shape
  if config.grayscale_to_rgb and channels == 1:
    channels = 3
  if config.image_size is not None:
    height = width = config.image_size
  if config.num_classes is not None:
    classes = config.num_classes
  return (height, width, channels), classes


def default_data_dir(data_dir: str = '') -> str:
  return os.path.expanduser(
    data_dir or os.environ.get('TFDS_DATA_DIR', '~/tensorflow_datasets')
  )


def default_manual_dir(name: str, data_dir: str, manual_dir: str = '') -> str:
  if manual_dir:
    return manual_dir
  if name in raw_files.DEBIAN_DIRS:
    return raw_files.DEBIAN_DIRS[name][1]
  return os.path.join(data_dir, 'downloads', 'manual')


class DatasetNotPreparedError(errors.UserError, RuntimeError):
  """The dataset is not prepared here; the message says how to prepare it."""


def import_tfds():
  """The ``tensorflow_datasets`` module, or None where it cannot be imported.

  This imports TensorFlow. Its GPUs are hidden from it first thing: tf.data
  must not take accelerator memory or CUDA libraries that JAX needs.
  """
  try:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  try:
    tf.config.set_visible_devices([], 'GPU')
  except RuntimeError:  # TensorFlow's devices were already initialized.
    pass
  return tfds


def get_builder(
  name: str, data_dir: str = '', manual_dir: str = '', download: bool = False
):
  """A prepared TFDS builder (``tfds.core.DatasetBuilder``) for ``name``.

  Local IDX files (Fashion-MNIST from Debian) and ImageNet's two tars in the
  manual directory are prepared on first use; with ``download`` TFDS may
  fetch and prepare other datasets itself (needs network).
  """
  spec = get_spec(name)
  tfds = import_tfds()
  if tfds is None:
    raise DatasetNotPreparedError(
      f'Dataset {name!r} needs TensorFlow Datasets, which is not installed '
      'here: `pip install tensorflow-cpu tensorflow-datasets` (versions in '
      'requirements.txt).'
      + (
        ' Or read it without TFDS: --config.input_pipeline=device reads '
        f'{raw_files.expected_files(name)} from --config.manual_dir.'
        if name in raw_files.FORMATS
        else ''
      )
    )
  data_dir = default_data_dir(data_dir)
  manual = default_manual_dir(name, data_dir, manual_dir)
  builder = tfds.builder(name, data_dir=data_dir)
  if builder.is_prepared():
    return builder
  from cnn_jax.data import local_idx  # pylint: disable=g-import-not-at-top

  if name in local_idx.LOCAL_BUILDERS and _has_idx_files(manual):
    local_idx.prepare(name, data_dir, manual)
    return tfds.builder(name, data_dir=data_dir)
  message = f'Dataset {name!r} is not prepared in {data_dir}. ' + (
    spec.how_to_prepare.format(name=name, data_dir=data_dir, manual_dir=manual)
  )
  if name == 'imagenet2012':  # read from local tars: no flag, no network
    from cnn_jax.data import imagenet_tars  # pylint: disable=g-import-not-at-top

    absent = imagenet_tars.missing(manual)
    if absent:
      raise DatasetNotPreparedError(
        message
        + ' Missing: '
        + ', '.join(os.path.join(manual, t) for t in absent)
        + '.'
      )
    imagenet_tars.prepare(data_dir, manual)
    return tfds.builder(name, data_dir=data_dir)
  if not download:
    raise DatasetNotPreparedError(
      message + ' With network access, --config.download=True lets TFDS '
      'download and prepare it.'
    )
  try:
    builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=manual)
    )
  except Exception as e:  # network, checksum or missing manual files
    raise DatasetNotPreparedError(f'{message} ({type(e).__name__}: {e})') from e
  return builder


def _has_idx_files(directory: Optional[str]) -> bool:
  return (
    bool(directory)
    and os.path.isdir(directory)
    and any(
      f.startswith('train-images-idx3-ubyte') for f in os.listdir(directory)
    )
  )


def imagenet_class_names() -> list[str]:
  """ImageNet-1k's 1,000 class names in label order (torchvision's list).

  Kept in the package (``imagenet_classes.txt``, from
  ``torchvision.models._meta._IMAGENET_CATEGORIES``) so that predictions of
  converted ImageNet models read 'tabby' instead of a class index without
  torchvision installed.
  """
  path = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), 'imagenet_classes.txt'
  )
  with open(path) as f:
    names = [line.rstrip('\n') for line in f]
  assert len(names) == 1000, path
  return names


def label_names(
  name: str,
  num_classes: int,
  data_dir: str = '',
  manual_dir: str = '',
  download: bool = False,
) -> list[str]:
  """Class names of dataset ``name`` in label order.

  ImageNet's human-readable names (not TFDS's WordNet ids); the names kept
  in its ``DatasetSpec``; TFDS's label names for other prepared datasets;
  ``class_<i>`` where there are none.
  """
  if name == 'imagenet2012' and num_classes == 1000:
    return imagenet_class_names()
  known = DATASETS[name].class_names if name in DATASETS else ()
  if len(known) == num_classes:
    return list(known)
  if name in DATASETS and name != 'synthetic' and import_tfds() is not None:
    try:  # read from its files (on-device path) the dataset may be unprepared
      builder = get_builder(name, data_dir, manual_dir, download)
    except DatasetNotPreparedError:
      builder = None
    names = list(builder.info.features['label'].names) if builder else []
    if len(names) == num_classes:
      return names
  return [f'class_{i}' for i in range(num_classes)]
