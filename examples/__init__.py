"""Code as a user writes it, outside the `ablate` package (importable from the repository root)."""
