"""Configuration: Hydra composes YAML into the typed objects of `ablate.schema`."""
