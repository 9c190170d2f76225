"""The typed run spec: frozen dataclasses that check their own types and ranges.

The leaf that data, models, train, diagnostics and the store's readers build
on: it imports nothing of ablate but errors, so everything may import it.
Hydra composition (`ablate.config`) sits above it and turns YAML into these
objects once; past that edge code gets them, never a DictConfig.

  checks   from_mapping (plain mapping → dataclass), require, require_choice
  options  a choice's own options: one class per level, and `added_later`
  augs     each augmentation's parameters, in application order
  choices  norm, act and init: a class per level, each with its options only
  run      RunConfig and the other groups' configs
"""
