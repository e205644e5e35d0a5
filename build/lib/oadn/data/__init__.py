"""Data sets: adapters over on-disk copies, the synthetic generator, landmark geometry and the loader."""
