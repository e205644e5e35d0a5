"""The one occluder painter: a canvas that draws every shape into colour and coverage at once, the shapes and
colours occluders are made of, and the two vocabularies of kinds built from them: ``real`` (pasted onto aligned
real faces, scaled to cover a share of the face) and ``synthetic`` (drawn into a synthetic face as it is drawn).
The coverage mask, never the kind, decides which landmarks an occluder hides."""
