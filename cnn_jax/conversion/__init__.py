"""Weight conversion from torchvision / timm / Keras models to ours."""
