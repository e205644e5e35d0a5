"""Controlled occlusion: occluders pasted onto aligned faces, and the ``occluded`` wrapper data set."""
