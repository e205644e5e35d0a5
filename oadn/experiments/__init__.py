"""The experiment layer: suites (a paper table each) and ablations (one setting over values), planning which
runs are new, reused or resumed, run identity, executors (local, slurm), and the ``run``/``ablate`` commands."""
