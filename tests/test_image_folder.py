"""Training on a folder of your own images, end to end.

A folder of real PNG and JPEG files (shapes drawn with Pillow, of different
sizes: ``examples/shapes_folder.py``) is checked, read by the tf.data
pipeline and as arrays, trained on (the loss goes down, the test split is
learned), resumed exactly, evaluated, and predicted from with the NumPy /
Pillow preprocessing of ``python -m cnn_jax.predict``, which must give the
probabilities the tf.data evaluation gives. Wrong layouts fail with one
message that lists what to fix.
"""

import json
import os

import jax
import numpy as np
import pytest
from PIL import Image

from cnn_jax.analysis import scalars as scalars_lib
from cnn_jax.data import image_folder, inputs, pipeline
from cnn_jax.inference import predictor, records
from cnn_jax.training import sharding, trainer
from configs import image_folder as image_folder_config
from examples import shapes_folder

CLASSES = list(shapes_folder.CLASSES)


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('shapes'))
  return shapes_folder.write(root, {'train': 100, 'test': 20})


def _config(root, **overrides):
  c = image_folder_config.get_config()
  c.image_folder = root
  c.model = 'lenet5'
  c.image_size = 32
  c.validation_fraction = 0.2
  c.augment = 'flip'
  c.batch_size = 16
  c.eval_batch_size = 32
  c.optimizer = 'adam'
  c.learning_rate = 3e-3
  c.weight_decay = 0.0
  c.lr_schedule = 'constant'
  c.warmup_epochs = 0.0
  c.label_smoothing = 0.0
  c.num_train_steps = 240
  c.log_every_steps = 40
  c.checkpoint_every_steps = 40
  c.eval_every_epochs = 1000.0
  c.cpu_tuning = 'none'
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


def _image(path, size, mode='RGB', colour=(200, 30, 30)):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.new(mode, size, colour if mode == 'RGB' else 128).save(path)


# --- Layout checks -----------------------------------------------------------


def test_scan_lists_classes_splits_and_sizes(shapes):
  folder = image_folder.scan(shapes, 32)
  assert folder.class_names == tuple(CLASSES)
  assert folder.num_examples('train') == 300
  assert folder.num_examples('test') == 60
  assert folder.channels == 3
  assert len(folder.sizes) > 10  # photos of many sizes: read as squares
  # A fixed shuffle: the carved validation split holds every class.
  c = _config(shapes)
  slices = image_folder.split_slices(c, folder)
  assert slices['train'] == ('train', 0, 240)
  assert slices['validation'] == ('train', 240, 300)
  val_labels = [l for _, l in folder.files['train'][240:300]]
  assert set(val_labels) == {0, 1, 2}
  assert image_folder.scan(shapes, 32).files == folder.files  # stable


def test_val_folder_is_the_validation_split_and_grayscale_is_one_channel(
  tmp_path,
):
  for split, n in (('train', 3), ('val', 2)):
    for cls in ('a', 'b'):
      for i in range(n):
        _image(str(tmp_path / split / cls / f'{i}.png'), (8, 6), mode='L')
  folder = image_folder.scan(str(tmp_path))
  assert folder.channels == 1 and folder.sizes == {(6, 8)}
  c = _config(str(tmp_path), image_size=None)
  info = pipeline.get_info(c)
  assert info.image_shape == (6, 8, 1)
  assert {s: sl.size for s, sl in info.splits.items()} == {
    'train': 6,
    'validation': 4,
  }
  assert len(info.mean) == 1


def test_split_less_folder_is_all_training_data(tmp_path):
  for cls in ('cat', 'dog'):
    for i in range(5):
      _image(str(tmp_path / cls / f'{i}.jpg'), (10, 10))
  folder = image_folder.scan(str(tmp_path))
  assert folder.class_names == ('cat', 'dog')
  assert folder.num_examples('train') == 10 and 'test' not in folder.files


def test_every_layout_problem_is_listed_with_what_to_do(tmp_path):
  root = tmp_path / 'bad'
  _image(str(root / 'train' / 'cat' / '0.png'), (10, 10))
  _image(str(root / 'train' / 'cat' / '1.png'), (12, 10))
  os.makedirs(root / 'train' / 'dog')  # empty class
  _image(str(root / 'train' / 'loose.jpg'), (10, 10))  # outside a class
  (root / 'train' / 'cat' / 'broken.jpg').write_bytes(b'not a jpeg')
  _image(str(root / 'test' / 'bird' / '0.png'), (10, 10))  # unknown class
  with pytest.raises(image_folder.ImageFolderError) as e:
    image_folder.scan(str(root))
  message = str(e.value)
  for expected in (
    "Class 'dog'",
    'has no images',
    'add some, or remove',
    'outside class folders',
    'loose.jpg',
    'move each into',
    'cannot be read as images',
    'broken.jpg',
    'Delete or replace',
    'bird is a class that',
    '2 different sizes',
    '10x10',
    '10x12',
    '--config.image_size=SIZE',
  ):
    assert expected in message, (expected, message)
  # With image_size the sizes are fine; the rest is still reported.
  with pytest.raises(image_folder.ImageFolderError) as e:
    image_folder.scan(str(root), 16)
  assert 'different sizes' not in str(e.value)
  assert "Class 'dog'" in str(e.value)


@pytest.mark.parametrize(
  'layout,expected',
  [
    ({}, 'does not exist'),
    ({'train/x.png': (4, 4)}, 'has no class folders'),
    ({'val/a/x.png': (4, 4)}, 'no train/ folder'),
    ({'train/a/x.png': (4, 4)}, 'at least two'),
  ],
)
def test_missing_pieces_say_what_to_add(tmp_path, layout, expected):
  root = tmp_path / 'root'
  for path, size in layout.items():
    _image(str(root / path), size)
  with pytest.raises(image_folder.ImageFolderError, match=expected):
    image_folder.scan(str(root))


def _with_unreadable_files(root):
  """Two classes of three PNGs, a text file named .jpg, a truncated JPEG."""
  for cls in ('cat', 'dog'):
    for i in range(3):
      _image(str(root / 'train' / cls / f'{i}.png'), (10, 10))
  (root / 'train' / 'cat' / 'notes.jpg').write_text('a text')
  pixels = np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)
  path = str(root / 'train' / 'dog' / 'cut.jpg')
  Image.fromarray(pixels).save(path)
  with open(path, 'rb') as f:
    data = f.read()
  with open(path, 'wb') as f:
    f.write(data[: len(data) // 2])  # its header reads; its pixels do not


def test_unreadable_files_are_listed_or_skipped(tmp_path, caplog):
  _with_unreadable_files(tmp_path)
  with pytest.raises(image_folder.ImageFolderError) as e:
    image_folder.scan(str(tmp_path))
  message = str(e.value)
  assert '\n' not in message  # one problem, one line
  for expected in (
    '2 file(s) cannot be read as images',
    'notes.jpg (UnidentifiedImageError',
    'cut.jpg (OSError: ',
    '--config.skip_unreadable_images=True',
  ):
    assert expected in message, (expected, message)

  folder = image_folder.scan(str(tmp_path), skip_unreadable=True)
  assert folder.num_examples('train') == 6
  assert [u.split(' ')[0] for u in folder.unreadable] == [
    str(tmp_path / 'train' / 'cat' / 'notes.jpg'),
    str(tmp_path / 'train' / 'dog' / 'cut.jpg'),
  ]
  c = _config(str(tmp_path), skip_unreadable_images=True, image_size=None)
  workdir = tmp_path / 'run'
  workdir.mkdir()
  with caplog.at_level('WARNING'):
    path = image_folder.write_skipped(c, str(workdir))
  assert path == str(workdir / image_folder.SKIPPED_FILE)
  with open(path) as f:
    assert f.read().splitlines() == list(folder.unreadable)
  (warning,) = [r for r in caplog.records if 'Left out' in r.getMessage()]
  assert warning.getMessage() == (
    f'Left out 2 file(s) of {tmp_path} that cannot be read as images '
    f'(skip_unreadable_images=True; 6 images kept); the list is in {path}.'
  )


def test_a_class_of_only_unreadable_files_is_an_error_even_skipping(tmp_path):
  _with_unreadable_files(tmp_path)
  (tmp_path / 'train' / 'bird').mkdir()
  (tmp_path / 'train' / 'bird' / 'x.png').write_text('not a png')
  with pytest.raises(
    image_folder.ImageFolderError,
    match=r"Class 'bird' \(.*bird\) has no readable images",
  ):
    image_folder.scan(str(tmp_path), skip_unreadable=True)


def test_a_run_skipping_unreadable_files_lists_them_in_the_workdir(tmp_path):
  _with_unreadable_files(tmp_path / 'data')
  workdir = str(tmp_path / 'run')
  c = _config(
    str(tmp_path / 'data'),
    skip_unreadable_images=True,
    image_size=16,
    batch_size=2,
    eval_batch_size=2,
    validation_fraction=None,
    validation_examples=2,
    num_train_steps=2,
    log_every_steps=2,
    checkpoint_every_steps=2,
  )
  result = trainer.train_and_evaluate(c, workdir)
  assert result['step'] == 2 and result['validation']['num_examples'] == 2
  with open(os.path.join(workdir, image_folder.SKIPPED_FILE)) as f:
    assert len(f.read().splitlines()) == 2
  with open(os.path.join(workdir, 'dataset.json')) as f:
    assert json.load(f)['image_folder']['unreadable_skipped'] == 2


def test_unset_folder_and_too_many_validation_examples(shapes):
  c = _config(shapes)
  c.image_folder = None
  with pytest.raises(ValueError, match='needs --config.image_folder=DIR'):
    pipeline.get_info(c)
  c = _config(shapes, validation_fraction=None, validation_examples=5000)
  with pytest.raises(ValueError, match='validation_fraction=0.1'):
    pipeline.get_info(c)


# --- Reading -------------------------------------------------------------------


def test_arrays_equal_the_tf_data_images(shapes):
  c = _config(shapes)
  info = pipeline.get_info(c)
  sl = info.splits['test']
  images, labels = image_folder.load_arrays(c, sl)
  assert images.shape == (60, 32, 32, 3) and images.dtype == np.uint8
  assert np.bincount(labels).tolist() == [20, 20, 20]
  read = list(image_folder.read(c, sl).as_numpy_iterator())
  np.testing.assert_array_equal(images, np.stack([r['image'] for r in read]))
  # Without TensorFlow (Pillow decodes): the same geometry; decoders and
  # float rounding differ by a few levels at most.
  pil_images, pil_labels = image_folder._load_arrays_pillow(c, sl)  # pylint: disable=protected-access
  np.testing.assert_array_equal(pil_labels, labels)
  png = [
    i
    for i, (p, _) in enumerate(image_folder.scan(shapes, 32).files['test'])
    if p.endswith('.png')
  ]
  diff = np.abs(pil_images.astype(int) - images.astype(int))
  assert diff[png].max() <= 1
  assert np.mean(diff) < 0.5


def test_eval_counts_every_image_once(shapes):
  c = _config(shapes, eval_batch_size=32)
  info = pipeline.get_info(c)
  ds, n = pipeline.eval_dataset(c, info, 'test')
  batches = list(pipeline.as_numpy(ds))
  assert n == len(batches) == 2
  masks = np.concatenate([b['mask'] for b in batches])
  labels = np.concatenate([b['label'] for b in batches])[masks]
  assert masks.sum() == 60 and np.bincount(labels).tolist() == [20, 20, 20]


# --- Train, resume, evaluate, predict ----------------------------------------


@pytest.fixture(scope='module')
def trained(shapes, tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('run'))
  return workdir, trainer.train_and_evaluate(_config(shapes), workdir)


def test_training_learns_the_folder(trained):
  workdir, result = trained
  losses = [v for _, v in scalars_lib.read_scalars(workdir)['train_loss']]
  assert len(losses) == 6
  assert losses[-1] < 0.6 * losses[0], losses
  assert result['test']['num_examples'] == 60
  assert result['validation']['num_examples'] == 60
  assert result['test']['accuracy'] > 0.6  # 3 classes: chance is 1/3
  with open(os.path.join(workdir, 'dataset.json')) as f:
    facts = json.load(f)
  assert facts['class_names'] == CLASSES
  assert facts['image_folder']['num_examples'] == {'train': 300, 'test': 60}
  model = records.read_json(workdir, records.MODEL_FILE)
  assert model == {
    'model': 'lenet5',
    'model_kwargs': {},
    'num_classes': 3,
    'dtype': 'float32',
  }


def test_resumed_run_ends_where_the_uninterrupted_one_does(
  shapes, trained, tmp_path
):
  _, reference = trained
  workdir = str(tmp_path)
  first = trainer.train_and_evaluate(
    _config(shapes, num_train_steps=120), workdir
  )
  assert first['step'] == 120
  resumed = trainer.train_and_evaluate(_config(shapes), workdir)
  assert resumed['step'] == 240
  assert resumed['test'] == reference['test']
  assert resumed['validation'] == reference['validation']


def test_eval_only_and_predict_agree_with_the_run(shapes, trained):
  workdir, result = trained
  evaluated = trainer.train_and_evaluate(
    _config(shapes, eval_only=True), workdir
  )
  assert evaluated['test'] == result['test']

  # predict: the workdir's best state, the recorded preprocessing, Pillow.
  model = predictor.Predictor.load(workdir)
  assert model.class_names == CLASSES
  files = [p for p, _ in image_folder.scan(shapes, 32).files['test']]
  labels = np.asarray(
    [l for _, l in image_folder.scan(shapes, 32).files['test']]
  )
  ours = model.probabilities(np.stack([model.prepare(p) for p in files]), 8)

  # The same images through the tf.data evaluation path (the host's uint8
  # batches, the train step's eval transform) and the model.
  c = _config(shapes)
  info = pipeline.get_info(c)
  feed = inputs.TFDataPipeline(c, info, sharding.make_mesh(1))
  apply = jax.jit(
    lambda v, x: jax.nn.softmax(model.model.apply(v, x, train=False))
  )
  theirs = np.concatenate(
    [
      np.asarray(apply(model.variables, b['image']))[np.asarray(b['mask'])]
      for b in feed.eval_batches('test')
    ]
  )
  png = np.array([p.endswith('.png') for p in files])
  np.testing.assert_allclose(ours[png], theirs[png], atol=1e-4)
  # JPEG: TensorFlow's and Pillow's decoders differ by a few levels.
  assert np.abs(ours - theirs).max() < 0.05
  best_accuracy = np.mean(theirs.argmax(-1) == labels)
  assert abs(np.mean(ours.argmax(-1) == labels) - best_accuracy) <= 1 / 60

  top = model.predict(files[:3], top_k=2)
  assert [len(p.top) for p in top] == [2, 2, 2]
  for p, probs in zip(top, ours[:3]):
    assert p.top[0][1] == CLASSES[int(np.argmax(probs))]
    assert p.top[0][2] >= p.top[1][2]
