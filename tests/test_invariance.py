"""Property-based invariance of the fingerprint (hypothesis).

Pristine crystals: the image must not change (to float32 precision) under atom permutation,
rotation, translation, supercell (also non-diagonal) and primitive/conventional cell choice.
Defective crystals: exact under permutation and rotation; under the other operations the
cluster's centre lands on other vacancies or displacements, so the image may change by
finite-size noise only; and a defective crystal keeps the orientation of its pristine parent.
"""

import numpy as np
from conftest import CRYSTALS, MORE_HEX, rotated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymatgen.core import Structure
from scipy.spatial.transform import Rotation

from skcrystal import DiffractionFingerprint, _bragg, _orientation

ALL = {name: structure for name, (structure, _) in CRYSTALS.items()} | MORE_HEX
FP = DiffractionFingerprint(n_pixels=48, pixel_size=5.4e-4, beam_stop_radius=3.5, compile=False)
EXACT = 2e-4
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.sampled_from(sorted(ALL))
rotations = st.integers(0, 2**32 - 1).map(
    lambda seed: Rotation.random(random_state=seed).as_matrix()
)
translations = st.tuples(*[st.floats(-1, 1, allow_nan=False)] * 3).map(np.array)
supercells = (
    st.lists(st.integers(-2, 2), min_size=9, max_size=9)
    .map(lambda m: np.array(m).reshape(3, 3))
    .filter(lambda m: 1 <= abs(round(np.linalg.det(m))) <= 4)
)
seeds = st.integers(0, 2**32 - 1)

_reference = {}


def reference(name):
    if name not in _reference:
        _reference[name] = FP.transform([ALL[name]])[0]
    return _reference[name]


def relative(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def permuted(structure, seed):
    order = np.random.default_rng(seed).permutation(len(structure))
    species = structure.species  # a new list on every access: read it once
    return Structure(structure.lattice, [species[i] for i in order], structure.frac_coords[order])


def translated(structure, shift):
    return Structure(structure.lattice, structure.species, structure.frac_coords + shift)


def supercell(structure, matrix):
    out = structure.copy()
    out.make_supercell(matrix)
    return out


def defective(name, seed, vacancies=0.0, sigma=0.0, n_sites=256):
    """A >= n_sites supercell of a crystal with random vacancies and displacements."""
    rng = np.random.default_rng(seed)
    structure = ALL[name]
    k = int(np.ceil((n_sites / len(structure)) ** (1 / 3)))
    big = supercell(structure, [k, k, k])
    keep = np.sort(rng.permutation(len(big))[: round(len(big) * (1 - vacancies))])
    coords = big.cart_coords[keep] + rng.normal(0.0, sigma, (len(keep), 3))
    species = big.species
    return Structure(
        big.lattice, [species[i] for i in keep], coords, coords_are_cartesian=True
    ), big


@SETTINGS
@given(names, seeds, rotations, translations)
def test_pristine_permutation_rotation_translation(name, seed, rotation, shift):
    structure = ALL[name]
    variants = [
        permuted(structure, seed),
        rotated(structure, rotation),
        translated(structure, shift),
    ]
    for image in FP.transform(variants):
        np.testing.assert_allclose(image, reference(name), atol=EXACT)


@SETTINGS
@given(names, supercells, rotations)
def test_pristine_supercell_and_cell_choice(name, matrix, rotation):
    structure = ALL[name]
    variants = [
        supercell(structure, matrix),
        rotated(structure.get_primitive_structure(), rotation),
        supercell(structure.get_primitive_structure(), matrix),
    ]
    for image in FP.transform(variants):
        np.testing.assert_allclose(image, reference(name), atol=EXACT)


@settings(max_examples=8, deadline=None)
@given(names, st.integers(1000, 3000), rotations)
def test_a_pristine_box_of_several_regions_gives_the_crystal_image(name, n_atoms, rotation):
    # A box wider than a cluster is carved into up to eight regions, copies of one cluster.
    k = int(np.ceil((n_atoms / len(ALL[name])) ** (1 / 3)))
    big = rotated(supercell(ALL[name], [[k, 0, 0], [1, k, 0], [0, 0, k]]), rotation)
    [cluster] = FP.clusters([big])
    assert cluster.regions is not None
    np.testing.assert_allclose(FP.render([cluster])[0], reference(name), atol=EXACT)


@SETTINGS
@given(names, seeds, rotations, st.sampled_from([(0.3, 0.0), (0.0, 0.05), (0.1, 0.02)]))
def test_defective_permutation_and_rotation_are_exact(name, seed, rotation, defects):
    structure, _ = defective(name, seed, *defects)
    images = FP.transform([structure, permuted(structure, seed), rotated(structure, rotation)])
    np.testing.assert_allclose(images[1], images[0], atol=EXACT)
    np.testing.assert_allclose(images[2], images[0], atol=EXACT)


@SETTINGS
@given(names, seeds, translations, st.sampled_from([(0.3, 0.0), (0.0, 0.05), (0.1, 0.02)]))
def test_defective_translation_and_supercell_change_only_finite_size_noise(
    name, seed, shift, defects
):
    structure, _ = defective(name, seed, *defects)
    images = FP.transform(
        [
            structure,
            translated(structure, shift),
            supercell(structure, [[1, 1, 0], [0, 1, 0], [0, 0, 1]]),
        ]
    )
    assert relative(images[1], images[0]) < 0.35
    assert relative(images[2], images[0]) < 0.35


@SETTINGS
@given(names, seeds, rotations, st.sampled_from([(0.3, 0.0), (0.0, 0.05), (0.0, 0.1), (0.1, 0.02)]))
def test_defective_crystal_keeps_the_orientation_of_its_parent(name, seed, rotation, defects):
    structure, parent = defective(name, seed, *defects)
    structure, parent = rotated(structure, rotation), rotated(parent, rotation)
    frames = []
    for s in (structure, parent):
        primitive = _bragg.bragg_lattice(s.lattice.matrix, s.frac_coords)
        frames.append(_orientation.canonical_rotation(primitive))
    # Same cell, same frame up to a lattice symmetry: the standardised cells coincide.
    ours = np.abs(parent.lattice.matrix @ frames[0].T)
    theirs = np.abs(parent.lattice.matrix @ frames[1].T)
    np.testing.assert_allclose(np.sort(ours.ravel()), np.sort(theirs.ravel()), atol=1e-6)
    assert relative(FP.transform([structure])[0], reference(name)) < 0.35


def test_left_handed_cells_give_the_same_image():
    for name, structure in ALL.items():
        matrix = structure.lattice.matrix
        swapped = Structure(
            matrix[[1, 0, 2]], structure.species, structure.frac_coords[:, [1, 0, 2]]
        )
        assert np.linalg.det(swapped.lattice.matrix) < 0
        np.testing.assert_allclose(
            FP.transform([swapped])[0], reference(name), atol=EXACT, err_msg=name
        )
