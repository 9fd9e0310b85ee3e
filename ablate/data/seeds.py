"""Derived seeds: one stable 63-bit seed per (seed, epoch, purpose), the same in every process and on every device."""

from __future__ import annotations

import hashlib

import torch


def mix(*parts) -> int:
    """A 63-bit seed derived from a tuple of ints and strings (no Python hash randomisation involved)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def generator(*parts) -> torch.Generator:
    """A CPU generator seeded from `parts`, e.g. (seed, epoch): identical draws on every rank and device."""
    return torch.Generator().manual_seed(mix(*parts))
