"""The Hydra config tree, shipped as the package data of `ablate.conf`.

It sits at the top of the repository, beside `ablate/`, and pyproject.toml maps
it into the wheel as `ablate.conf`; `ablate.config.compose.package_conf_dir`
finds it with importlib.resources. Only the YAML files matter to Hydra.
"""
