"""Configuration: Hydra composes YAML, `schema` turns it into frozen typed objects."""
