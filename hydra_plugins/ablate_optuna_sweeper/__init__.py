"""ablate's Optuna sweeper for Hydra (Optuna >= 4, ask and tell)."""
