"""Datasets as uint8 tensors held on the training device.

Importing this package registers every loader in `registry.DATASETS`.
"""

from ablate.data import digits, imagefolder, mnist5k, synthetic, torchvision_sets  # noqa: F401  (registration)
