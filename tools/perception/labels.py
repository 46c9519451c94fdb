"""The detector's vocabulary: the 80 COCO classes under their TensorFlow ids, and the words for them.

A phrase names a class by its label, a plural, or a common synonym ("people", "bike", "mug");
``find_class`` returns the class a phrase names, or None when it names none of them.
"""

from __future__ import annotations

import re

COCO = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train", 8: "truck", 9: "boat",
    10: "traffic light", 11: "fire hydrant", 13: "stop sign", 14: "parking meter", 15: "bench", 16: "bird", 17: "cat",
    18: "dog", 19: "horse", 20: "sheep", 21: "cow", 22: "elephant", 23: "bear", 24: "zebra", 25: "giraffe", 27: "backpack",
    28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase", 34: "frisbee", 35: "skis", 36: "snowboard", 37: "sports ball",
    38: "kite", 39: "baseball bat", 40: "baseball glove", 41: "skateboard", 42: "surfboard", 43: "tennis racket",
    44: "bottle", 46: "wine glass", 47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
    54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza", 60: "donut", 61: "cake",
    62: "chair", 63: "couch", 64: "potted plant", 65: "bed", 67: "dining table", 70: "toilet", 72: "tv", 73: "laptop",
    74: "mouse", 75: "remote", 76: "keyboard", 77: "cell phone", 78: "microwave", 79: "oven", 80: "toaster", 81: "sink",
    82: "refrigerator", 84: "book", 85: "clock", 86: "vase", 87: "scissors", 88: "teddy bear", 89: "hair drier",
    90: "toothbrush",
}  # fmt: skip
LABELS = frozenset(COCO.values())

SYNONYMS = {
    "person": ["people", "man", "men", "woman", "women", "child", "children", "kid", "kids", "boy", "boys", "girl", "girls",
               "human", "humans", "lady", "ladies", "guy", "guys", "baby", "babies", "figure", "figures", "astronaut", "astronauts",
               "persons"],
    "bicycle": ["bike", "bikes", "cycle", "cycles"], "motorcycle": ["motorbike", "motorbikes", "scooter", "scooters"],
    "airplane": ["plane", "planes", "aeroplane", "aeroplanes", "jet", "jets", "aircraft"], "car": ["automobile", "automobiles"],
    "cup": ["mug", "mugs", "coffee cup", "teacup"], "couch": ["sofa", "sofas"], "tv": ["television", "televisions", "tvs", "monitor"],
    "dining table": ["table", "tables"], "potted plant": ["plant", "plants", "houseplant"], "cell phone": ["phone", "phones",
    "mobile phone", "smartphone"], "cat": ["kitten", "kittens", "kitty"], "dog": ["puppy", "puppies"], "sports ball": ["ball",
    "balls", "football", "soccer ball"], "donut": ["doughnut", "doughnuts"], "hair drier": ["hair dryer"], "teddy bear": ["teddy"],
    "laptop": ["notebook computer"], "refrigerator": ["fridge", "fridges"], "bird": ["birds"], "boat": ["ship", "ships"],
}  # fmt: skip

IRREGULAR = {"sheep": "sheep", "skis": "skis", "knife": "knives", "mouse": "mice", "bus": "buses", "bench": "benches",
             "wine glass": "wine glasses", "sandwich": "sandwiches", "couch": "couches", "cell phone": "cell phones",
             "toothbrush": "toothbrushes", "scissors": "scissors", "hot dog": "hot dogs", "tennis racket": "tennis rackets",
             "broccoli": "broccoli", "dining table": "dining tables", "hair drier": "hair driers"}  # fmt: skip


def _plural(label: str) -> str:
    return IRREGULAR.get(label, label + "s")


def _forms() -> dict[str, str]:
    forms: dict[str, str] = {}
    for label in LABELS:
        forms[label] = label
        forms[_plural(label)] = label
    for label, words in SYNONYMS.items():
        for word in words:
            forms.setdefault(word, label)
    return forms


FORMS = _forms()
_PATTERN = re.compile(r"\b(" + "|".join(sorted((re.escape(f) for f in FORMS), key=len, reverse=True)) + r")\b")


def find_class(text: str) -> tuple[str, str] | None:
    """(COCO label, the words that named it) for the first class a phrase names, else None."""
    match = _PATTERN.search(text.lower())
    return (FORMS[match.group(1)], match.group(1)) if match else None


def is_plural(word: str) -> bool:
    """True when ``word`` (as found by ``find_class``) is a plural form."""
    label = FORMS[word]
    return word != label and (word == _plural(label) or word.endswith("s") or word in ("people", "men", "women", "children"))
