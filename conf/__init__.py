"""Marks `conf/` as the package `ablate.conf`, which Hydra's `pkg://` config path requires; YAML only, no code."""
