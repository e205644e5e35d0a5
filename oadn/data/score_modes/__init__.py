"""Score modes: how the ``occluded`` data set sets an occluded face's 68 landmark scores (``scores=NAME``). Each
is one class registered in :data:`.base.SCORE_MODES` (the built-in ones in :mod:`.builtin`); the lists users see
(``datasets list``, errors, the docs' check) are generated from the registry."""
