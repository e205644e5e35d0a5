"""The one canonical expression label space every data set is mapped onto.

The first seven names are the basic expressions in RAF-DB's order (the order the OADN paper's tables use);
contempt is appended so that 8-class protocols (FERPlus, AffectNet-8) are a strict extension of the 7-class
ones. A 7-class data set's labels are indices into ``CANONICAL_CLASSES[:7]``, an 8-class one's into all eight.
"""

from __future__ import annotations

CANONICAL_CLASSES: tuple[str, ...] = (
    "surprise",
    "fear",
    "disgust",
    "happiness",
    "sadness",
    "anger",
    "neutral",
    "contempt",
)
BASIC_CLASSES: tuple[str, ...] = CANONICAL_CLASSES[:7]


def class_space(num_classes: int) -> tuple[str, ...]:
    """The canonical class names of a 7- or 8-class protocol."""
    if num_classes not in (7, 8):
        raise ValueError(f"expected a 7- or 8-class protocol, got {num_classes} classes")
    return CANONICAL_CLASSES[:num_classes]


def canonical_index(name: str) -> int:
    """Index of an expression name (any case, 'neutral' misspellings excluded) in the canonical space."""
    key = name.strip().lower()
    if key not in CANONICAL_CLASSES:
        raise KeyError(f"unknown expression {name!r}; expected one of {', '.join(CANONICAL_CLASSES)}")
    return CANONICAL_CLASSES.index(key)


#: expression name as data sets spell their class folders (lower case, no separators) -> canonical class
SYNONYMS: dict[str, str] = {
    **{name: name for name in CANONICAL_CLASSES},
    "surprised": "surprise", "surprising": "surprise", "suprise": "surprise",
    "fearful": "fear", "afraid": "fear", "scared": "fear", "fright": "fear",
    "disgusted": "disgust", "disgusting": "disgust",
    "happy": "happiness", "joy": "happiness", "joyful": "happiness", "smile": "happiness", "happyness": "happiness",
    "sad": "sadness", "unhappy": "sadness",
    "angry": "anger", "mad": "anger",
    "neural": "neutral", "calm": "neutral", "neutrality": "neutral",
    "contemptuous": "contempt",
}


def canonical_class(name: str) -> str | None:
    """The canonical class a folder or option name stands for, or None when it is not an expression name."""
    return SYNONYMS.get(name.strip().lower().replace("-", "").replace("_", "").replace(" ", ""))
