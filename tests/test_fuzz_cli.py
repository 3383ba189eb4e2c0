"""Bad input to any command ends in one line that names it, exit status 2.

Property-based (hypothesis): bad values for every field of the config schema
(``config_validation.FIELDS``: a wrong type, out of range, an unknown choice,
empty, NaN/inf, negative, huge) and bad combinations of fields go through the
validator and through each command's error path in-process (its flags
parsed, ``errors.run_in_process``); so do bad values of the flags of
``cnn_jax.main``, ``predict``, ``convert``, ``summary``, ``benchmark`` and
the sweep runner. Each must end in one message, ``Error: ...``, naming the
field or flag (or the path it gave), one line per problem (one bad value: one
line), and exit status 2. Each command stops where its work would start (a
sentinel replaces that first step), so a bad value that is accepted fails the
test instead of starting a run.

CI runs a fixed seed and a small budget; ``pytest -m fuzz
tests/test_fuzz_cli.py`` runs the same properties with a large one.
"""

import contextlib
import functools
import io
import math
import os
import pickle
import string
import sys
import textwrap

from absl import flags
import hypothesis
from hypothesis import strategies as st
import ml_collections
import pytest

from cnn_jax import config_validation as cv
from cnn_jax import errors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = 'configs/lenet5_fashion_mnist.py'
CI = hypothesis.settings(
  derandomize=True,
  max_examples=60,
  deadline=None,
  database=None,
  suppress_health_check=list(hypothesis.HealthCheck),
)
LARGE = hypothesis.settings(CI, max_examples=3000)

FIELDS = cv.FIELDS
NAMES = sorted(FIELDS)
# ml_collections loads config files with the deprecated load_module().
pytestmark = pytest.mark.filterwarnings('ignore:the load_module')


def _config():
  from configs import lenet5_fashion_mnist  # pylint: disable=g-import-not-at-top

  return lenet5_fashion_mnist.get_config()


# --- Bad values, by construction from the schema ---------------------------


def _parses(parser, text: str) -> bool:
  try:
    parser.parse(text)
    return True
  except Exception:  # pylint: disable=broad-except
    return False


_JUNK = st.text(
  alphabet=string.ascii_letters + string.digits + '.-+_ ,()', max_size=8
)
_HUGE = st.sampled_from([10**9, 2**31, 2**63, 10**30])


def _tuple_text(values) -> str:
  inner = ', '.join(repr(v) for v in values)
  return f'({inner},)' if len(values) == 1 else f'({inner})'


def _below(field):
  """Numbers under a field's low bound (or at it, if it is open)."""
  if field.low is None:
    return st.nothing()
  if field.type is int:
    top = math.ceil(field.low) - (0 if field.low_open else 1)
    return st.one_of(st.integers(max_value=top), _HUGE.map(lambda h: -h))
  return st.floats(
    max_value=field.low, exclude_max=not field.low_open, allow_nan=False
  )


def _above(field):
  if field.high is None:
    return st.nothing()
  if field.type is int:
    bottom = math.floor(field.high) + (0 if field.high_open else 1)
    return st.one_of(
      st.integers(min_value=bottom), _HUGE.filter(lambda h: h >= bottom)
    )
  return st.floats(
    min_value=field.high, exclude_min=not field.high_open, allow_nan=False
  )


def _not_in(choices):
  return st.one_of(
    st.text(max_size=12),
    st.sampled_from(choices).map(lambda c: c + 'x'),
    st.sampled_from(choices).map(str.upper),
  ).filter(lambda t: t not in choices and t.strip() != 'None')


def _augment_names():
  from cnn_jax.data import augment  # pylint: disable=g-import-not-at-top

  return list(augment.AUGMENTATIONS)


_WORD = st.text(alphabet=string.ascii_lowercase + '_', min_size=1, max_size=8)
_NUMBER = st.floats(allow_nan=True, allow_infinity=True)


def _content(name):
  """Field-specific bad contents (the tuple fields, augment, model_kwargs)."""
  finite = st.floats(-2, 2, allow_nan=False)
  pair = st.tuples(finite, finite)
  if name == 'rrc_scale':
    return pair.filter(lambda t: not 0 < t[0] <= t[1] <= 1)
  if name == 'rrc_ratio':
    return pair.filter(lambda t: not 0 < t[0] <= t[1])
  if name == 'synthetic_shape':
    return st.tuples(
      st.integers(-3, 64), st.integers(-3, 64), st.integers(-1, 5)
    ).filter(lambda t: not (min(t[:2]) >= 1 and t[2] in (1, 3)))
  if name in ('mean', 'std'):  # fashion_mnist: one channel.
    return st.one_of(
      st.lists(finite, min_size=2, max_size=4).map(tuple),
      st.tuples(st.sampled_from([math.nan, math.inf, -math.inf])),
      *([st.tuples(st.floats(max_value=0))] if name == 'std' else []),
    )
  if name == 'lr_boundaries':
    return st.lists(finite, min_size=1, max_size=4).filter(
      lambda b: min(b) <= 0 or b != sorted(b)
    )
  if name == 'augment':
    return st.lists(_WORD, min_size=1, max_size=3).filter(
      lambda a: any(x not in _augment_names() for x in a)
    ).map(','.join) | st.sampled_from(['rrc', 'flip,inception_crop'])
  if name == 'model_kwargs':  # lenet5 takes none of these.
    return st.dictionaries(
      _WORD.map(lambda w: 'zz_' + w), st.integers(), min_size=1, max_size=2
    ).map(ml_collections.ConfigDict)
  return st.nothing()


def bad_values(name):
  """Python values ``FIELDS[name]`` refuses (set in a config file)."""
  field = FIELDS[name]
  wrong_type = {
    int: st.one_of(st.booleans(), _NUMBER, st.text(max_size=4)),
    # Not booleans: ml_collections stores True in a float field as 1.0.
    float: st.one_of(st.text(max_size=4), st.tuples(_NUMBER)),
    str: st.one_of(st.integers(), _NUMBER, st.booleans()),
    bool: st.one_of(st.integers(), st.text(max_size=4), _NUMBER),
    tuple: st.one_of(st.integers(), st.text(max_size=4), _NUMBER),
    ml_collections.ConfigDict: st.one_of(st.integers(), st.text(max_size=4)),
  }[field.type]
  options = [wrong_type, _content(name), _below(field), _above(field)]
  if field.type is float:
    options.append(st.sampled_from([math.nan, math.inf, -math.inf]))
  if not field.optional:
    options.append(st.none())
  if field.choices is not None:
    options.append(_not_in(cv._choices(field)))  # pylint: disable=protected-access
  elif field.type is str and field.optional:
    options.append(st.sampled_from(['', ' ', '\t']))
  if field.length is not None:
    options.append(
      st.lists(st.floats(0.1, 0.9), max_size=4)
      .filter(lambda v: len(v) not in field.length)
      .map(tuple)
    )
  return st.one_of(*options)


def bad_texts(name):
  """Command-line values (``--config.NAME=TEXT``) ``FIELDS[name]`` refuses."""
  field = FIELDS[name]
  options = []
  if not field.optional:
    options.append(st.just('None'))
  if field.type is int:
    parser = flags.IntegerParser()
    options += [
      _below(field).map(str),
      _above(field).map(str),
      st.sampled_from(['1.5', 'nan', 'inf', '1e3', 'abc', '', 'True']),
      _JUNK.filter(lambda t: not _parses(parser, t) and t.strip() != 'None'),
    ]
  elif field.type is float:
    parser = flags.FloatParser()
    options += [
      _below(field).map(repr),
      _above(field).map(repr),
      st.sampled_from(['nan', 'inf', '-inf', 'NaN', '-Infinity', 'abc', '']),
      _JUNK.filter(lambda t: not _parses(parser, t) and t.strip() != 'None'),
    ]
  elif field.type is bool:
    parser = flags.BooleanParser()
    options.append(_JUNK.filter(lambda t: not _parses(parser, t)))
  elif field.type is str and field.choices is not None:
    options.append(_not_in(cv._choices(field)))  # pylint: disable=protected-access
  elif field.type is str and field.optional:
    options.append(st.sampled_from(['', ' ']))
  elif field.type is str:  # augment
    options.append(_content(name))
  elif field.type is tuple:
    content = _content(name).map(_tuple_text)
    if field.length is not None:
      content |= (
        st.lists(st.floats(0.1, 0.9), max_size=4)
        .filter(lambda v: len(v) not in field.length)
        .map(_tuple_text)
      )
    options.append(content)
  return st.one_of(*options)


@st.composite
def bad_field(draw, texts=False):
  name = draw(st.sampled_from(NAMES))
  if texts and FIELDS[name].type is ml_collections.ConfigDict:
    key = draw(_WORD)
    return name, draw(
      st.sampled_from([f'--config.{name}.zz_{key}=1', f'--config.{name}=3'])
    )
  if texts:
    return name, f'--config.{name}={draw(bad_texts(name))}'
  return name, draw(bad_values(name))


# Combinations: each field alone is fine, together they are not. Values are
# {field: value} on top of CONFIG (lenet5, fashion_mnist, SGD with Nesterov
# momentum, 10 epochs, cosine, no image_size).
def _combos():
  batch = st.integers(1, 4096)
  return st.one_of(
    st.tuples(batch, st.integers(2, 512))
    .filter(lambda t: t[0] % t[1])
    .map(lambda t: {'batch_size': t[0], 'bn_group_size': t[1]}),
    st.tuples(batch, st.integers(2, 64))
    .filter(lambda t: t[0] % t[1])
    .map(lambda t: {'batch_size': t[0], 'grad_accum_steps': t[1]}),
    # The micro-batch (batch_size / grad_accum_steps) is what BatchNorm sees.
    st.tuples(st.integers(2, 16), st.integers(1, 64))
    .filter(lambda t: t[1] % t[0])
    .map(
      lambda t: {
        'batch_size': t[0] * t[1],
        'grad_accum_steps': t[0],
        'bn_group_size': t[0],
      }
    ),
    st.just({'optimizer': 'sgd', 'nesterov': True, 'momentum': 0.0}),
    st.tuples(st.floats(0.01, 100), st.floats(0, 10)).map(
      lambda t: {'num_epochs': t[0], 'warmup_epochs': t[0] + t[1]}
    ),
    st.tuples(st.floats(0.5, 50), st.floats(0, 10)).map(
      lambda t: {
        'lr_schedule': 'multistep',
        'num_epochs': t[0],
        'lr_boundaries': (t[0] / 2, t[0] + t[1]),
      }
    ),
    st.tuples(st.integers(1, 16), st.integers(1, 64)).map(
      lambda t: {'host_devices': t[0], 'num_devices': t[0] + t[1]}
    ),
    st.sampled_from(['rrc', 'inception_crop', 'flip,rrc']).map(
      lambda a: {'augment': a, 'image_size': None}
    ),
    st.tuples(st.sampled_from(['mean', 'std']), st.integers(2, 5)).map(
      lambda t: {'grayscale_to_rgb': True, t[0]: (0.5,) * (t[1] + (t[1] == 3))}
    ),
    st.tuples(
      st.sampled_from(['resnet20', 'vgg11', 'mobilenet_v2', 'densenet121']),
      _WORD,
    ).map(lambda t: {'model': t[0], 'model_kwargs': {'zz_' + t[1]: 1}}),
  )


# --- Running a command in-process ----------------------------------------------


class _Started(Exception):
  """The command got past its checks: its work would start here."""


def _start(*args, **kwargs):
  del args, kwargs
  raise _Started()


def _call(main, argv, flag_values):
  """(exit status, stderr) of ``main`` under ``errors.run_in_process``."""
  # ml_collections loads each --config file as module 'config_config' with
  # load_module(), which reuses a module of that name: one process, one file.
  sys.modules.pop('config_config', None)
  err = io.StringIO()
  with (
    contextlib.redirect_stderr(err),
    contextlib.redirect_stdout(io.StringIO()),
  ):
    try:
      errors.run_in_process(main, argv, flag_values)
    except SystemExit as e:
      return e.code, err.getvalue()
    except _Started:
      return 'started', err.getvalue()
  return 0, err.getvalue()


def _assert_one_line(result, *names, lines=1):
  """Exit status 2, ``Error: ...`` in ``lines`` lines, naming one of
  ``names``."""
  code, stderr = result
  assert code != 'started', f'accepted, the work would start ({names})'
  assert code == 2, (code, stderr)
  assert stderr.startswith('Error: ') and stderr.endswith('\n'), stderr
  assert stderr.count('\n') == lines, stderr
  assert any(n in stderr for n in names), (names, stderr)


def run_main(argv):
  from cnn_jax import main  # pylint: disable=g-import-not-at-top

  fv = flags.FlagValues()
  main.define_flags(fv, argv)
  return _call(functools.partial(main.main, flag_values=fv), argv, fv)


def run_benchmark(argv):
  from cnn_jax import benchmark  # pylint: disable=g-import-not-at-top

  fv = flags.FlagValues()
  benchmark.define_flags(fv, argv)
  return _call(functools.partial(benchmark.main, flag_values=fv), argv, fv)


def run_summary(argv):
  from cnn_jax import summary  # pylint: disable=g-import-not-at-top

  fv = flags.FlagValues()
  summary.define_flags(fv, argv)
  return _call(functools.partial(summary.main, flag_values=fv), argv, fv)


def run_convert(argv):
  from cnn_jax import convert  # pylint: disable=g-import-not-at-top

  fv = flags.FlagValues()
  convert.define_flags(fv)

  def main(args):
    del args
    return convert.run_flags(fv)

  return _call(main, argv, fv)


def run_predict(argv):
  from cnn_jax import predict  # pylint: disable=g-import-not-at-top

  fv = flags.FlagValues()
  predict.define_flags(fv)

  def main(args):  # predict.main, without setting absl's verbosity here
    print(predict.run_flags(args, fv))

  return _call(main, argv, fv)


def run_sweep(argv):
  from experiments.sweep import cli  # pylint: disable=g-import-not-at-top

  err = io.StringIO()
  with (
    contextlib.redirect_stderr(err),
    contextlib.redirect_stdout(io.StringIO()),
  ):
    try:
      cli.main(argv)
    except SystemExit as e:
      return e.code, err.getvalue()
    except _Started:
      return 'started', err.getvalue()
  return 0, err.getvalue()


@pytest.fixture(scope='module')
def sentinels():
  """Each command's first step of work raises _Started instead."""
  from cnn_jax.analysis import layer_table  # pylint: disable=g-import-not-at-top
  from cnn_jax.conversion import convert_lib  # pylint: disable=g-import-not-at-top
  from cnn_jax.ops import cpu_tuning  # pylint: disable=g-import-not-at-top
  from experiments.sweep import cli  # pylint: disable=g-import-not-at-top

  patch = pytest.MonkeyPatch()
  patch.setattr(cpu_tuning, 'configure', _start)  # main, benchmark
  patch.setattr(layer_table, 'summarize', _start)  # summary
  patch.setattr(convert_lib, 'convert', _start)  # convert
  patch.setattr(cli, 'run_sweep', _start)  # the sweep runner
  patch.chdir(ROOT)
  yield
  patch.undo()


@pytest.fixture(scope='module')
def paths(tmp_path_factory):
  """Things on disk that bad flags point at."""
  tmp = tmp_path_factory.mktemp('fuzz')
  (tmp / 'a_file').write_text('not a directory')
  (tmp / 'empty_dir').mkdir()
  (tmp / 'image.png').write_bytes(_png())
  (tmp / 'raises.py').write_text('def get_config():\n  return 1 / 0\n')
  (tmp / 'no_get_config.py').write_text('X = 1\n')
  (tmp / 'not_a_sweep.py').write_text('X = 1\n')
  (tmp / 'broken_sweep.py').write_text('NAME = undefined_name\n')
  (tmp / 'sweep.py').write_text(_sweep_text({}))
  return tmp


def _png() -> bytes:
  from PIL import Image  # pylint: disable=g-import-not-at-top

  out = io.BytesIO()
  Image.new('RGB', (8, 8)).save(out, 'PNG')
  return out.getvalue()


def _sweep_text(overrides) -> str:
  return textwrap.dedent(f"""
    import pickle
    from experiments.sweep import Run
    NAME = 'fuzz'
    CONFIG = {CONFIG!r}
    RUNS = [Run('a', pickle.loads({pickle.dumps(overrides)!r})), Run('b', {{}})]
  """)


def _bad_paths(tmp):
  """Paths a directory flag cannot use: a file, under a file, under /proc."""
  return st.sampled_from(
    [
      str(tmp / 'a_file'),
      str(tmp / 'a_file' / 'under'),
      '/proc/no_such_dir/x',
    ]
  )


def _budgets(strategies, body):
  """``body`` given ``strategies`` at the CI budget, and at the large one
  under ``-m fuzz``."""
  ci = CI(hypothesis.given(**strategies)(body))
  large = LARGE(hypothesis.given(**strategies)(body))
  return ci, pytest.mark.fuzz(large)


# --- The properties -------------------------------------------------------------


def _validator_refuses_each_bad_value(field):
  name, value = field
  config = _config()
  with config.ignore_type():
    config[name] = value
  found = cv.problems(config)
  assert len(found) == 1, (name, value, found)
  assert name in found[0] and '\n' not in found[0], found


def _validator_never_crashes(fields):
  config = _config()
  with config.ignore_type():
    for name, value in fields.items():
      config[name] = value
  found = cv.problems(config)  # a list of lines, whatever the values.
  assert all(isinstance(p, str) and '\n' not in p for p in found), found


def _validator_refuses_bad_combinations(combo):
  config = _config()
  with config.ignore_type():
    for name, value in combo.items():
      config[name] = value
  found = cv.problems(config)
  assert found, combo
  assert all('\n' not in p for p in found), found
  assert any(name in ' '.join(found) for name in combo), (combo, found)


_ANY_VALUE = st.one_of(
  st.none(),
  st.booleans(),
  st.integers(),
  _HUGE,
  _NUMBER,
  st.text(max_size=6),
  st.lists(
    st.one_of(st.integers(), _NUMBER, st.text(max_size=2)), max_size=4
  ).map(tuple),
)


(
  test_validator_refuses_each_bad_value,
  test_validator_refuses_each_bad_value_large,
) = _budgets(dict(field=bad_field()), _validator_refuses_each_bad_value)
test_validator_never_crashes, test_validator_never_crashes_large = _budgets(
  dict(
    fields=st.dictionaries(
      st.sampled_from(NAMES), _ANY_VALUE, min_size=1, max_size=3
    )
  ),
  _validator_never_crashes,
)
(
  test_validator_refuses_bad_combinations,
  test_validator_refuses_bad_combinations_large,
) = _budgets(dict(combo=_combos()), _validator_refuses_bad_combinations)


def _as_args(combo) -> list[str]:
  """``--config.FIELD=TEXT`` of a combination, as a user types them."""
  args = []
  for name, value in combo.items():
    if isinstance(value, dict):
      args += [f'--config.{name}.{k}={v}' for k, v in value.items()]
    elif isinstance(value, tuple):
      args.append(f'--config.{name}={_tuple_text(value)}')
    else:
      args.append(f'--config.{name}={value!r}'.replace("'", ''))
  return args


def _main_refuses_each_bad_value(sentinels, paths, field):
  del sentinels
  name, arg = field
  argv = ['main', f'--config={CONFIG}', f'--workdir={paths / "wd"}', arg]
  _assert_one_line(run_main(argv), name)


def _main_refuses_bad_combinations(sentinels, paths, combo):
  del sentinels
  config = _config()
  with config.ignore_type():
    for name, value in combo.items():
      config[name] = value
  found = cv.problems(config)
  lines = 1 if len(found) == 1 or 'model_kwargs' in combo else len(found) + 1
  argv = ['main', f'--config={CONFIG}', f'--workdir={paths / "wd"}']
  _assert_one_line(run_main(argv + _as_args(combo)), *combo, lines=lines)


_ANY_TEXT = st.one_of(
  _JUNK,
  st.text(max_size=6),
  st.integers().map(str),
  _HUGE.map(str),
  _NUMBER.map(repr),
  st.sampled_from(['None', '', '()', '(1,)', 'True', '-0', '1e400']),
  st.lists(_NUMBER, max_size=4).map(lambda v: _tuple_text(v) if v else '()'),
)


def _main_never_crashes(sentinels, paths, fields):
  """Any values: accepted, or one message (a line per problem); never a
  traceback."""
  del sentinels
  argv = ['main', f'--config={CONFIG}', f'--workdir={paths / "wd"}']
  argv += [f'--config.{name}={text}' for name, text in fields.items()]
  code, stderr = run_main(argv)
  if code != 'started':
    assert code == 2 and stderr.startswith('Error: '), (code, stderr)


test_main_never_crashes, test_main_never_crashes_large = _budgets(
  dict(
    fields=st.dictionaries(
      # debug=True asks for tracebacks.
      st.sampled_from([n for n in NAMES if n not in ('model_kwargs', 'debug')]),
      _ANY_TEXT,
      min_size=1,
      max_size=3,
    )
  ),
  _main_never_crashes,
)
test_main_refuses_each_bad_value, test_main_refuses_each_bad_value_large = (
  _budgets(dict(field=bad_field(texts=True)), _main_refuses_each_bad_value)
)
(
  test_main_refuses_bad_combinations,
  test_main_refuses_bad_combinations_large,
) = _budgets(dict(combo=_combos()), _main_refuses_bad_combinations)


# --- The flags of each command ---------------------------------------------------
# {flag: strategy of bad values}; the other flags keep values that pass.


def _ints_below(low):
  return st.one_of(st.integers(max_value=low - 1), _HUGE.map(lambda h: -h)).map(
    str
  )


def _not_int():
  parser = flags.IntegerParser()
  return st.one_of(
    st.sampled_from(['1.5', 'abc', '', 'nan']),
    _JUNK.filter(lambda t: not _parses(parser, t)),
  )


def _not_float():
  parser = flags.FloatParser()
  return st.one_of(
    st.sampled_from(['abc', '', '1,5']),
    _JUNK.filter(lambda t: not _parses(parser, t)),
  )


def _not_bool():
  parser = flags.BooleanParser()
  return _JUNK.filter(lambda t: t and not _parses(parser, t))


def _config_files(tmp):
  return st.sampled_from(
    [
      str(tmp / 'no_such_config.py'),
      str(tmp / 'raises.py'),
      str(tmp / 'no_get_config.py'),
      str(tmp / 'empty_dir'),
    ]
  )


def _flag(draw, table):
  """(flag, its bad value) drawn from ``table``."""
  flag = draw(st.sampled_from(sorted(table)))
  return flag, draw(table[flag])


def _main_flags(tmp):
  return {'workdir': _bad_paths(tmp), 'config': _config_files(tmp)}


def _predict_flags(tmp):
  return {
    'top_k': st.one_of(_ints_below(1), _not_int()),
    'batch_size': st.one_of(_ints_below(1), _not_int()),
    'which': _not_in(['best', 'latest']).filter(lambda t: t.strip()),
    'json': _not_bool(),
    'checkpoint': st.sampled_from(
      [str(tmp / 'no_such_dir'), str(tmp / 'a_file'), str(tmp / 'empty_dir')]
    ),
    'images': st.sampled_from(
      [str(tmp / 'no_such_image.jpg'), str(tmp / 'empty_dir')]
    ),
  }


def _convert_flags(tmp):
  return {
    'source': _not_in(['torchvision', 'timm', 'keras']).filter(str.strip),
    'model': _not_in(_model_names()).filter(str.strip),
    'num_classes': st.one_of(_ints_below(1), _not_int()),
    'input_size': st.one_of(
      _ints_below(0), _not_int(), st.integers(1, 16).map(str)
    ),
    'max_relative_error': st.one_of(
      _not_float(), st.sampled_from(['nan', 'NaN', '-nan'])
    ),
    'weights': st.sampled_from(
      [str(tmp / 'no_such.pth'), str(tmp / 'empty_dir')]
    ),
    'out': _bad_paths(tmp),
    'transform_input': _not_bool(),
  }


def _summary_flags(tmp):
  return {
    'model': _not_in(_model_names()).filter(str.strip),
    'input_shape': st.one_of(
      st.lists(st.integers(-5, 64), min_size=1, max_size=5)
      .filter(lambda s: len(s) != 3 or min(s) < 1)
      .map(lambda s: ','.join(map(str, s))),
      _JUNK.filter(lambda t: t and not t.replace(',', '').isdigit()),
    ),
    'num_classes': st.one_of(_ints_below(1), _not_int()),
    'batch_size': st.one_of(_ints_below(1), _not_int()),
    'depth': st.one_of(_ints_below(-1), _not_int()),
    'flops': _not_bool(),
    'config': _config_files(tmp),
  }


def _benchmark_flags(tmp):
  return {
    'mode': _not_in(['train', 'eval', 'input', 'all']).filter(str.strip),
    'steps': st.one_of(_ints_below(1), _not_int()),
    'warmup': st.one_of(_ints_below(0), _not_int()),
    'input_batches': st.one_of(_ints_below(1), _not_int()),
    'peak_flops': st.one_of(
      _not_float(),
      st.floats(max_value=0, exclude_max=True).map(repr),
      st.sampled_from(['nan', 'inf']),
    ),
    'json_out': st.sampled_from(
      [str(tmp / 'empty_dir'), str(tmp / 'no_such_dir' / 'x.json')]
    ),
    'config': _config_files(tmp),
  }


@functools.cache
def _model_names():
  from cnn_jax import models  # pylint: disable=g-import-not-at-top

  return models.known_models()


def _named(flag, value):
  """What a message about ``--flag=value`` may name."""
  return (f'--{flag}', flag, value.strip() or f'--{flag}')


def _predict_refuses(sentinels, paths, data):
  del sentinels
  flag, value = _flag(data.draw, _predict_flags(paths))
  args = {
    'checkpoint': f'--checkpoint={paths / "no_such_checkpoint"}',
    'images': str(paths / 'image.png'),
  }
  args[flag] = value if flag == 'images' else f'--{flag}={value}'
  _assert_one_line(
    run_predict(['predict', *args.values()]), *_named(flag, value)
  )


def _convert_refuses(sentinels, paths, data):
  del sentinels
  flag, value = _flag(data.draw, _convert_flags(paths))
  args = {
    'source': '--source=torchvision',
    'model': '--model=resnet18',
    'out': f'--out={paths / "converted"}',
  }
  args[flag] = f'--{flag}={value}'
  _assert_one_line(
    run_convert(['convert', *args.values()]), *_named(flag, value)
  )


def _summary_refuses(sentinels, paths, data):
  del sentinels
  if data.draw(st.booleans()):  # a config's fields, as main's
    name, arg = data.draw(bad_field(texts=True))
    argv = ['summary', f'--config={CONFIG}', arg]
    _assert_one_line(run_summary(argv), name)
    return
  flag, value = _flag(data.draw, _summary_flags(paths))
  args = {'model': '--model=lenet5'}
  if flag == 'config':
    args.pop('model')
  args[flag] = f'--{flag}={value}'
  _assert_one_line(
    run_summary(['summary', *args.values()]), *_named(flag, value)
  )


def _benchmark_refuses(sentinels, paths, data):
  del sentinels
  if data.draw(st.booleans()):
    name, arg = data.draw(bad_field(texts=True))
    _assert_one_line(
      run_benchmark(['benchmark', f'--config={CONFIG}', arg]), name
    )
    return
  flag, value = _flag(data.draw, _benchmark_flags(paths))
  args = {'config': f'--config={CONFIG}'}
  args[flag] = f'--{flag}={value}'
  _assert_one_line(
    run_benchmark(['benchmark', *args.values()]), *_named(flag, value)
  )


def _main_flags_refused(sentinels, paths, data):
  del sentinels
  flag, value = _flag(data.draw, _main_flags(paths))
  args = {
    'config': f'--config={CONFIG}',
    'workdir': f'--workdir={paths / "wd"}',
  }
  args[flag] = f'--{flag}={value}'
  _assert_one_line(run_main(['main', *args.values()]), *_named(flag, value))


def _sweep_refuses(sentinels, paths, data):
  del sentinels
  kind = data.draw(
    st.sampled_from(['field', 'unknown_field', 'file', 'option'])
  )
  sweep = str(paths / 'sweep.py')
  if kind in ('field', 'unknown_field'):
    if kind == 'field':
      name, value = data.draw(bad_field())
      if isinstance(value, ml_collections.ConfigDict):
        value = value.to_dict()
    else:
      name, value = 'zz_' + data.draw(_WORD), 1
    sweep = str(paths / 'bad_sweep.py')
    with open(sweep, 'w') as f:
      f.write(_sweep_text({name: value}))
    _assert_one_line(run_sweep([sweep]), name)
  elif kind == 'file':
    path = data.draw(
      st.sampled_from(
        [
          str(paths / 'no_such_sweep.py'),
          str(paths / 'not_a_sweep.py'),
          str(paths / 'broken_sweep.py'),
          str(paths / 'empty_dir'),
        ]
      )
    )
    _assert_one_line(run_sweep([path]), path)
  else:
    option = data.draw(
      st.one_of(
        _WORD.map(lambda w: f'--zz_{w}'),
        _WORD.map(lambda w: f'--filter=zz_{w}'),
        st.just('--filter'),
      )
    )
    _assert_one_line(run_sweep([sweep, option]), option.split('=')[0])


_FLAGS = dict(data=st.data())
test_main_flags, test_main_flags_large = _budgets(_FLAGS, _main_flags_refused)
test_predict_flags, test_predict_flags_large = _budgets(
  _FLAGS, _predict_refuses
)
test_convert_flags, test_convert_flags_large = _budgets(
  _FLAGS, _convert_refuses
)
test_summary_flags, test_summary_flags_large = _budgets(
  _FLAGS, _summary_refuses
)
test_benchmark_flags, test_benchmark_flags_large = _budgets(
  _FLAGS, _benchmark_refuses
)
test_sweep_flags, test_sweep_flags_large = _budgets(_FLAGS, _sweep_refuses)
