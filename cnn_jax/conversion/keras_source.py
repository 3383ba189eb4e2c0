"""Reads a Keras 3 (``keras.applications``) model as a list of layers.

Keras runs on any backend (JAX by default: ``KERAS_BACKEND`` is set to
'jax' unless Keras was already imported, e.g. by TensorFlow, with another).
It already uses our layouts (NHWC, HWIO conv kernels, (in, out) dense
kernels); what differs is handled here:

* ``DepthwiseConv2D`` kernels are (kh, kw, C, multiplier); ours, a grouped
  conv with ``feature_group_count=C``, are (kh, kw, 1, C * multiplier).
* ``SeparableConv2D`` is one Keras layer but two of ours (depthwise, then
  pointwise 1x1, see ``layers.SeparableConv``).
* BatchNormalization: gamma/beta/moving_mean/moving_variance; ``scale=False``
  layers (InceptionV3) have no gamma, and ours are built without a scale.
* LayerNormalization: gamma/beta -> scale/bias. Any other layer with weights
  must hold one per-channel vector, a layer scale (ConvNeXt's ``LayerScale``).
* Models nested in the model (ConvNeXt's stem and downsampling blocks are
  ``Sequential`` models) count with their layers, in their place.

Keras counts BN moving statistics in ``count_params()``; we keep them in the
``batch_stats`` collection.

Order. ``model.layers`` of a functional model is a depth-first walk of the
graph, not the order its code calls the layers, and the code's order is not
always ours either (``ResNet50V2`` builds each block's shortcut conv before
the main branch; we call it after). So Keras layers are paired with ours by
data flow (``layer_list.assemble_by_dataflow``): ``reference_layers(model,
batch)`` records each layer's input on a probe batch. The list itself is in
the order the application code *called* the layers (recorded while
``build_reference`` builds the model; ``model.layers`` order otherwise),
which decides only between parallel branches that read the same tensor with
the same weight shapes.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from typing import Optional

import numpy as np

from cnn_jax.conversion.layer_list import ConversionError, RefLayer, run_once

# Our registered name -> keras.applications class.
KERAS_MODELS = {
  'xception': 'Xception',
  'mobilenet_keras': 'MobileNet',
  'resnet50_keras': 'ResNet50',
  'resnet50v2': 'ResNet50V2',
  'resnet101v2': 'ResNet101V2',
  'resnet152v2': 'ResNet152V2',
  'nasnetamobile': 'NASNetMobile',
  'nasnetalarge': 'NASNetLarge',
  'inception_v3_keras': 'InceptionV3',
  'inception_resnet_v2_keras': 'InceptionResNetV2',
  'densenet121_keras': 'DenseNet121',
  'convnext_tiny': 'ConvNeXtTiny',
  'convnext_small': 'ConvNeXtSmall',
  'convnext_base': 'ConvNeXtBase',
  'convnext_large': 'ConvNeXtLarge',
  'efficientnet_v2_s_keras': 'EfficientNetV2S',
  'efficientnet_v2_m_keras': 'EfficientNetV2M',
  'efficientnet_v2_l_keras': 'EfficientNetV2L',
}


def _keras():
  """Keras, on the backend it was (or will be) imported with.

  Any backend works; JAX is the default here (``KERAS_BACKEND`` unset before
  Keras' first import). Note that ``import tensorflow`` imports Keras too,
  with its default TensorFlow backend, unless KERAS_BACKEND is set first.
  """
  os.environ.setdefault('KERAS_BACKEND', 'jax')
  import keras  # pylint: disable=g-import-not-at-top

  return keras


def _numpy(value) -> np.ndarray:
  """A Keras variable's or tensor's value as a float32 NumPy array."""
  value = getattr(value, 'value', value)  # a Keras variable's backend value
  if hasattr(value, 'numpy'):  # TensorFlow / PyTorch tensors
    value = value.numpy()
  return np.asarray(value, np.float32)


# Model -> its layers in the order its code called them (see the module
# docstring). Kept outside the model: Keras tracks a list attribute of a model
# as part of its saved state.
_CALL_ORDER: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def _record_call_order(order: list):
  """Appends every Keras operation to ``order`` as it is called symbolically.

  Building a functional model calls its layers on symbolic tensors, each call
  creating a graph ``Node``; their creation order is the code's call order.
  """
  try:
    from keras.src.ops import node as node_lib  # pylint: disable=g-import-not-at-top
  except ImportError:  # another Keras layout: fall back to model.layers.
    yield
    return
  original = node_lib.Node.__init__

  def init(self, operation, *args, **kwargs):
    original(self, operation, *args, **kwargs)
    order.append(operation)

  node_lib.Node.__init__ = init
  try:
    yield
  finally:
    node_lib.Node.__init__ = original


@contextlib.contextmanager
def _numpy_initializers(seed: int = 0):
  """Keras' random initializers drawing from NumPy instead of JAX.

  Same distributions; only the generator differs. On the JAX backend every
  weight shape otherwise compiles its own threefry program (about 0.5 s of
  CPU each, dozens per model), which dominates building a reference.
  """
  try:
    from keras.src import backend  # pylint: disable=g-import-not-at-top

    module = backend.random
    originals = {
      k: getattr(module, k) for k in ('uniform', 'normal', 'truncated_normal')
    }
  except (ImportError, AttributeError):
    yield
    return
  rng = np.random.default_rng(seed)

  def cast(x, dtype):
    return np.asarray(x, dtype=dtype or 'float32')

  def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    del seed
    return cast(rng.uniform(minval, maxval, shape), dtype)

  def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    del seed
    return cast(rng.normal(mean, stddev, shape), dtype)

  def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    del seed
    x = rng.normal(size=shape)
    bad = np.abs(x) > 2
    while bad.any():  # resample outside [-2, 2], as jax.random does.
      x[bad] = rng.normal(size=int(bad.sum()))
      bad = np.abs(x) > 2
    return cast(x * stddev + mean, dtype)

  for k, f in (
    ('uniform', uniform),
    ('normal', normal),
    ('truncated_normal', truncated_normal),
  ):
    setattr(module, k, f)
  try:
    yield
  finally:
    for k, f in originals.items():
      setattr(module, k, f)


WEIGHTS_SUFFIXES = ('.weights.h5', '.h5', '.keras')


def check_weights_file(path: str) -> None:
  """A ConversionError unless ``path`` is a file Keras could read weights
  from (by its name; its contents are read by ``load_weights``)."""
  if not os.path.isfile(path):
    raise ConversionError(f'Weights file {path} does not exist.')
  if not path.endswith(WEIGHTS_SUFFIXES):
    raise ConversionError(
      f'{path}: Keras reads weights from {", ".join(WEIGHTS_SUFFIXES)} '
      'files (a torch state_dict goes with --source=torchvision or timm).'
    )


def build_reference(
  name: str,
  input_shape,
  num_classes: int = 1000,
  weights_path: str = '',
  **kwargs,
):
  """A keras.applications model, random or from a user's weights file.

  ``name`` is our registered name (see ``KERAS_MODELS``) or a
  keras.applications class name.
  """
  keras = _keras()
  cls_name = KERAS_MODELS.get(name, name)
  # keras.applications also holds modules (keras.applications.resnet50).
  builder = getattr(keras.applications, cls_name, None)
  if not callable(builder):
    ours = ', '.join(f'{k} ({v})' for k, v in KERAS_MODELS.items())
    raise ConversionError(
      f'keras.applications has no model {cls_name!r}. The models converted '
      f'from Keras: {ours}; --reference_name=CLASS names another '
      'keras.applications class.'
    )
  if weights_path:
    check_weights_file(weights_path)
  order = []
  with _record_call_order(order), _numpy_initializers():
    model = builder(
      weights=None,
      input_shape=tuple(input_shape),
      classes=num_classes,
      include_top=True,
      **kwargs,
    )
  if weights_path:
    try:
      model.load_weights(weights_path)
    except ValueError as e:  # Keras names the misfit layer and both shapes.
      raise ConversionError(
        f'{weights_path} does not fit keras.applications.{cls_name} with '
        f'input {tuple(input_shape)} and {num_classes} classes: {e}'
      ) from e
    except Exception as e:  # pylint: disable=broad-except
      # h5py's OSError, zipfile's BadZipFile...: not a Keras file.
      raise ConversionError(
        f'{weights_path} is not a readable Keras weights file '
        f'({type(e).__name__}: {e}).'
      ) from e
  layers = set(id(l) for l in _flat_layers(model)[0])
  seen, call_order = set(), []
  for op in order:
    if id(op) in layers and id(op) not in seen:
      seen.add(id(op))
      call_order.append(op)
  _CALL_ORDER[model] = call_order
  return model


def randomize_batch_norm(
  model, seed: int = 0, calibration_batch: Optional[np.ndarray] = None
) -> None:
  """Random BN affine parameters and non-trivial statistics, for tests.

  As ``torch_source.randomize_batch_norm``: with a ``calibration_batch``,
  the statistics are those of each layer's input in one training-mode pass
  on it (so that the eval-mode network reproduces that pass: activations of
  order one at every depth and logits that depend on the input), moved by
  0.05 standard deviations and scaled by 0.9-1.1 (small: here the changes
  of all layers add up, they are not re-measured layer by layer).
  """
  keras = _keras()
  rng = np.random.default_rng(seed)
  norms = [
    l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)
  ]
  for layer in norms:
    new = []
    for w in layer.weights:
      shape = tuple(w.shape)
      if 'moving_variance' in w.path:
        new.append(rng.uniform(0.5, 1.5, shape))
      elif 'gamma' in w.path:
        new.append(rng.uniform(0.5, 1.5, shape))
      else:
        new.append(rng.normal(0, 0.1, shape))
    layer.set_weights([a.astype(np.float32) for a in new])
  if calibration_batch is None or not norms:
    return
  inputs = _run(
    keras.Model(model.input, [l.input for l in norms]),
    calibration_batch,
    training=True,
  )
  for layer, x in zip(norms, inputs):
    axes = tuple(range(x.ndim - 1))
    mean, var = x.mean(axes), x.var(axes)
    values = {
      'moving_mean': mean + rng.normal(0, 0.05, mean.shape) * np.sqrt(var),
      'moving_variance': var * rng.uniform(0.9, 1.1, var.shape),
    }
    for w in layer.weights:
      key = w.path.split('/')[-1]
      if key in values:
        w.assign(values[key].astype(np.float32))


@contextlib.contextmanager
def _without_softmax(model):
  """Keras applications end in a softmax: run the head's Dense without it."""
  keras = _keras()
  head = model.layers[-1]
  act = getattr(head, 'activation', None)
  if act is None or getattr(act, '__name__', '') != 'softmax':
    yield
    return
  head.activation = keras.activations.linear
  try:
    yield
  finally:
    head.activation = act


def _run(model, batch: np.ndarray, training: bool = False) -> list[np.ndarray]:
  """Eval-mode (or training-mode) outputs of ``model`` on ``batch``.

  On the JAX backend, as one jitted function: calling the model eagerly
  compiles every op separately, which costs far more than compiling the
  whole graph once.
  """
  keras = _keras()
  batch = np.asarray(batch, np.float32)
  if keras.backend.backend() == 'jax':
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    def fn(t, n, x):
      return model.stateless_call(t, n, x, training=training)[0]

    out = run_once(fn, trainable, non_trainable, batch)
  else:
    out = model(batch, training=training)
  out = out if isinstance(out, (list, tuple)) else [out]
  return [_numpy(a) for a in out]


def reference_layers_and_logits(
  model, batch: np.ndarray
) -> tuple[list[RefLayer], np.ndarray]:
  """``reference_layers(model, batch)`` and the logits, in one forward pass."""
  return _reference_layers(model, batch, logits=True)


def reference_layers(
  model, batch: Optional[np.ndarray] = None
) -> list[RefLayer]:
  """``model``'s conv/BN/dense layers in its code's call order, our layout.

  With ``batch`` (NHWC), each ``RefLayer`` also carries its input on that
  batch, for ``layer_list.assemble_by_dataflow``.
  """
  return _reference_layers(model, batch, logits=False)[0]


def _flat_layers(model) -> tuple[list, dict[int, object]]:
  """``model``'s layers with those of the models nested in it in their place,
  and ``id(layer) -> the model whose graph holds the layer's input`` (nested
  models included, for their parent)."""
  keras = _keras()
  flat, owner = [], {}
  for layer in model.layers:
    owner[id(layer)] = model
    if isinstance(layer, keras.Model):
      inner, inner_owner = _flat_layers(layer)
      flat.extend(inner)
      owner.update(inner_owner)
    else:
      flat.append(layer)
  return flat, owner


def _layer_inputs(graph, graph_input, value, ordered, owner, found, logits):
  """Runs ``graph`` (the model, or a model nested in it) on ``value`` and
  records in ``found`` the input of each of its layers in ``ordered`` and,
  where that comes out of ZeroPadding2D layers, the tensors before them (see
  RefLayer.input_alternatives); then does the same inside each nested model,
  on its input. Returns the graph's output if ``logits``."""
  keras = _keras()
  L = keras.layers
  mine = [l for l in ordered if owner[id(l)] is graph]
  nested = [l for l in graph.layers if isinstance(l, keras.Model)]
  tensors, chains = [], []
  for layer in mine:
    tensors.append(layer.input)
    t, chain = layer.input, []
    while isinstance(t._keras_history.operation, L.ZeroPadding2D):  # pylint: disable=protected-access
      t = t._keras_history.operation.input  # pylint: disable=protected-access
      chain.append(len(tensors))
      tensors.append(t)
    chains.append(chain)
  for sub in nested:
    nodes = sub._inbound_nodes  # pylint: disable=protected-access
    if len(nodes) != 1 or len(nodes[0].input_tensors) != 1:
      raise ConversionError(
        f'{sub.name}: a nested model called more than once or on several '
        'inputs is not supported by the converter.'
      )
    tensors.append(nodes[0].input_tensors[0])
  outputs = tensors + (list(graph.outputs) if logits else [])
  values = _run(keras.Model(graph_input, outputs), value) if outputs else []
  k = 0
  for layer, chain in zip(mine, chains):
    found[id(layer)] = (values[k], tuple(values[c] for c in chain))
    k += 1 + len(chain)
  for sub, v in zip(nested, values[k:]):
    _layer_inputs(sub, sub.inputs[0], v, ordered, owner, found, False)
  return values[len(tensors)] if logits else None


def _reference_layers(model, batch, logits: bool):
  keras = _keras()
  L = keras.layers
  kinds = (
    L.Conv2D,
    L.DepthwiseConv2D,
    L.SeparableConv2D,
    L.BatchNormalization,
    L.LayerNormalization,
    L.Dense,
  )
  flat, owner = _flat_layers(model)
  ordered = _CALL_ORDER.get(model) or flat
  # Known kinds, and any other layer with weights (a layer scale, below).
  ordered = [l for l in ordered if isinstance(l, kinds) or l.weights]
  inputs = [None] * len(ordered)
  unpadded = [()] * len(ordered)
  ref_logits = None
  if batch is not None:
    found = {}
    with _without_softmax(model):
      ref_logits = _layer_inputs(
        model, model.input, batch, ordered, owner, found, logits
      )
    for j, layer in enumerate(ordered):
      inputs[j], unpadded[j] = found[id(layer)]
  out = []
  for layer, x, alt in zip(ordered, inputs, unpadded):
    w = {v.path.split('/')[-1]: _numpy(v) for v in layer.weights}
    name = layer.name
    if isinstance(layer, L.SeparableConv2D):
      dw = w['depthwise_kernel']
      kh, kw, c, mult = dw.shape
      out.append(
        RefLayer(
          'conv',
          name + '.depthwise',
          {'kernel': dw.reshape(kh, kw, 1, c * mult)},
          input=x,
          input_alternatives=alt,
        )
      )
      t = {'kernel': w['pointwise_kernel']}
      if 'bias' in w:
        t['bias'] = w['bias']
      out.append(
        RefLayer('conv', name + '.pointwise', t, input_from=len(out) - 1)
      )
      continue
    elif isinstance(layer, L.DepthwiseConv2D):
      dw = w['kernel']
      kh, kw, c, mult = dw.shape
      t = {'kernel': dw.reshape(kh, kw, 1, c * mult)}
      if 'bias' in w:
        t['bias'] = w['bias']
      out.append(RefLayer('conv', name, t, input=x, input_alternatives=alt))
    elif isinstance(layer, L.Conv2D):
      out.append(
        RefLayer('conv', name, dict(w), input=x, input_alternatives=alt)
      )
    elif isinstance(layer, L.BatchNormalization):
      t = {'mean': w['moving_mean'], 'var': w['moving_variance']}
      if 'gamma' in w:
        t['scale'] = w['gamma']
      if 'beta' in w:
        t['bias'] = w['beta']
      # Keras' momentum weights the running value, as Flax's does.
      out.append(
        RefLayer(
          'bn', name, t, input=x, epsilon=layer.epsilon, momentum=layer.momentum
        )
      )
    elif isinstance(layer, L.LayerNormalization):
      t = {}
      if 'gamma' in w:
        t['scale'] = w['gamma']
      if 'beta' in w:
        t['bias'] = w['beta']
      out.append(RefLayer('ln', name, t, input=x, epsilon=layer.epsilon))
    elif isinstance(layer, L.Dense):
      out.append(RefLayer('dense', name, dict(w), input=x))
    else:
      values = list(w.values())
      if len(values) != 1 or values[0].ndim != 1:
        shapes = [tuple(v.shape) for v in values]
        raise ConversionError(
          f'{name} ({type(layer).__name__}, weights {shapes}) is a layer the '
          'converter does not know.'
        )
      out.append(RefLayer('scale', name, {'gamma': values[0]}, input=x))
  return out, ref_logits


def reference_logits(model, batch: np.ndarray) -> np.ndarray:
  """Eval-mode logits of an NHWC batch (without the final softmax)."""
  with _without_softmax(model):
    return _run(model, batch)[0]
