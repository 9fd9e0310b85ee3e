"""Hydra's config tree for ablate, shipped as the package `ablate.conf`."""
