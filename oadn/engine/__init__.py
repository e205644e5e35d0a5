"""Training and evaluation as plain functions (torchvision-references style): the loop, the loader and device
step, evaluation and metrics, the run directory, resume and preflight, DDP, and bench."""
