"""One training run: the Hydra task (`app`), the trainer, the run record, the per-run lock and the device."""
