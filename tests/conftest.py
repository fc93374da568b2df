"""Canonical crystals of the seven classes, built inline, and shared helpers."""

import os

import numpy as np
import pytest
from hypothesis import Phase, settings
from pymatgen.core import Lattice, Structure

# Each example fingerprints whole crystals: shrinking a failure could take many minutes, and
# the unshrunk example is already readable. CI runs the same examples every time, so a red
# CI is a real failure, reproducible locally with HYPOTHESIS_PROFILE=ci.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
settings.register_profile("default", phases=NO_SHRINK)
settings.register_profile("ci", phases=NO_SHRINK, derandomize=True, print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default")
)


#: A small detector with the paper's field of view: fast, and still a real image.
FAST = {
    "n_pixels": 16,
    "pixel_size": 1.6e-3,
    "beam_stop_radius": 1.25,
    "target_n_atoms": 32,
    "compile": False,
}


def _build(lattice, species, coords, group):
    return Structure.from_spacegroup(group, lattice, species, coords)


def make_crystals():
    """One pristine, conventional-cell crystal per class, keyed by a short name.

    Returns ``{name: (structure, label)}``.
    """
    return {
        "fcc": (_build(Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]], "Fm-3m"), "fcc"),
        "bcc": (_build(Lattice.cubic(3.16), ["W"], [[0, 0, 0]], "Im-3m"), "bcc"),
        "sc": (_build(Lattice.cubic(3.35), ["Po"], [[0, 0, 0]], "Pm-3m"), "sc"),
        "diam": (_build(Lattice.cubic(5.43), ["Si"], [[0, 0, 0]], "Fd-3m"), "diam"),
        "hcp": (
            _build(Lattice.hexagonal(3.21, 5.21), ["Mg"], [[1 / 3, 2 / 3, 0.25]], "P6_3/mmc"),
            "hex/rh",
        ),
        "bct139": (_build(Lattice.tetragonal(3.25, 4.95), ["In"], [[0, 0, 0]], "I4/mmm"), "bct139"),
        "bct141": (
            _build(Lattice.tetragonal(5.83, 3.18), ["Sn"], [[0, 0, 0]], "I4_1/amd"),
            "bct141",
        ),
    }


def make_more_hex():
    """The other hex/rh prototypes: rhombohedral Hg (hR1), As (hR2), Sm (hR3), La (hP4)."""
    return {
        "hR1": _build(Lattice.hexagonal(3.46, 6.71), ["Hg"], [[0, 0, 0]], "R-3m"),
        "hR2": _build(Lattice.hexagonal(3.76, 10.55), ["As"], [[0, 0, 0.227]], "R-3m"),
        "hR3": _build(
            Lattice.hexagonal(3.63, 26.2), ["Sm", "Sm"], [[0, 0, 0], [0, 0, 0.222]], "R-3m"
        ),
        "hP4": _build(
            Lattice.hexagonal(3.77, 12.16),
            ["La", "La"],
            [[0, 0, 0], [1 / 3, 2 / 3, 0.25]],
            "P6_3/mmc",
        ),
    }


CRYSTALS = make_crystals()
MORE_HEX = make_more_hex()


@pytest.fixture(params=sorted(CRYSTALS))
def crystal(request):
    """``(name, structure, label)`` for each of the seven classes."""
    structure, label = CRYSTALS[request.param]
    return request.param, structure.copy(), label


def rotated(structure, rotation):
    """The same crystal with lattice and positions turned by ``rotation``."""
    return Structure(
        Lattice(structure.lattice.matrix @ np.asarray(rotation).T),
        structure.species,
        structure.frac_coords,
    )


@pytest.fixture(scope="session")
def tiny_pretrained(tmp_path_factory):
    """``(pipeline, info, folder)``: the shipped model's recipe at its smallest (ten crystals
    per class, one epoch), trained once for every test that needs a trained model, and saved."""
    from skcrystal.pretrained import save_pretrained, train_pretrained

    pipeline, info = train_pretrained(10, max_epochs=1, random_state=0, verbose=0)
    folder = tmp_path_factory.mktemp("model")
    save_pretrained(pipeline, folder, info)
    return pipeline, info, folder
