"""GoogLeNet (torchvision's BatchNorm variant) on ImageNet, shared recipe.

Run:
  python -m cnn_jax.main --config=configs/googlenet_imagenet.py --workdir=/tmp/googlenet

Model: ``googlenet`` = torchvision.models.googlenet, trained with its two
auxiliary classifiers (``model_kwargs.aux_logits=True``, 13,004,888 parameters;
6,624,904 are used at evaluation, where the aux heads are dropped). Their
losses are added with weight 0.3, as in the paper. Without aux heads:
--config.model_kwargs.aux_logits=False.

Recipe: configs/imagenet.py unchanged (SGD momentum 0.9, lr 0.1 per 256,
5 warmup epochs then cosine, weight decay 1e-4 not on BN/biases, label
smoothing 0.1, 90 epochs, Inception crop + flip at 224, bfloat16).

Expect: torchvision's IMAGENET1K_V1 weights give 69.778% top-1 / 89.53% top-5,
but they were ported from the original (TF) model, not trained with a
torchvision recipe; this recipe was not run in this repo. Runtime: not
measured (needs accelerators).
"""

from configs import imagenet


def get_config():
  c = imagenet.get_config('googlenet', image_size=224)
  c.model_kwargs.aux_logits = True
  c.aux_loss_weight = 0.3
  return c
