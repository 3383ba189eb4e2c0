"""The conversion CLI end to end, its errors, and fine-tuning from its output.

* ``python -m cnn_jax.convert`` (run in-process on fresh flags) turns a
  torchvision ResNet-18 state_dict into an Orbax checkpoint whose variables
  give the reference's logits.
* Weights that do not fit stop it with an error naming the first mismatched
  tensor and both shapes; a model wired differently from its reference stops
  it naming the first layer where the data flow differs.
* ``trainer.train_and_evaluate`` with ``init_from`` fine-tunes the converted
  ResNet-18 on Fashion-MNIST with a new 10-class head.
"""

import os

import jax
import numpy as np
import pytest
from absl import flags

# Keras must come up on the JAX backend (the converter runs it jitted).
os.environ.setdefault('KERAS_BACKEND', 'jax')

from cnn_jax import errors, models  # noqa: E402
from cnn_jax.analysis import scalars as scalars_lib  # noqa: E402
from cnn_jax.training import checkpointing, trainer  # noqa: E402
from cnn_jax.conversion import convert_lib  # noqa: E402
from cnn_jax.conversion.layer_list import ConversionError  # noqa: E402

from cnn_jax.conversion import torch_source  # noqa: E402

try:  # after TensorFlow (imported by cnn_jax.train): see import_torch.
  torch_source.import_torch()
except ImportError:
  pass
torch = pytest.importorskip('torch')
torchvision = pytest.importorskip('torchvision')

from cnn_jax import convert  # noqa: E402
from configs import resnet18_finetune_fashion_mnist  # noqa: E402

SIZE = 64  # input side of the CLI's verification pass (ImageNet stem: 2x2).


def _cli(*args) -> float:
  fv = flags.FlagValues()
  convert.define_flags(fv)
  fv(['convert', *args])
  return convert.run_flags(fv)


def _random_resnet(name, seed=0):
  torch.manual_seed(seed)
  ref = torchvision.models.get_model(name, weights=None)
  torch_source.randomize_batch_norm(ref, seed)
  return ref.eval()


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
  """A random torchvision resnet18 state_dict, converted by the CLI."""
  tmp = tmp_path_factory.mktemp('convert')
  ref = _random_resnet('resnet18')
  weights = str(tmp / 'resnet18.pth')
  torch.save(ref.state_dict(), weights)
  out = str(tmp / 'resnet18_converted')
  err = _cli(
    '--source=torchvision',
    '--model=resnet18',
    f'--weights={weights}',
    f'--input_size={SIZE}',
    f'--out={out}',
  )
  return ref, weights, out, err


def test_cli_writes_a_checkpoint_with_the_reference_logits(converted):
  ref, _, out, err = converted
  assert err < 1e-4
  variables = checkpointing.load_variables(out)
  assert variables['params']['fc']['kernel'].shape == (512, 1000)
  np.testing.assert_array_equal(
    variables['params']['conv1']['conv']['kernel'],
    ref.conv1.weight.detach().numpy().transpose(2, 3, 1, 0),
  )
  np.testing.assert_array_equal(
    variables['batch_stats']['layer4_1']['conv2']['bn']['var'],
    ref.layer4[1].bn2.running_var.numpy(),
  )
  x = np.random.default_rng(1).normal(size=(3, 48, 48, 3)).astype(np.float32)
  ours = np.asarray(
    jax.jit(lambda v, x: models.build('resnet18').apply(v, x, train=False))(
      variables, x
    )
  )
  with torch.no_grad():
    theirs = ref(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
  assert np.abs(ours - theirs).max() / np.abs(theirs).max() < 1e-4


def test_out_dir_with_a_checkpoint_is_not_overwritten(converted):
  _, weights, out, _ = converted
  with pytest.raises(FileExistsError, match='already holds a checkpoint'):
    convert_lib.save(checkpointing.load_variables(out), out)
  with pytest.raises(errors.UserError, match='already holds a checkpoint'):
    _cli(
      '--source=torchvision',
      '--model=resnet18',
      f'--weights={weights}',
      f'--out={out}',
    )


def test_logits_that_differ_more_than_allowed_are_not_written(
  converted, tmp_path
):
  _, weights, _, err = converted
  assert err > 0  # float32 rounding: the two never agree bit for bit.
  with pytest.raises(errors.UserError, match='Not written: the logits differ'):
    _cli(
      '--source=torchvision',
      '--model=resnet18',
      f'--weights={weights}',
      f'--input_size={SIZE}',
      '--max_relative_error=0',
      f'--out={tmp_path / "out"}',
    )
  assert not (tmp_path / 'out').exists()


def test_weights_of_another_model_name_the_first_extra_tensor(tmp_path):
  weights = str(tmp_path / 'resnet34.pth')
  torch.save(torchvision.models.resnet34(weights=None).state_dict(), weights)
  with pytest.raises(
    errors.UserError,
    match=r'(?s)Conversion failed: .*resnet34\.pth '
    r"has tensor 'layer1\.2\.conv1\.weight' \(shape "
    r'\(64, 64, 3, 3\)\) that ResNet does not have',
  ):
    _cli(
      '--source=torchvision',
      '--model=resnet18',
      f'--weights={weights}',
      f'--input_size={SIZE}',
      f'--out={tmp_path / "out"}',
    )
  assert not (tmp_path / 'out').exists()


def test_a_tensor_of_the_wrong_shape_names_both_shapes(converted, tmp_path):
  _, good, _, _ = converted
  state = torch.load(good, weights_only=True)
  state['conv1.weight'] = torch.zeros(64, 1, 7, 7)  # a grayscale stem
  state['fc.weight'] = torch.zeros(10, 512)  # and a 10-class head
  state['fc.bias'] = torch.zeros(10)
  weights = str(tmp_path / 'bad.pth')
  for fix, message in [
    (
      {},
      r"tensor 'conv1\.weight' has shape \(64, 1, 7, 7\), the model "
      r'expects \(64, 3, 7, 7\)',
    ),
    (
      {'conv1.weight': torch.zeros(64, 3, 7, 7)},
      r"tensor 'fc\.weight' has shape \(10, 512\), the model expects "
      r'\(1000, 512\) \(a different class count\? pass --num_classes\)',
    ),
  ]:
    state.update(fix)
    torch.save(state, weights)
    with pytest.raises(ConversionError, match=message):
      convert_lib.convert(
        'torchvision', 'resnet18', weights=weights, input_size=SIZE
      )


def test_layers_of_another_width_name_the_tensor_and_both_shapes():
  pytest.importorskip('timm')
  with pytest.raises(
    ConversionError,
    match=(
      r'Layer 1: Reference tensor conv_stem\.kernel has shape \(3, 3, 3, 40\) \(in our '
      r'layout\) but our conv_stem/conv/kernel has shape \(3, 3, 3, 32\)'
    ),
  ):
    convert_lib.convert(
      'timm',
      'mobilenetv1_100',
      reference='mobilenetv1_125',
      num_classes=10,
      input_size=32,
    )


def test_batch_norm_epsilon_must_match_and_momentum_is_reported():
  from cnn_jax.conversion import layer_list  # pylint: disable=g-import-not-at-top

  t = {k: np.ones(4, np.float32) for k in ('scale', 'bias', 'mean', 'var')}
  shapes = {k: (4,) for k in t}
  collection = {
    'scale': 'params',
    'bias': 'params',
    'mean': 'batch_stats',
    'var': 'batch_stats',
  }
  ours = layer_list.OurLayer(
    'bn', ('block', 'bn'), shapes, collection, epsilon=1e-5, momentum=0.9
  )
  keras_like = layer_list.RefLayer(
    'bn', 'block_bn', t, epsilon=1e-3, momentum=0.99
  )
  with pytest.raises(
    ConversionError,
    match=(
      r"Layer 1: Reference BatchNorm 'block_bn' has epsilon 0\.001 but our "
      r"'block/bn' has 1e-05"
    ),
  ):
    layer_list.assemble([keras_like], [ours])
  torch_like = layer_list.RefLayer(
    'bn', 'block.bn', t, epsilon=1e-5, momentum=1 - 0.01
  )  # torch momentum 0.01
  out = layer_list.assemble([torch_like], [ours])
  assert out['batch_stats']['block']['bn']['var'].shape == (4,)
  assert layer_list.momentum_mismatches([(torch_like, ours)]) == [
    'block/bn: 0.9 (reference block.bn: 0.99)'
  ]


def test_torch_parameters_outside_known_layers():
  """A block's own per-channel parameter (torchvision ConvNeXt's
  ``layer_scale``) is a layer scale, recorded after the block's layers; any
  other parameter the converter does not know stops it, named."""

  class Block(torch.nn.Module):
    def __init__(self, shape):
      super().__init__()
      self.norm = torch.nn.LayerNorm(3, eps=1e-6)
      self.fc = torch.nn.Linear(3, 3)
      self.layer_scale = torch.nn.Parameter(torch.full(shape, 0.5))

    def forward(self, x):  # NCHW in: per-channel scale of a linear branch
      y = self.fc(self.norm(x.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
      return x + self.layer_scale * y

  layers = torch_source.reference_layers(Block((3, 1, 1)), (2, 2, 3))
  assert [(l.kind, l.name) for l in layers] == [
    ('ln', 'norm'),
    ('dense', 'fc'),
    ('scale', 'layer_scale'),
  ]
  assert layers[0].epsilon == 1e-6
  np.testing.assert_array_equal(layers[2].tensors['gamma'], [0.5] * 3)
  with pytest.raises(ConversionError, match=r'layer_scale \(shape \(2, 2\)\)'):
    torch_source.reference_layers(Block((2, 2)), (2, 2, 3))


def test_keras_model_wired_differently_names_the_first_layer():
  """Keras MobileNet pads 'SAME'; timm's (our mobilenetv1_100) symmetrically.

  Same layers and shapes, so pairing in order would succeed; the data flow
  shows the stem conv's output (the input of its BN) differs.
  """
  pytest.importorskip('keras')
  with pytest.raises(
    ConversionError,
    match=(
      r"(?s)Our layer 'conv_stem/bn' .* matches no unused reference bn "
      r"layer's input: the models are wired differently here or just before"
      r".*nearest unused one, 'conv1_bn'"
    ),
  ):
    convert_lib.convert(
      'keras',
      'mobilenetv1_100',
      reference='MobileNet',
      num_classes=10,
      input_size=32,
    )


# Keras' own weight saving warns about NumPy 2's __array__(copy=...).
@pytest.mark.filterwarnings('ignore::DeprecationWarning')
@pytest.mark.filterwarnings('ignore:Skipping nested container')
def test_keras_weights_file_that_does_not_fit(tmp_path):
  keras = pytest.importorskip('keras')
  from cnn_jax.conversion import keras_source  # pylint: disable=g-import-not-at-top

  del keras
  model = keras_source.build_reference('mobilenet_keras', (32, 32, 3), 1000)
  weights = str(tmp_path / 'mobilenet_1000.weights.h5')
  model.save_weights(weights)
  with pytest.raises(
    ConversionError,
    match=(
      r'(?s)does not fit keras\.applications\.MobileNet .* 10 classes: .*'
      r'conv_preds.*\(1, 1, 1024, 10\).*\(1, 1, 1024, 1000\)'
    ),
  ):
    convert_lib.convert(
      'keras', 'mobilenet_keras', weights=weights, num_classes=10, input_size=32
    )


# Keras' own weight saving warns about NumPy 2's __array__(copy=...).
@pytest.mark.filterwarnings('ignore::DeprecationWarning')
@pytest.mark.filterwarnings('ignore:Skipping nested container')
def test_keras_legacy_h5_weights_convert(tmp_path):
  """The HDF5 layout keras.applications publishes its ImageNet weights in."""
  pytest.importorskip('keras')
  h5py = pytest.importorskip('h5py')
  from keras.src.legacy.saving import legacy_h5_format  # pylint: disable=g-import-not-at-top
  from cnn_jax.conversion import keras_source  # pylint: disable=g-import-not-at-top

  model = keras_source.build_reference('mobilenet_keras', (32, 32, 3), 10)
  keras_source.randomize_batch_norm(model, seed=3)
  weights = str(tmp_path / 'mobilenet_legacy.h5')
  with h5py.File(weights, 'w') as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, model)
  result = convert_lib.convert(
    'keras', 'mobilenet_keras', weights=weights, num_classes=10, input_size=32
  )
  assert result.relative_error < 1e-4
  np.testing.assert_array_equal(
    result.variables['params']['conv_pw_13']['bn']['scale'],
    np.asarray(model.get_layer('conv_pw_13_bn').gamma.value),
  )


@pytest.mark.slow  # about a minute: compiles a ResNet-18 train step and
# evaluates the 10,000 test images (train_and_evaluate always does).
def test_fine_tunes_on_fashion_mnist_with_a_new_head(converted, tmp_path):
  _, _, out, _ = converted
  saved = checkpointing.load_variables(out)['params']
  config = resnet18_finetune_fashion_mnist.get_config()
  config.init_from = out
  config.image_size = 32
  config.num_train_steps = 20
  config.batch_size = 32
  config.validation_examples = 1000
  config.eval_batch_size = 1000
  config.eval_every_epochs = 1000.0
  config.log_every_steps = 10
  config.checkpoint_every_steps = 1000
  config.shuffle_buffer = 1000

  # The state training starts from: converted body, fresh 10-class head.
  import optax  # pylint: disable=g-import-not-at-top
  from cnn_jax.training import train_step  # pylint: disable=g-import-not-at-top

  model = trainer.build_model(config, 10)
  state = train_step.create_train_state(
    model, optax.sgd(0.01), (32, 32, 3), jax.random.key(config.seed)
  )
  start = trainer.init_from_checkpoint(state, out)
  assert start.params['fc']['kernel'].shape == (512, 10)
  np.testing.assert_array_equal(
    start.params['fc']['kernel'], state.params['fc']['kernel']
  )
  np.testing.assert_array_equal(
    start.params['conv1']['conv']['kernel'], saved['conv1']['conv']['kernel']
  )
  np.testing.assert_array_equal(
    start.params['layer4_1']['conv2']['conv']['kernel'],
    saved['layer4_1']['conv2']['conv']['kernel'],
  )

  workdir = str(tmp_path / 'finetune')
  results = trainer.train_and_evaluate(config, workdir)
  assert results['step'] == 20
  assert results['num_params'] == 11_181_642  # resnet18 with 10 classes
  assert results['test']['num_examples'] == 10_000
  assert np.isfinite(results['test']['loss'])
  # The converted weights are random (nothing is downloaded): 20 steps only
  # show that the new head learns (train loss 2.0 at step 10, 1.4 at step
  # 20; test accuracy 22.5% when written).
  losses = [v for _, v in scalars_lib.read_scalars(workdir)['train_loss']]
  assert len(losses) == 2 and losses[1] < losses[0]
  assert results['test']['accuracy'] > 0.15  # 10 classes: chance is 0.1
  trained = checkpointing.load_variables(workdir)['params']
  assert trained['fc']['kernel'].shape == (512, 10)
  moved = trained['conv1']['conv']['kernel'] - saved['conv1']['conv']['kernel']
  assert np.isfinite(moved).all() and np.abs(moved).max() > 0  # fine-tuned


def test_dataflow_pairing_ignores_reference_order_except_for_ties():
  """Layers listed in any order pair by their inputs; ties by list order."""
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  from cnn_jax.conversion import layer_list  # pylint: disable=g-import-not-at-top

  class Toy(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
      x = nn.relu(
        nn.BatchNorm(not train, name='bn0')(nn.Conv(8, (3, 3), name='stem')(x))
      )
      a = nn.Conv(4, (1, 1), name='a')(x)  # a and b: same input and shapes
      b = nn.Conv(4, (1, 1), name='b')(x)
      c = nn.Conv(8, (3, 3), name='c')(nn.relu(a))  # c: another shape
      y = jnp.concatenate([c + x, b], -1)
      return nn.Dense(3, name='head')(y.mean((1, 2)))

  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  model = Toy()
  x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
  variables = model.init(jax.random.key(0), x)
  variables = jax.tree.map(
    lambda v: v + np.random.default_rng(1).uniform(0.5, 1, v.shape), variables
  )
  inputs = {}

  def record(next_fun, args, kwargs, context):
    inputs[context.module.name] = np.asarray(args[0])
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    logits = model.apply(variables, x)
  ref = {}
  for name, kind in (
    ('stem', 'conv'),
    ('bn0', 'bn'),
    ('a', 'conv'),
    ('b', 'conv'),
    ('c', 'conv'),
    ('head', 'dense'),
  ):
    tensors = dict(variables['params'][name])
    tensors.update(variables.get('batch_stats', {}).get(name, {}))
    ref[name] = layer_list.RefLayer(kind, name, tensors, input=inputs[name])

  shuffled = [ref[n] for n in ('head', 'c', 'a', 'bn0', 'b', 'stem')]
  out, ours = layer_list.assemble_by_dataflow(shuffled, model, x)
  np.testing.assert_allclose(ours, logits, rtol=1e-5, atol=1e-6)
  for name in ('stem', 'a', 'b', 'c', 'head'):
    np.testing.assert_array_equal(
      out['params'][name]['kernel'], variables['params'][name]['kernel']
    )

  # a and b cannot be told apart by their input: list order decides.
  swapped = [ref[n] for n in ('stem', 'bn0', 'b', 'a', 'c', 'head')]
  with pytest.raises(ConversionError, match="Our layer 'c' .* matches no"):
    layer_list.assemble_by_dataflow(swapped, model, x)
