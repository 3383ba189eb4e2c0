"""``python -m cnn_jax.predict`` and the preprocessing it reproduces.

* Our evaluation preprocessing in NumPy/Pillow equals the pipelines' (the
  train step's eval transform in JAX; for JPEG photos, the host's crop and
  resize to uint8 before it), and torchvision's
  ``Resize`` + ``CenterCrop`` geometry equals torchvision's own weights
  transforms bit for bit; Keras' ``preprocess_input`` modes are read right.
* A torchvision ResNet-18 (random weights, calibrated random BN statistics)
  is converted with the CLI, then predicted on a real photograph
  (scikit-image's ``chelsea``) by the CLI in a process where TensorFlow
  cannot be imported: the probabilities equal torchvision's model on
  torchvision's own preprocessing of that photo, and the classes carry
  ImageNet's names. (Random weights: the classes mean nothing.)
"""

import json
import os

import numpy as np
import pytest
from absl import flags
from PIL import Image

from cnn_jax.data import preprocessing as prep
from tests import gpu_machine_python

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _photo(h=300, w=451, seed=0):
  """A smooth random RGB image (resizing it is not trivially exact)."""
  rng = np.random.default_rng(seed)
  small = rng.integers(0, 256, (h // 10 + 1, w // 10 + 1, 3)).astype(np.uint8)
  return Image.fromarray(small).resize((w, h), Image.BICUBIC)


@pytest.mark.parametrize(
  'size,fraction,hw',
  [
    (32, 1.0, (28, 28)),
    (24, 0.875, (300, 451)),
    (64, 0.5, (80, 60)),
    (224, 0.875, (375, 500)),
  ],
)
def test_our_eval_preprocessing_equals_the_pipelines(size, fraction, hw):
  tf = pytest.importorskip('tensorflow')
  from cnn_jax.data import augment, decode_crop, device_augment, pipeline  # pylint: disable=g-import-not-at-top
  from configs import base  # pylint: disable=g-import-not-at-top

  image = _photo(*hw)
  mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
  config = base.get_config()
  config.image_size, config.eval_crop_fraction = size, fraction
  info = pipeline.InputInfo('x', 10, (size, size, 3), {}, mean, std)
  pixels = np.asarray(image)
  # Images of one size: the train step's eval transform crops and resizes.
  theirs = device_augment.make_eval_transform(config, info)(pixels[None])[0]
  p = prep.Preprocessing(
    input_size=size, crop_fraction=fraction, mean=mean, std=std
  )
  np.testing.assert_allclose(p(image), theirs, atol=2e-4)
  # JPEG photos: the host crops, resizes and rounds to uint8 first.
  host = decode_crop.decode_crop_resize(
    tf.constant(pixels), augment.central_window(fraction), size, 3
  ).numpy()
  theirs = device_augment.make_eval_transform(config, info, host_resized=True)(
    host[None]
  )[0]
  rounded = prep.Preprocessing(
    input_size=size, crop_fraction=fraction, mean=mean, std=std, rounded=True
  )
  levels = np.abs(rounded(image) - np.asarray(theirs)) * np.float32(std) * 255
  # Equal but where a value lies within float error of a half level.
  assert levels.max() < 1.01 and (levels > 0.01).mean() < 0.01


def test_grayscale_native_size_and_read_size():
  gray = Image.fromarray(np.arange(28 * 28, dtype=np.uint8).reshape(28, 28))
  p = prep.Preprocessing(
    native_hw=(28, 28), channels=1, mean=(0.5,), std=(0.25,)
  )
  np.testing.assert_allclose(
    p(gray)[..., 0], (np.asarray(gray) / 255.0 - 0.5) / 0.25, atol=1e-6
  )
  # A colour photo for a grayscale model: luma, central square, resized.
  assert p(_photo()).shape == (28, 28, 1)
  rgb = prep.Preprocessing(
    native_hw=(28, 28),
    channels=1,
    grayscale_to_rgb=True,
    mean=(0.5,) * 3,
    std=(0.25,) * 3,
  )
  out = rgb(gray)
  assert out.shape == (28, 28, 3) and np.all(out[..., 0] == out[..., 2])
  d = prep.Preprocessing(input_size=16, read_size=20).to_dict()
  assert prep.Preprocessing.from_dict(
    json.loads(json.dumps(d))
  ) == prep.Preprocessing(input_size=16, read_size=20)
  with pytest.raises(ValueError, match='Unknown preprocessing fields'):
    prep.Preprocessing.from_dict({**d, 'size': 3})


@pytest.mark.parametrize(
  'name', ['resnet50', 'efficientnet_b3', 'inception_v3']
)
def test_torchvision_geometry_is_bit_identical(name):
  from cnn_jax.conversion import pretrained, torch_source  # pylint: disable=g-import-not-at-top

  try:
    torch_source.import_torch()
  except ImportError:
    pass
  torchvision = pytest.importorskip('torchvision')
  weights = torchvision.models.get_model_weights(name).DEFAULT
  p, where = pretrained.preprocessing(
    'torchvision', name, weights=f'/x/{os.path.basename(weights.url)}'
  )
  assert 'matched by file name' in where
  image = _photo()
  theirs = weights.transforms()(image).numpy().transpose(1, 2, 0)
  np.testing.assert_array_equal(p(image), theirs)


def test_torchvision_weights_are_told_apart_by_file_name():
  pytest.importorskip('torchvision')
  from cnn_jax.conversion import pretrained  # pylint: disable=g-import-not-at-top

  v1, _ = pretrained.preprocessing(
    'torchvision', 'resnet50', weights='resnet50-0676ba61.pth'
  )
  v2, _ = pretrained.preprocessing(
    'torchvision', 'resnet50', weights='resnet50-11ad3fa6.pth'
  )
  unknown, note = pretrained.preprocessing(
    'torchvision', 'resnet50', weights='mine.pth'
  )
  assert (v1.resize_size, v2.resize_size, unknown.resize_size) == (
    256,
    232,
    232,
  )
  assert 'not one of torchvision' in note


def test_timm_and_keras_preprocessing_follow_the_library():
  from cnn_jax.conversion import pretrained, torch_source  # pylint: disable=g-import-not-at-top

  try:
    torch_source.import_torch()
  except ImportError:
    pass
  if pytest.importorskip('timm'):
    p, _ = pretrained.preprocessing('timm', 'mobilenetv1_100')
    assert (p.input_size, p.resize_size, p.interpolation, p.mean) == (
      224,
      256,
      'bicubic',
      (0.5, 0.5, 0.5),
    )
  os.environ.setdefault('KERAS_BACKEND', 'jax')
  keras = pytest.importorskip('keras')
  pixels = (
    np.random.default_rng(0).uniform(0, 255, (2, 5, 5, 3)).astype(np.float32)
  )
  for cls, module, mode in (
    ('ResNet50', 'resnet50', 'caffe'),
    ('Xception', 'xception', 'tf'),
    ('DenseNet121', 'densenet', 'torch'),
  ):
    p, where = pretrained.preprocessing('keras', cls, native_size=224)
    assert f"mode '{mode}'" in where
    theirs = getattr(keras.applications, module).preprocess_input(pixels.copy())
    ours = p._normalize(pixels / 255.0)  # pylint: disable=protected-access
    np.testing.assert_allclose(ours, np.asarray(theirs), atol=1e-4)


# --- The CLI ---------------------------------------------------------------------


def _without_tensorflow(args, cwd=ROOT):
  """``python -m cnn_jax.predict ARGS`` as on the GPU machine (no TF)."""
  return gpu_machine_python.run(
    ['-m', 'cnn_jax.predict', *args], timeout=600, cwd=cwd, JAX_PLATFORMS='cpu'
  )


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
  """A random torchvision ResNet-18 with calibrated BN, converted by the CLI."""
  from cnn_jax.conversion import torch_source  # pylint: disable=g-import-not-at-top

  try:
    torch_source.import_torch()
  except ImportError:
    pass
  torch = pytest.importorskip('torch')
  torchvision = pytest.importorskip('torchvision')
  from cnn_jax import convert  # pylint: disable=g-import-not-at-top

  tmp = tmp_path_factory.mktemp('predict')
  torch.manual_seed(0)
  ref = torchvision.models.resnet18(weights=None)
  calibration = np.random.default_rng(0).normal(size=(16, 64, 64, 3))
  torch_source.randomize_batch_norm(ref, 0, calibration.astype(np.float32))
  weights = str(tmp / 'resnet18-f37072fd.pth')  # torchvision's file name
  torch.save(ref.state_dict(), weights)
  out = str(tmp / 'resnet18_converted')
  fv = flags.FlagValues()
  convert.define_flags(fv)
  fv(
    [
      'convert',
      '--source=torchvision',
      '--model=resnet18',
      f'--weights={weights}',
      '--input_size=64',
      f'--out={out}',
    ]
  )
  convert.run_flags(fv)
  return ref.eval(), out, torchvision


def test_predict_on_a_photo_equals_torchvision(converted, tmp_path):
  skimage_data = pytest.importorskip('skimage.data')
  ref, out, torchvision = converted
  photo = str(tmp_path / 'chelsea.png')
  Image.fromarray(skimage_data.chelsea()).save(photo)
  other = str(tmp_path / 'other.jpg')
  _photo(200, 150, seed=3).save(other)

  proc = _without_tensorflow(
    [f'--checkpoint={out}', photo, other, '--top_k=3', '--json']
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads(proc.stdout)
  assert [r['file'] for r in result['results']] == [photo, other]

  import torch  # pylint: disable=g-import-not-at-top

  transform = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
  names = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta['categories']
  for entry, path in zip(result['results'], (photo, other)):
    with torch.no_grad():
      probs = torch.softmax(
        ref(transform(Image.open(path).convert('RGB'))[None]), -1
      )[0].numpy()
    top = np.argsort(-probs)[:3]
    assert [p['index'] for p in entry['predictions']] == top.tolist()
    assert [p['class'] for p in entry['predictions']] == [names[i] for i in top]
    np.testing.assert_allclose(
      [p['probability'] for p in entry['predictions']],
      probs[top],
      rtol=1e-4,
      atol=1e-7,
    )

  table = _without_tensorflow([f'--checkpoint={out}', str(tmp_path)])
  assert table.returncode == 0, table.stderr[-3000:]
  lines = table.stdout.splitlines()
  assert lines[0] == photo and len(lines) == 2 * 6  # 2 images, top 5 each
  assert (
    lines[1].strip().endswith(result['results'][0]['predictions'][0]['class'])
  )


def test_bad_input_gets_one_clear_message(converted, tmp_path):
  _, out, _ = converted
  broken = tmp_path / 'broken.jpg'
  broken.write_bytes(b'not an image')
  proc = _without_tensorflow([f'--checkpoint={out}', str(broken)])
  assert proc.returncode == 2
  assert 'cannot be read as images' in proc.stderr
  assert 'broken.jpg' in proc.stderr
  proc = _without_tensorflow([f'--checkpoint={tmp_path}', str(broken)])
  assert proc.returncode == 2 and 'has no model.json' in proc.stderr
  proc = _without_tensorflow([f'--checkpoint={out}', str(tmp_path / 'nope')])
  assert proc.returncode == 2 and 'no such file or folder' in proc.stderr
