"""Datasets as uint8 tensors held on the training device.

Importing this package registers every loader in `registry.DATASETS`.
"""

from ablate.data import digits, imagefolder, synthetic, torchvision_sets  # noqa: F401  (registration)
