"""skcrystal: crystal-structure classification from diffraction fingerprints.

Public names only; heavy dependencies (torch, pymatgen) are imported when first used.
"""

from .fingerprint import DiffractionFingerprint
from .io import StructureError

__version__ = "0.1.0.dev0"

__all__ = ["DiffractionFingerprint", "StructureError", "__version__"]
