"""Training and evaluation as plain functions (torchvision-references style), plus metrics and the loader."""
