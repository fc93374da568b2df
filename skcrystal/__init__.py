"""skcrystal: crystal-structure classification from two-dimensional diffraction fingerprints.

Public names only. They are imported on first use, so that ``import skcrystal`` and the
command line's ``--help`` stay fast (no torch, pymatgen or scikit-learn at import time).
"""

import importlib

__version__ = "0.1.0.dev0"

_PUBLIC = {
    "CLASSES": "skcrystal.datasets",
    "CrystalClassifier": "skcrystal.classifier",
    "DiffractionFingerprint": "skcrystal.fingerprint",
    "LocalClassifier": "skcrystal.local",
    "SpglibBaseline": "skcrystal.baseline",
    "StructureError": "skcrystal.io",
    "load_pretrained": "skcrystal.pretrained",
    "make_prototype_dataset": "skcrystal.datasets",
    "read_frames": "skcrystal.io",
}

#: Public modules, also imported on first use (``skcrystal.plotting``...).
_MODULES = (
    "atom_probe",
    "baseline",
    "classifier",
    "datasets",
    "defects",
    "explain",
    "fingerprint",
    "io",
    "local",
    "outliers",
    "plotting",
    "polycrystal",
    "pretrained",
)

__all__ = [
    "CLASSES",
    "CrystalClassifier",
    "DiffractionFingerprint",
    "LocalClassifier",
    "SpglibBaseline",
    "StructureError",
    "__version__",
    "load_pretrained",
    "make_prototype_dataset",
    "read_frames",
]


def __getattr__(name):
    if name in _MODULES:
        return importlib.import_module(f"skcrystal.{name}")
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'skcrystal' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
