"""Preparation: face alignment and 68 landmarks with scores, computed once per data set and cached.

``prepare`` writes the cache, ``open_prepared_split`` reads it back as a :class:`~oadn.data.faces.FaceSource`
and ``show`` draws the paper's interest points for a visual check.
"""
