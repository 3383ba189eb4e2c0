"""The parameter count of every registered model, and where it comes from.

A new model cannot be registered without an entry here:
``tests/models/test_every_model.py`` checks every registered model against
this table. The figures are the reference implementations' own, read off by
instantiating each with random weights (1,000 classes unless the model's
native count is 10):

* torchvision 0.29.1 and timm 1.0.31: ``sum(p.numel() for p in
  model.parameters())``: trainable parameters, BatchNorm running statistics
  excluded (our ``params``).
* Keras 3.15.1 ``keras.applications``: ``model.count_params()``, which
  *includes* BatchNorm moving mean and variance (our ``params + batch_stats``).
* Papers and tutorials: the number printed there (exact counts only).
* ``DERIVED``: models no library builds (the papers print rounded millions):
  the count our architecture arithmetic gives, re-derived from the layer
  shapes by the family tests (``test_resnet.py``, ``test_densenet_...py``,
  ``test_classic.py``, ``test_mobile.py``), pinned here.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Count:
  value: int
  source: str
  includes_bn_statistics: bool = False  # Keras' count_params().


def _table(source, counts, **kwargs):
  return {
    name: Count(value, source, **kwargs) for name, value in counts.items()
  }


TORCHVISION = _table(
  'torchvision 0.29.1',
  {
    'alexnet': 61_100_840,
    'vgg11': 132_863_336,
    'vgg11_bn': 132_868_840,
    'vgg13': 133_047_848,
    'vgg13_bn': 133_053_736,
    'vgg16': 138_357_544,
    'vgg16_bn': 138_365_992,
    'vgg19': 143_667_240,
    'vgg19_bn': 143_678_248,
    'googlenet': 6_624_904,  # googlenet(aux_logits=False)
    'googlenet_aux': 13_004_888,  # googlenet(aux_logits=True)
    'inception_v3': 23_834_568,  # inception_v3(aux_logits=False)
    'inception_v3_aux': 27_161_264,  # inception_v3(aux_logits=True)
    'resnet18': 11_689_512,
    'resnet34': 21_797_672,
    'resnet50': 25_557_032,
    'resnet101': 44_549_160,
    'resnet152': 60_192_808,
    'resnext50_32x4d': 25_028_904,
    'resnext101_32x8d': 88_791_336,
    'resnext101_64x4d': 83_455_272,
    'wide_resnet50_2': 68_883_240,
    'wide_resnet101_2': 126_886_696,
    'densenet121': 7_978_856,
    'densenet161': 28_681_000,
    'densenet169': 14_149_480,
    'densenet201': 20_013_928,
    'mobilenet_v2': 3_504_872,
    'mobilenet_v3_large': 5_483_032,
    'mobilenet_v3_small': 2_542_856,
    'mnasnet0_5': 2_218_512,
    'mnasnet0_75': 3_170_208,
    'mnasnet1_0': 4_383_312,
    'mnasnet1_3': 6_282_256,
    'shufflenet_v2_x0_5': 1_366_792,
    'shufflenet_v2_x1_0': 2_278_604,
    'shufflenet_v2_x1_5': 3_503_624,
    'shufflenet_v2_x2_0': 7_393_996,
    # shufflenet_v2_x1_0(num_classes=10): the small stem changes strides only.
    'shufflenet_v2_x1_0_cifar': 1_263_854,
    'squeezenet1_0': 1_248_424,
    'squeezenet1_1': 1_235_496,
    'efficientnet_b0': 5_288_548,
    'efficientnet_b1': 7_794_184,
    'efficientnet_b2': 9_109_994,
    'efficientnet_b3': 12_233_232,
    'efficientnet_b4': 19_341_616,
    'efficientnet_b5': 30_389_784,
    'efficientnet_b6': 43_040_704,
    'efficientnet_b7': 66_347_960,
    # Keras' ConvNeXtTiny..Large count the same (no BatchNorm statistics).
    'convnext_tiny': 28_589_128,
    'convnext_small': 50_223_688,
    'convnext_base': 88_591_464,
    'convnext_large': 197_767_336,
    'efficientnet_v2_s': 21_458_488,
    'efficientnet_v2_m': 54_139_356,
    'efficientnet_v2_l': 118_515_272,
    'regnet_x_400mf': 5_495_976,
    'regnet_x_800mf': 7_259_656,
    'regnet_x_1_6gf': 9_190_136,
    'regnet_x_3_2gf': 15_296_552,
    'regnet_x_8gf': 39_572_648,
    'regnet_x_16gf': 54_278_536,
    'regnet_x_32gf': 107_811_560,
    'regnet_y_400mf': 4_344_144,
    'regnet_y_800mf': 6_432_512,
    'regnet_y_1_6gf': 11_202_430,
    'regnet_y_3_2gf': 19_436_338,
    'regnet_y_8gf': 39_381_472,
    'regnet_y_16gf': 83_590_140,
    'regnet_y_32gf': 145_046_770,
    'regnet_y_128gf': 644_812_894,
    # regnet_x/y_400mf(num_classes=10): the stem's stride has no parameters.
    'regnet_x_400mf_cifar': 5_098_986,
    'regnet_y_400mf_cifar': 3_907_554,
  },
)

TIMM = _table(
  'timm 1.0.31',
  {
    'seresnet50': 28_088_024,
    'seresnext50_32x4d': 27_559_896,
    'senet154': 115_088_984,
    'preact_resnet18': 11_687_720,  # resnetv2_18
    'preact_resnet34': 21_795_880,  # resnetv2_34
    'preact_resnet50': 25_549_352,  # resnetv2_50
    'preact_resnet101': 44_541_480,  # resnetv2_101
    'preact_resnet152': 60_185_128,  # resnetv2_152
    'mobilenetv1_100': 4_231_976,
    'mobilenetv1_125': 6_270_840,
    'legacy_xception': 22_855_952,
    'nasnetalarge': 88_753_150,
    'inception_v4': 42_679_816,
    'inception_resnet_v2': 55_843_464,
  },
)

KERAS = _table(
  'keras 3.15.1 applications',
  {
    'inception_v3_keras': 23_851_784,  # InceptionV3
    'inception_resnet_v2_keras': 55_873_736,  # InceptionResNetV2
    'resnet50_keras': 25_636_712,  # ResNet50
    'resnet50v2': 25_613_800,  # ResNet50V2
    'resnet101v2': 44_675_560,  # ResNet101V2
    'resnet152v2': 60_380_648,  # ResNet152V2
    'densenet121_keras': 8_062_504,  # DenseNet121
    'xception': 22_910_480,  # Xception
    'mobilenet_keras': 4_253_864,  # MobileNet
    'nasnetamobile': 5_326_716,  # NASNetMobile
    'efficientnet_v2_s_keras': 21_612_360,  # EfficientNetV2S
    'efficientnet_v2_m_keras': 54_431_388,  # EfficientNetV2M
    'efficientnet_v2_l_keras': 119_027_848,  # EfficientNetV2L
  },
  includes_bn_statistics=True,
)

PAPERS = {
  **_table(
    'UvA DL course, tutorial 5 (CIFAR-10, 10 classes)',
    {
      'googlenet_uvadl': 260_650,
      'resnet_uvadl': 272_378,
      'preact_resnet_uvadl': 272_250,
      'densenet_uvadl': 239_146,
    },
  ),
  'lenet5': Count(
    61_706,
    'LeNet-5, modern form: full C3, average pooling, dense 10-way output',
  ),
  'lenet5_1998': Count(
    60_840,
    'LeCun et al. 1998: C1 156 + S2 12 + C3 1,516 '
    '+ S4 32 + C5 48,120 + F6 10,164 + RBF 840',
  ),
}

DERIVED = _table(
  'architecture arithmetic (family tests), pinned',
  {
    'alexnet_2012': 62_378_344,  # one-tower form of Krizhevsky et al. 2012
    'vgg11_lrn': 132_863_336,  # LRN has no parameters: = vgg11
    'vgg16_c': 133_638_952,  # Simonyan & Zisserman's config C
    'googlenet_2014': 13_378_280,  # Szegedy et al. 2014, aux heads included
    'densenet264': 33_337_704,
    'densenet_bc_100_12': 769_162,  # Huang et al.: 0.8M
    'densenet_bc_250_24': 15_324_406,  # 15.3M
    'densenet_bc_190_40': 25_624_430,  # 25.6M
    'mobilenetv1_025': 470_072,  # timm's width rule, multiplier 0.25
    'mobilenetv1_050': 1_331_592,
    'mobilenetv1_075': 2_585_560,
    'resnet20': 269_722,  # He et al. 2016: 0.27M
    'resnet32': 464_154,  # 0.46M
    'resnet44': 658_586,  # 0.66M
    'resnet56': 853_018,  # 0.85M
    'resnet110': 1_727_962,  # 1.7M
    'plain20': 269_722,  # option-A shortcuts have no parameters
    'plain32': 464_154,
    'plain44': 658_586,
    'plain56': 853_018,
    'preact_resnet164': 1_703_258,  # He et al. 2016b: 1.7M
    'preact_resnet1001': 10_327_706,  # 10.2M printed
    'resnext29_8x64d': 34_426_698,  # Xie et al.: 34.4M
    'resnext29_16x64d': 68_155_210,  # 68.1M
    'wrn16_8': 10_961_370,  # Zagoruyko & Komodakis: 11.0M
    'wrn28_10': 36_479_194,  # 36.5M
    'wrn40_4': 8_949_210,  # 8.9M
    'resnet30_keras': 15_609_354,
    'plain30_keras': 15_434_634,
  },
)

REFERENCE = {**TORCHVISION, **TIMM, **KERAS, **PAPERS, **DERIVED}
assert len(REFERENCE) == (
  len(TORCHVISION) + len(TIMM) + len(KERAS) + len(PAPERS) + len(DERIVED)
), 'a model listed twice'
