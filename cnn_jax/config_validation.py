"""Checks a whole config before any work and reports every problem at once.

:data:`FIELDS` is the schema of ``configs/base.py``: each field's type,
whether it may be unset (None), its range or allowed values, what it means,
and whether it changes a run's result (used to warn when a run is resumed
with another config, ``training.run_record``). :func:`validate` checks the
values against it, then combinations that no single field shows (batch vs
devices, augmentations vs image size, mean/std vs channels, image size vs the
smallest input the model takes...), and raises one :class:`ConfigError`
listing every problem with what to do.

Three stages, each as early as its facts are known:

* ``validate(config)``: the config alone (no JAX backend, no data); the CLI
  runs it before anything starts.
* ``validate(config, devices=..., process_count=..., model_input=True)``: the
  devices and the model (traced, not run), before the data is read.
* ``validate_with_data(config, info)``: the dataset's sizes and classes.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from typing import Any, Callable, Optional, Sequence

import ml_collections

from cnn_jax import errors


class ConfigError(errors.UserError, ValueError):
  """One or more config values are wrong; the message lists them all."""

  def __init__(self, problems: Sequence[str]):
    self.problems = list(problems)
    if len(self.problems) == 1:
      message = f'Bad config: {self.problems[0]}'
    else:
      message = f'Bad config ({len(self.problems)} problems):\n' + '\n'.join(
        f'  - {p}' for p in self.problems
      )
    super().__init__(message)


def _model_names() -> list[str]:
  from cnn_jax import models  # pylint: disable=g-import-not-at-top

  return models.known_models()


def _dataset_names() -> list[str]:
  from cnn_jax.data import datasets  # pylint: disable=g-import-not-at-top

  return sorted(datasets.DATASETS) + ['image_folder']


def _augmentations() -> list[str]:
  from cnn_jax.data import augment  # pylint: disable=g-import-not-at-top

  return list(augment.AUGMENTATIONS)


def _cpu_tunings() -> list[str]:
  from cnn_jax.ops import cpu_tuning  # pylint: disable=g-import-not-at-top

  return list(cpu_tuning.TUNINGS)


@dataclasses.dataclass(frozen=True)
class Field:
  """One config field: what values it takes and what it means."""

  type: type  # int, float, str, bool, tuple or ml_collections.ConfigDict.
  meaning: str
  optional: bool = False  # None allowed (means "not set").
  low: Optional[float] = None  # inclusive unless low_open.
  high: Optional[float] = None  # inclusive unless high_open.
  low_open: bool = False
  high_open: bool = False
  choices: Optional[Callable[[], Sequence[str]] | tuple[str, ...]] = None
  length: Optional[tuple[int, ...]] = None  # allowed tuple lengths.
  changes_result: bool = True  # False: logging, paths, speed, saving.

  def allowed(self) -> str:
    """The allowed values in words, e.g. 'an integer >= 1, or None'."""
    names = {
      int: 'an integer',
      float: 'a number',
      str: 'a string',
      bool: 'True or False',
      tuple: 'a tuple',
      ml_collections.ConfigDict: 'a ConfigDict',
    }
    text = names.get(self.type, self.type.__name__)
    low, high = _bound(self.low), _bound(self.high)
    if self.low is not None and self.high is not None:
      text += (
        f' in {"(" if self.low_open else "["}{low}, '
        f'{high}{")" if self.high_open else "]"}'
      )
    elif self.low is not None:
      text += f' {">" if self.low_open else ">="} {low}'
    elif self.high is not None:
      text += f' {"<" if self.high_open else "<="} {high}'
    if self.length is not None:
      text += ' of length ' + ' or '.join(str(n) for n in self.length)
    if self.optional:
      text += ', or None'
    return text


def _bound(x: Optional[float]) -> str:
  """A range bound as typed: 2147483647, not 2.14748e+09."""
  if x is None:
    return ''
  return str(int(x)) if float(x).is_integer() else f'{x:g}'


def _f(type_, meaning, **kw) -> Field:
  return Field(type_, meaning, **kw)


# The schema of configs/base.py (tests check that both list the same fields).
FIELDS: dict[str, Field] = {
  # Model
  'model': _f(str, 'a registered model name', choices=_model_names),
  'model_kwargs': _f(
    ml_collections.ConfigDict, "extra arguments to the model's constructor"
  ),
  'num_classes': _f(
    int,
    "classifier outputs (None: the dataset's class count)",
    optional=True,
    low=2,
  ),
  'dtype': _f(
    str,
    'compute dtype (parameters stay float32)',
    choices=('float32', 'bfloat16'),
  ),
  'aux_loss_weight': _f(float, 'weight of auxiliary classifier losses', low=0),
  # Data
  'dataset': _f(str, 'the dataset', choices=_dataset_names),
  'image_folder': _f(
    str,
    "dataset='image_folder': the folder of train/<class>/*.jpg",
    optional=True,
  ),
  'skip_unreadable_images': _f(
    bool,
    "dataset='image_folder': leave out files that cannot be read as images "
    '(listed in WORKDIR/unreadable_images.txt) instead of stopping',
  ),
  'data_dir': _f(
    str,
    'TFDS data directory (None: $TFDS_DATA_DIR or ~/tensorflow_datasets)',
    optional=True,
    changes_result=False,
  ),
  'manual_dir': _f(
    str,
    'directory of manually downloaded files',
    optional=True,
    changes_result=False,
  ),
  'download': _f(
    bool, 'let TFDS download a missing dataset', changes_result=False
  ),
  'validation_examples': _f(
    int,
    'examples carved from the end of the training split for validation',
    low=0,
  ),
  'validation_fraction': _f(
    float,
    'fraction of the training split held '
    'out for validation (None: '
    'validation_examples)',
    optional=True,
    low=0,
    high=1,
    high_open=True,
  ),
  'image_size': _f(
    int, "side of the model input (None: the dataset's)", optional=True, low=1
  ),
  'grayscale_to_rgb': _f(bool, 'repeat 1-channel images to 3 channels'),
  'augment': _f(str, 'comma-separated training augmentations'),
  'crop_padding': _f(int, 'padding of crop_pad, in pixels', low=0),
  'rrc_scale': _f(tuple, 'area range of rrc / inception_crop', length=(2,)),
  'rrc_ratio': _f(
    tuple, 'aspect-ratio range of rrc / inception_crop', length=(2,)
  ),
  'eval_crop_fraction': _f(
    float,
    'central crop before resizing at evaluation',
    low=0,
    high=1,
    low_open=True,
  ),
  'eval_image_size': _f(
    int,
    'side of the evaluation input (None: image_size)',
    optional=True,
    low=1,
  ),
  'mean': _f(tuple, "per-channel mean, 0-1 scale (): the dataset's)"),
  'std': _f(tuple, "per-channel std (): the dataset's)"),
  'input_pipeline': _f(
    str,
    "input path: 'device' (arrays on the devices, "
    "augmented in JAX), 'tfdata', or 'auto'",
    choices=('auto', 'device', 'tfdata'),
  ),
  'auto_augment': _f(
    str,
    'automatic augmentation policy (either input path)',
    optional=True,
    choices=('randaugment', 'trivialaugment', 'autoaugment'),
  ),
  'randaugment_num_ops': _f(int, 'RandAugment: ops per image (N)', low=0),
  'color_jitter': _f(
    float,
    "torchvision's ColorJitter strength for brightness, contrast and "
    'saturation (either input path)',
    optional=True,
    low=0,
  ),
  'randaugment_magnitude': _f(
    int, 'RandAugment: magnitude (M) of 31 levels', low=0, high=30
  ),
  'aug_repeats': _f(
    int,
    'copies of each drawn image per epoch (repeated augmentation; 1: off)',
    low=1,
  ),
  'random_erasing': _f(
    float,
    'probability of random erasing per example (None: off)',
    optional=True,
    low=0,
    high=1,
  ),
  'random_erasing_mode': _f(
    str,
    "random erasing fill: 'pixel' (normal noise) or 'const' (zeros)",
    choices=('pixel', 'const'),
  ),
  'shuffle_buffer': _f(int, 'examples in the shuffle buffer', low=1),
  'cache': _f(
    bool,
    'tf.data: cache the examples as read (ImageNet: JPEG bytes) in memory',
    changes_result=False,
  ),
  'synthetic_shape': _f(
    tuple, 'image shape (H, W, C) of the synthetic dataset', length=(3,)
  ),
  'synthetic_classes': _f(int, 'classes of the synthetic dataset', low=2),
  'synthetic_examples': _f(
    int, 'training examples of the synthetic dataset', low=1
  ),
  # Optimization
  'batch_size': _f(
    int, 'the global training batch (over all devices and processes)', low=1
  ),
  'eval_batch_size': _f(
    int, 'the global evaluation batch', low=1, changes_result=False
  ),
  'num_epochs': _f(float, 'length of training in epochs', low=0, low_open=True),
  'num_train_steps': _f(
    int,
    'length of training in steps (replaces num_epochs)',
    optional=True,
    low=1,
  ),
  'optimizer': _f(
    str, 'the optimizer', choices=('sgd', 'adam', 'adamw', 'rmsprop')
  ),
  'learning_rate': _f(float, 'peak learning rate', low=0),
  'lr_scaling_base_batch': _f(
    int, 'linear scaling rule base batch (0: off)', low=0
  ),
  'momentum': _f(float, 'SGD/RMSProp momentum', low=0, high=1, high_open=True),
  'nesterov': _f(bool, 'Nesterov momentum (SGD)'),
  'b1': _f(float, 'Adam beta1', low=0, high=1, high_open=True),
  'b2': _f(float, 'Adam beta2', low=0, high=1, high_open=True),
  'rmsprop_decay': _f(float, 'RMSProp decay', low=0, high=1, high_open=True),
  'rmsprop_eps': _f(float, 'RMSProp epsilon', low=0, low_open=True),
  'rmsprop_eps_in_sqrt': _f(
    bool, 'RMSProp epsilon inside the square root (TensorFlow) or outside'
  ),
  'rmsprop_initial_scale': _f(
    float, "RMSProp's initial mean square (TensorFlow 1: 1)", low=0
  ),
  'weight_decay': _f(float, 'weight decay coefficient', low=0),
  'weight_decay_on_bn_and_bias': _f(
    bool, 'decay BatchNorm parameters and biases too'
  ),
  'norm_weight_decay': _f(
    float,
    'weight decay of BatchNorm/LayerNorm scale and bias, all else by '
    'weight_decay (None: weight_decay_on_bn_and_bias decides)',
    optional=True,
    low=0,
  ),
  'lr_schedule': _f(
    str,
    'learning-rate schedule',
    choices=('constant', 'cosine', 'linear', 'multistep', 'exponential'),
  ),
  'lr_boundaries': _f(
    tuple,
    'multistep: epochs at which the learning rate '
    'is multiplied by lr_decay_factor',
  ),
  'lr_decay_factor': _f(
    float, 'multistep/exponential decay factor', low=0, low_open=True
  ),
  'lr_decay_epochs': _f(
    float, 'exponential: epochs per decay', low=0, low_open=True
  ),
  'warmup_epochs': _f(float, 'linear warmup, in epochs', low=0),
  'warmup_start_factor': _f(
    float, 'fraction of the lr the warmup starts from', low=0, high=1
  ),
  'lr_per_epoch': _f(
    bool,
    'the learning rate changes once per epoch, at its start (torchvision '
    'steps its schedulers per epoch); False: every step',
  ),
  'label_smoothing': _f(
    float, 'label smoothing', low=0, high=1, high_open=True
  ),
  'mixup_alpha': _f(
    float,
    'mixup Beta(alpha, alpha) (None: off)',
    optional=True,
    low=0,
    low_open=True,
  ),
  'cutmix_alpha': _f(
    float,
    'CutMix Beta(alpha, alpha) (None: off)',
    optional=True,
    low=0,
    low_open=True,
  ),
  'mix_prob': _f(
    float, 'probability that a batch is mixed (mixup/CutMix)', low=0, high=1
  ),
  'mix_switch_prob': _f(
    float, 'probability of CutMix when both are set', low=0, high=1
  ),
  'ema_decay': _f(
    float,
    'moving-average decay of the weights (None: off)',
    optional=True,
    low=0,
    high=1,
    high_open=True,
  ),
  'ema_warmup': _f(bool, 'EMA decay min(ema_decay, (1+step)/(10+step))'),
  'ema_every_steps': _f(
    int, 'update the moving average every this many steps', low=1
  ),
  'ema_reset_in_warmup': _f(
    bool,
    'the moving average restarts from the weights until the lr warmup ends',
  ),
  'grad_accum_steps': _f(
    int, 'micro-batches per optimizer update (gradient accumulation)', low=1
  ),
  'grad_clip_norm': _f(float, 'global gradient-norm clip (0: off)', low=0),
  'precise_bn_steps': _f(
    int,
    'training batches whose average BatchNorm statistics replace the running '
    'ones after the last step (0: off)',
    low=0,
  ),
  # Distribution
  'num_devices': _f(
    int,
    'devices to use (None: all)',
    optional=True,
    low=1,
    changes_result=False,
  ),
  'bn_group_size': _f(
    int, 'examples per BatchNorm group (0: the whole batch)', low=0
  ),
  'conv_impl': _f(
    str,
    "convolutions and pooling: 'auto' (oneDNN on CPU when built, "
    "XLA's elsewhere) or 'xla' (XLA's everywhere)",
    choices=('auto', 'xla'),
    changes_result=False,
  ),
  'cpu_tuning': _f(
    str, 'XLA:CPU settings', choices=_cpu_tunings, changes_result=False
  ),
  'host_devices': _f(
    int,
    'XLA devices to split the CPU into (0: one)',
    low=0,
    high=1024,  # XLA takes an int32 and starts every device at once.
    changes_result=False,
  ),
  # Run
  'seed': _f(int, 'random seed', low=0, high=2**31 - 1),
  'log_every_steps': _f(
    int, 'steps between log lines', low=1, changes_result=False
  ),
  'eval_every_epochs': _f(
    float,
    'epochs between evaluations (None: only at the end)',
    optional=True,
    low=0,
    low_open=True,
    changes_result=False,
  ),
  'checkpoint_every_steps': _f(
    int, 'steps between checkpoints', low=1, changes_result=False
  ),
  'keep_checkpoints': _f(
    int, 'latest checkpoints kept', low=1, changes_result=False
  ),
  'eval_only': _f(
    bool, "only evaluate the workdir's checkpoint", changes_result=False
  ),
  'init_from': _f(
    str,
    'checkpoint directory a new run starts from',
    optional=True,
    changes_result=False,
  ),
  'debug': _f(
    bool, 'NaN checks and no implicit transfers', changes_result=False
  ),
}


def closest(name: str, candidates: Sequence[str]) -> str:
  """' Did you mean X?' for the closest candidate, or ''."""
  match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
  return f' Did you mean {match[0]!r}?' if match else ''


def _type_ok(value: Any, field: Field) -> bool:
  if field.type is float:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
  if field.type is int:
    return isinstance(value, int) and not isinstance(value, bool)
  if field.type is tuple:
    return isinstance(value, (tuple, list))
  return isinstance(value, field.type)


def _range_ok(value: float, field: Field) -> bool:
  if isinstance(value, float) and not math.isfinite(value):
    return False
  if field.low is not None and (
    value < field.low or (field.low_open and value == field.low)
  ):
    return False
  if field.high is not None and (
    value > field.high or (field.high_open and value == field.high)
  ):
    return False
  return True


def _choices(field: Field) -> list[str]:
  c = field.choices
  return list(c() if callable(c) else c)


def check_field(name: str, value: Any) -> Optional[str]:
  """The problem with ``value`` for field ``name`` alone, or None."""
  field = FIELDS[name]
  if value is None:
    return (
      None
      if field.optional
      else (f'{name} must be set: {field.allowed()} ({field.meaning}).')
    )
  if not _type_ok(value, field):
    return (
      f'{name}={value!r} is a {type(value).__name__}; it takes '
      f'{field.allowed()} ({field.meaning}).'
    )
  if (
    field.type is str
    and field.optional
    and field.choices is None
    and not value.strip()
  ):
    return (
      f'{name}={value!r} is empty ({field.meaning}); give a value, or None '
      'to leave it unset.'
    )
  if field.type in (int, float) and not _range_ok(value, field):
    return f'{name}={value!r}: must be {field.allowed()} ({field.meaning}).'
  if field.length is not None and len(value) not in field.length:
    return (
      f'{name}={tuple(value)!r}: must be {field.allowed()} ({field.meaning}).'
    )
  if field.choices is not None:
    choices = _choices(field)
    if value not in choices:
      if name == 'model':
        return (
          f'Unknown model {value!r}.{closest(value, choices)} '
          '`python -m cnn_jax.summary --list` lists the '
          f'{len(choices)} registered models.'
        )
      return (
        f'{name}={value!r} is not one of: {", ".join(choices)}.'
        f'{closest(value, choices)}'
      )
  return None


def _numbers(values) -> bool:
  return all(
    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    for v in values
  )


def _channels(config) -> Optional[int]:
  """Channels of the model input, or None if the dataset is unknown."""
  from cnn_jax.data import datasets  # pylint: disable=g-import-not-at-top

  if config.dataset == 'synthetic':
    shape = tuple(config.synthetic_shape)
  elif config.dataset in datasets.DATASETS:
    shape = datasets.DATASETS[config.dataset].image_shape
  else:
    return None
  channels = shape[2] if len(shape) == 3 else None
  if channels == 1 and config.grayscale_to_rgb:
    channels = 3
  return channels


def input_side(config) -> Optional[int]:
  """Side of the square model input: image_size or the dataset's native one."""
  from cnn_jax.data import datasets  # pylint: disable=g-import-not-at-top

  if config.image_size is not None:
    return config.image_size
  if config.dataset == 'synthetic':
    return min(tuple(config.synthetic_shape)[:2])
  if config.dataset in datasets.DATASETS:
    return min(datasets.DATASETS[config.dataset].image_shape[:2])
  return None


def _combination_problems(config, bad: set[str]) -> list[str]:
  """Problems of fields taken together (each field alone is fine)."""
  p = []
  ok = lambda *names: not bad.intersection(names)  # noqa: E731

  if ok('augment', 'image_size'):
    names = [a.strip() for a in config.augment.split(',') if a.strip()]
    known = _augmentations()
    unknown = list(dict.fromkeys(a for a in names if a not in known))
    if unknown:  # one line, however many
      hints = ''.join(closest(a, known) for a in unknown)
      p.append(
        f'augment: unknown augmentation {", ".join(map(repr, unknown))}; '
        f'known: {", ".join(known)}.{hints}'
      )
    resizing = [a for a in names if a in ('rrc', 'inception_crop')]
    if resizing and config.image_size is None:
      p.append(
        f'augment={config.augment!r}: {resizing[0]} resizes its crop '
        'to image_size; set --config.image_size (e.g. 224 for '
        'ImageNet, the native side for small datasets).'
      )
    if len(resizing) > 1:  # the host decodes one crop window per image
      p.append(
        f'augment={config.augment!r}: {" and ".join(resizing)} each pick '
        'the region to keep; use one of them.'
      )
  if ok('rrc_scale') and (
    not _numbers(config.rrc_scale)
    or not (0 < config.rrc_scale[0] <= config.rrc_scale[1] <= 1)
  ):
    p.append(
      f'rrc_scale={tuple(config.rrc_scale)!r}: must be (low, high) '
      'with 0 < low <= high <= 1 (fractions of the image area).'
    )
  if ok('rrc_ratio') and (
    not _numbers(config.rrc_ratio)
    or not (0 < config.rrc_ratio[0] <= config.rrc_ratio[1])
  ):
    p.append(
      f'rrc_ratio={tuple(config.rrc_ratio)!r}: must be (low, high) '
      'with 0 < low <= high (width / height).'
    )
  channels = (
    _channels(config)
    if ok('dataset', 'synthetic_shape', 'grayscale_to_rgb')
    else None
  )
  for name in ('mean', 'std'):
    if name in bad:
      continue
    values = tuple(getattr(config, name))
    if not values:
      continue
    if not _numbers(values):
      p.append(f'{name}={values!r}: must be numbers (0-1 scale).')
    elif channels and len(values) not in (1, channels):
      give = '1 value' if channels == 1 else f'1 or {channels}'
      p.append(
        f'{name}={values!r}: {len(values)} values for {channels}-'
        f"channel inputs; give {give} (or () for the dataset's)."
      )
    elif name == 'std' and min(values) <= 0:
      p.append(f'std={values!r}: must be > 0.')
  if ok('synthetic_shape') and not (
    all(
      isinstance(v, int) and not isinstance(v, bool) and v >= 1
      for v in config.synthetic_shape
    )
    and tuple(config.synthetic_shape)[2:] in ((1,), (3,))
  ):
    p.append(
      f'synthetic_shape={tuple(config.synthetic_shape)!r}: must be '
      '(H, W, C) with H, W >= 1 and C 1 or 3.'
    )
  if ok('lr_boundaries'):
    b = tuple(config.lr_boundaries)
    if not _numbers(b) or any(x <= 0 for x in b) or list(b) != sorted(b):
      p.append(f'lr_boundaries={b!r}: must be increasing epochs > 0.')
    elif (
      config.lr_schedule == 'multistep'
      and ok('num_epochs')
      and config.num_train_steps is None
      and b
      and b[-1] >= config.num_epochs
    ):
      p.append(
        f'lr_boundaries={b!r}: the last boundary is not before the end'
        f' of training (num_epochs={config.num_epochs}).'
      )
  if ok('warmup_epochs', 'num_epochs', 'num_train_steps') and (
    config.num_train_steps is None
    and config.warmup_epochs > 0
    and config.warmup_epochs >= config.num_epochs
  ):
    p.append(
      f'warmup_epochs={config.warmup_epochs} is not shorter than the '
      f'run (num_epochs={config.num_epochs}): the learning rate would '
      'never reach its peak.'
    )
  if (
    ok('nesterov', 'momentum', 'optimizer')
    and config.nesterov
    and (config.optimizer == 'sgd' and config.momentum == 0)
  ):
    p.append(
      'nesterov=True needs momentum > 0 (SGD ignores it without momentum).'
    )
  if ok('ema_decay', 'ema_every_steps', 'ema_reset_in_warmup') and (
    config.ema_decay is None
    and (config.ema_every_steps > 1 or config.ema_reset_in_warmup)
  ):
    p.append(
      'ema_every_steps / ema_reset_in_warmup shape the moving average of '
      'the weights: set ema_decay too (e.g. 0.9999).'
    )
  if (
    ok('bn_group_size', 'batch_size')
    and config.bn_group_size > 0
    and (config.batch_size % config.bn_group_size)
  ):
    p.append(
      f'bn_group_size={config.bn_group_size} does not divide '
      f'batch_size={config.batch_size}; use a divisor of the batch.'
    )
  if ok('grad_accum_steps', 'batch_size', 'bn_group_size'):
    k = config.grad_accum_steps
    if config.batch_size % k:
      p.append(
        f'grad_accum_steps={k} does not divide batch_size='
        f'{config.batch_size}; use a divisor of the batch.'
      )
    elif (
      k > 1
      and config.bn_group_size > 0
      and (config.batch_size // k) % config.bn_group_size
    ):
      p.append(
        f'bn_group_size={config.bn_group_size} does not divide the '
        f'micro-batch of {config.batch_size // k} (batch_size / '
        'grad_accum_steps); use a divisor of it.'
      )
  if (
    ok('host_devices', 'num_devices')
    and config.host_devices
    and (
      config.num_devices is not None
      and config.num_devices > config.host_devices
    )
  ):
    p.append(
      f'num_devices={config.num_devices} is more than the '
      f'host_devices={config.host_devices} the CPU is split into.'
    )
  if ok('model', 'model_kwargs', 'dtype'):
    p.extend(_model_kwargs_problems(config))
  return p


def _model_kwargs_problems(config) -> list[str]:
  from cnn_jax import models  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  kwargs = config.model_kwargs.to_dict() if config.model_kwargs else {}
  try:
    models.build(
      config.model, num_classes=10, dtype=jnp.dtype(config.dtype), **kwargs
    )
  except TypeError as e:
    return [
      f'model_kwargs={kwargs!r}: {config.model} does not take them ({e}).'
    ]
  except ValueError as e:  # arguments it takes, values it refuses
    given = {k: v for k, v in kwargs.items() if v is not None}
    return [f'model_kwargs={given!r}: {config.model}: {e}']
  return []


def _device_problems(config, num_devices: int, process_count: int) -> list[str]:
  p = []
  n = num_devices
  if config.num_devices is not None:
    if config.num_devices > num_devices:
      p.append(
        f'num_devices={config.num_devices}, but only {num_devices} '
        'devices are visible (on CPU, --config.host_devices=N splits '
        'the CPU into N devices).'
      )
    elif process_count > 1 and config.num_devices != num_devices:
      p.append(
        f'num_devices={config.num_devices}: a run over {process_count}'
        f' processes must use all {num_devices} devices (leave '
        'num_devices unset).'
      )
    else:
      n = config.num_devices
  for name in ('batch_size', 'eval_batch_size'):
    value = getattr(config, name)
    if value % n:
      p.append(
        f'{name}={value} does not divide over the {n} devices; use a '
        f'multiple of {n} (e.g. {(value // n + 1) * n}) or set '
        '--config.num_devices.'
      )
    elif value % process_count:
      p.append(
        f'{name}={value} does not divide over {process_count} processes.'
      )
  return p


def _model_input_problems(config) -> list[str]:
  """image_size (or the dataset's) vs the smallest input the model takes."""
  from cnn_jax import models  # pylint: disable=g-import-not-at-top
  from cnn_jax.analysis import input_size  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  side, channels = input_side(config), _channels(config)
  if side is None or channels is None:
    return []
  reference = models.get_spec(config.model).input_shape
  if side >= min(reference[:2]):
    return []
  kwargs = dict(config.model_kwargs.to_dict() if config.model_kwargs else {})
  model = models.build(
    config.model,
    num_classes=config.num_classes or 10,
    dtype=jnp.dtype(config.dtype),
    **kwargs,
  )
  problem = input_size.input_size_problem(model, (side, side, channels))
  if problem is None:
    return []
  smallest = input_size.min_input_size(
    config.model, channels, num_classes=config.num_classes or 10, **kwargs
  )
  what = (
    'image_size'
    if config.image_size is not None
    else f"the {config.dataset} images' native size"
  )
  return [
    f'{what} {side} is too small for {config.model}: {problem}. It '
    f'takes at least {smallest}x{smallest} (its reference input is '
    f'{reference[0]}x{reference[1]}); set --config.image_size='
    f'{smallest} or more.'
  ]


def problems(
  config,
  *,
  devices: Optional[int] = None,
  process_count: int = 1,
  model_input: bool = False,
) -> list[str]:
  """Every problem of ``config`` (an empty list if there is none).

  Args:
    config: the run's ConfigDict.
    devices: the number of visible devices, for batch/device checks (None:
      skip them).
    process_count: the number of processes of the run.
    model_input: also check the input size against the model (traces the
      model: needs JAX's backend, so not before ``cpu_tuning.configure``).
  """
  found = []
  keys = list(config.keys())
  for name in keys:
    if name not in FIELDS:
      found.append(
        f'unknown field {name!r}.{closest(name, list(FIELDS))} '
        'configs/base.py lists every field.'
      )
  bad = set()
  for name in FIELDS:
    if name not in keys:
      found.append(
        f'field {name!r} is missing: configs derive from '
        'configs/base.py, which defines it.'
      )
      bad.add(name)
      continue
    problem = check_field(name, config[name])
    if problem:
      found.append(problem)
      bad.add(name)
  combined = _combination_problems(config, bad)
  found.extend(combined)
  # Checks of several fields run only where those fields are sound.
  if devices is not None and not bad.intersection(
    ('batch_size', 'eval_batch_size', 'num_devices')
  ):
    found.extend(_device_problems(config, devices, process_count))
  if (
    model_input
    and not combined
    and not bad.intersection(
      (
        'model',
        'model_kwargs',
        'dtype',
        'num_classes',
        'dataset',
        'image_size',
        'synthetic_shape',
        'grayscale_to_rgb',
      )
    )
  ):
    found.extend(_model_input_problems(config))
  return found


def validate(config, **kwargs) -> None:
  """Raises :class:`ConfigError` listing every problem; see :func:`problems`."""
  found = problems(config, **kwargs)
  if found:
    raise ConfigError(found)


def validate_with_data(config, info) -> None:
  """Checks that need the dataset's sizes and classes (an ``InputInfo``)."""
  p = []
  if config.batch_size > info.num_examples('train'):
    p.append(
      f'batch_size={config.batch_size} is larger than the '
      f'{info.num_examples("train")} training examples of '
      f'{info.dataset} (after validation_examples='
      f'{config.validation_examples}).'
    )
  if config.num_classes is not None and config.num_classes < info.num_classes:
    p.append(
      f'num_classes={config.num_classes} is fewer than the '
      f'{info.num_classes} classes of {info.dataset}: labels '
      f'>= {config.num_classes} would have no output. Leave it unset '
      "to use the dataset's."
    )
  if p:
    raise ConfigError(p)
