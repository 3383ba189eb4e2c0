"""Base config: every field the trainer reads, with its default.

Experiment configs import this, call ``get_config()`` and change what they
need. Every field can be overridden on the command line, e.g.
``--config.num_epochs=2 --config.batch_size=256 --config.optimizer=adamw``.
Fields that may be unset are ``None`` when unset (``--config.FIELD=None``
unsets one). ``cnn_jax.config_validation`` checks every value (types, ranges,
allowed values and combinations) before a run starts.
"""

import ml_collections
from ml_collections import config_dict
from ml_collections import config_flags
from absl import flags


class _OrNoneParser(flags.ArgumentParser):
  """Parses ``--config.FIELD=None`` as None, anything else as ``base`` does."""

  def __init__(self, base: flags.ArgumentParser):
    super().__init__()
    self._base = base

  def parse(self, argument):
    if argument is None or (
      isinstance(argument, str) and argument.strip() == 'None'
    ):
      return None
    return self._base.parse(argument)

  def flag_type(self):
    return self._base.flag_type()


# Unsettable fields (None = not set) must be unsettable from the command line
# too; ml_collections' own int/float/str parsers refuse 'None'.
for _type, _base in (
  (int, flags.IntegerParser()),
  (float, flags.FloatParser()),
  (str, flags.ArgumentParser()),
):
  config_flags.register_flag_parser_for_type(_type, _OrNoneParser(_base))


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()

  # --- Model ---------------------------------------------------------------
  c.model = 'lenet5'  # a registered name: `python -m cnn_jax.summary --list`.
  c.model_kwargs = ml_collections.ConfigDict()  # extra arguments to the model.
  c.num_classes = config_dict.placeholder(int)  # None: the dataset's count.
  c.dtype = 'float32'  # compute dtype: 'float32' or 'bfloat16' (params f32).
  c.aux_loss_weight = 0.3  # weight of auxiliary classifier losses, if any.

  # --- Data ----------------------------------------------------------------
  c.dataset = 'fashion_mnist'  # mnist, fashion_mnist, cifar10, cifar100,
  # imagenet2012, synthetic, or image_folder (your own images, below).
  # dataset='image_folder': the folder holding train/<class>/*.jpg|png (and
  # optionally val/ and test/ alike), or <class>/*.jpg; README "Your own data".
  c.image_folder = config_dict.placeholder(str)
  # dataset='image_folder': leave out the files that cannot be read as images
  # (one warning; their list in WORKDIR/unreadable_images.txt) instead of
  # stopping with the list; for scraped folders.
  c.skip_unreadable_images = False
  # TFDS data dir; None: $TFDS_DATA_DIR or ~/tensorflow_datasets.
  c.data_dir = config_dict.placeholder(str)
  # Where manually downloaded files are; None: the dataset's default.
  c.manual_dir = config_dict.placeholder(str)
  c.download = False  # let TFDS download and prepare a missing dataset.
  c.validation_examples = 5000  # carved from the end of the training split.
  # Fraction of the training split carved for validation instead of
  # validation_examples (None: use validation_examples), e.g. 0.1.
  c.validation_fraction = config_dict.placeholder(float)
  # Side of the (square) model input, >= the model's smallest input (see
  # config_validation); None: the dataset's native size.
  c.image_size = config_dict.placeholder(int)
  c.grayscale_to_rgb = False  # repeat 1-channel images to 3 channels (for
  # ImageNet-shaped models and converted weights on MNIST-like data).
  # Training augmentation: a comma-separated list applied in order, from
  # crop_pad (random crop after zero padding), flip (horizontal), rrc
  # (RandomResizedCrop), inception_crop (Inception-style crop + resize).
  c.augment = ''
  c.crop_padding = 4  # pixels of padding for crop_pad.
  c.rrc_scale = (0.08, 1.0)  # area range for rrc / inception_crop.
  c.rrc_ratio = (3 / 4, 4 / 3)  # aspect ratio range for rrc / inception_crop.
  c.eval_crop_fraction = 1.0  # central crop before resizing (0.875 ImageNet).
  # Side of the evaluation input if not image_size (None: image_size), e.g.
  # torchvision's V2 recipe trains at 176 and evaluates at 224.
  c.eval_image_size = config_dict.placeholder(int)
  c.mean = ()  # per-channel mean (0-1 scale); () = the dataset's.
  c.std = ()  # per-channel std; () = the dataset's.
  # Input path: 'device' loads the dataset once onto the devices and
  # augments inside the train step (mnist, fashion_mnist, cifar10/100,
  # synthetic; augment crop_pad/flip, auto_augment; no TensorFlow needed);
  # 'tfdata' is TFDS + tf.data on the host (any dataset/augmentation: the
  # host decodes, crops and resizes; the rest runs in the train step);
  # 'auto' = 'device' where it applies, else 'tfdata'.
  c.input_pipeline = 'auto'
  # Automatic augmentation policy (both input paths), after the crops and
  # flips of `augment` (torchvision's op sets and magnitudes): None,
  # 'randaugment' (randaugment_num_ops ops of randaugment_magnitude),
  # 'trivialaugment' (TrivialAugmentWide) or 'autoaugment' (ImageNet policy).
  c.auto_augment = config_dict.placeholder(str)
  c.randaugment_num_ops = 2  # RandAugment N.
  c.randaugment_magnitude = 9  # RandAugment M, of 31 levels (0..30).
  # torchvision's ColorJitter(s, s, s) (both input paths), after the crops
  # and flips, before auto_augment: brightness, contrast and saturation in a
  # random order, each by a factor from [max(0, 1 - s), 1 + s]; None: off.
  c.color_jitter = config_dict.placeholder(float)
  # Per-example random erasing (timm's RandomErasing, after normalization)
  # with this probability; None: off. Area 2%-1/3, log-uniform aspect.
  c.random_erasing = config_dict.placeholder(float)
  c.random_erasing_mode = 'pixel'  # 'pixel': normal noise; 'const': zeros.
  # Repeated augmentation (Hoffer et al. 2020; DeiT's and torchvision's
  # RASampler, timm's aug_repeats): each epoch draws ceil(N / aug_repeats)
  # training images and shows each aug_repeats times in a row, each copy with
  # its own augmentation, in the same global batch where it fits; the epoch
  # keeps its length. 1: off.
  c.aug_repeats = 1
  c.shuffle_buffer = 60_000  # tf.data only ('device' shuffles whole epochs).
  c.cache = True  # tf.data: cache examples as read (ImageNet: JPEG bytes).
  c.synthetic_shape = (32, 32, 3)  # image shape of the synthetic dataset.
  c.synthetic_classes = 10
  c.synthetic_examples = 10_000

  # --- Optimization ----------------------------------------------------------
  c.batch_size = 128  # global batch, split over all devices and processes.
  c.eval_batch_size = 512
  c.num_epochs = 10.0
  c.num_train_steps = config_dict.placeholder(int)  # set: replaces num_epochs.
  c.optimizer = 'sgd'  # sgd, adam, adamw, rmsprop.
  c.learning_rate = 0.1
  c.lr_scaling_base_batch = 0  # > 0: lr *= batch_size / this (Goyal et al.).
  c.momentum = 0.9
  c.nesterov = False
  c.b1 = 0.9  # Adam/AdamW
  c.b2 = 0.999
  c.rmsprop_decay = 0.9
  c.rmsprop_eps = 1e-3
  # Where epsilon goes: inside the square root (TensorFlow) or added to it
  # (False: PyTorch's RMSprop, whose update optax then computes exactly).
  c.rmsprop_eps_in_sqrt = True
  # Start of RMSProp's mean square: 0 (PyTorch, Keras 2+) or 1 (TensorFlow 1's
  # RMSPropOptimizer, behind the TF recipes of Inception, MobileNet, NASNet,
  # EfficientNet).
  c.rmsprop_initial_scale = 0.0
  c.weight_decay = 0.0  # L2 coefficient (decoupled for adamw).
  c.weight_decay_on_bn_and_bias = True  # False: mask BN params and biases.
  # Weight decay of the normalization layers' scale and bias (BatchNorm,
  # LayerNorm; torchvision's --norm-weight-decay, e.g. 0.0), every other
  # parameter (biases too) decaying by weight_decay; None:
  # weight_decay_on_bn_and_bias decides.
  c.norm_weight_decay = config_dict.placeholder(float)
  # constant, cosine, linear (to 0 at the end), multistep, exponential.
  c.lr_schedule = 'constant'
  c.lr_boundaries = ()  # multistep: epochs at which lr *= lr_decay_factor.
  c.lr_decay_factor = 0.1
  c.lr_decay_epochs = 2.4  # exponential: decay by lr_decay_factor every N.
  c.warmup_epochs = 0.0  # linear warmup, per step,
  c.warmup_start_factor = (
    0.0  # from this fraction of the lr (torchvision: 0.01).
  )
  # The lr (warmup and decay) changes once per epoch, at its start, as
  # torchvision's schedulers step; False: every step.
  c.lr_per_epoch = False
  c.label_smoothing = 0.0
  # mixup / CutMix on the batch in the train step (timm's Mixup): lam ~
  # Beta(alpha, alpha), one per batch; None: off. Both set: CutMix with
  # probability mix_switch_prob, else mixup. Label smoothing is applied to
  # the one-hot targets before they are mixed.
  c.mixup_alpha = config_dict.placeholder(float)
  c.cutmix_alpha = config_dict.placeholder(float)
  c.mix_prob = 1.0  # probability that a batch is mixed at all.
  c.mix_switch_prob = 0.5  # probability of CutMix when both are set.
  # Moving average of the weights and BatchNorm statistics (e.g. 0.9999),
  # evaluated and checkpointed beside the raw weights; None: off.
  c.ema_decay = config_dict.placeholder(float)
  c.ema_warmup = False  # decay min(ema_decay, (1 + step) / (10 + step)).
  # Update the average every this many steps, by ema_decay each time
  # (torchvision's --model-ema-steps, 32); ema_warmup then counts updates.
  c.ema_every_steps = 1
  # Restart the average from the weights at every update until the lr warmup
  # ends, and at the first one after (torchvision's reference script).
  c.ema_reset_in_warmup = False
  # Micro-batches per step: one optimizer update from the mean gradient of
  # batch_size // grad_accum_steps examples at a time (BatchNorm statistics
  # per micro-batch).
  c.grad_accum_steps = 1
  c.grad_clip_norm = 0.0  # > 0: clip the global gradient norm.
  # After the last step, replace the BatchNorm running statistics by the
  # average batch statistics of this many more training batches with the
  # final weights ("precise BN", as the ShuffleNet authors' code); 0: off.
  c.precise_bn_steps = 0

  # --- Distribution ------------------------------------------------------
  c.num_devices = config_dict.placeholder(int)  # None: all; N: the first N.
  c.bn_group_size = 0  # > 0: BatchNorm statistics over groups of this many
  # examples ("ghost" BN); 0: over the whole global batch.
  c.conv_impl = 'auto'  # 'auto': convolutions and pooling by oneDNN on CPU
  # (when built; cnn_jax/ops/conv.py, pool.py), XLA's on GPU/TPU; 'xla':
  # XLA's everywhere.
  # CPU hosts (cnn_jax.ops.cpu_tuning, applied before JAX starts):
  c.cpu_tuning = 'auto'  # 'auto': malloc keeps freed memory (faster steps,
  # up to 2.5x the peak RSS; BENCHMARKS.md, "CPU settings"); 'none': glibc's
  # and XLA's defaults (a machine short of memory). XLA_FLAGS set by the
  # user win. No effect on GPU/TPU.
  c.host_devices = 0  # > 0: split the CPU into this many XLA devices (the
  # batch is sharded over them like over GPUs; must divide the batch sizes).

  # --- Run -----------------------------------------------------------------
  c.seed = 0
  c.log_every_steps = 100
  # Validation every this many epochs (> 0) and at the end; None: only at the
  # end.
  c.eval_every_epochs = config_dict.FieldReference(1.0, field_type=float)
  c.checkpoint_every_steps = 1000
  c.keep_checkpoints = 2  # latest checkpoints kept, plus the best one.
  c.eval_only = False  # restore the workdir's checkpoint, report test metrics.
  # Checkpoint dir to start a new run from (another run's workdir or a
  # converted model); None: a fresh initialization.
  c.init_from = config_dict.placeholder(str)
  c.debug = False  # NaN checks and jax_transfer_guard='disallow'.
  return c
