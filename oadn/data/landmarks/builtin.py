"""The built-in landmark backends: importing this module registers ``fan``, ``dlib``, ``dataset`` and ``file``
(the registry in :mod:`oadn.data.landmarks.base` imports it at its first lookup)."""

from oadn.data.landmarks import dataset, dlib_backend, fan, file  # noqa: F401  (each module registers its backend)
