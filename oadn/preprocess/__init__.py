"""Writers: face alignment and 68 landmarks with scores, computed once per data set into a cache (``prepare``),
a prepared data set as one file (``pack``), the paper's interest points drawn for a visual check (``show``), and
the visibility network trained on pasted occluders (``visibility_fit``). What they write is read back by
:mod:`oadn.data` (``oadn.data.prepared``, ``oadn.data.packed``, ``oadn.data.landmarks.visibility``).
"""
