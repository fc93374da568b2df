"""The canonical cell of large periodic cells: two-stage Bragg search and carving."""

import numpy as np
import pytest
from ase.build import bulk
from conftest import CRYSTALS, FAST, MORE_HEX
from hypothesis import given, settings
from hypothesis import strategies as st
from pymatgen.core import Lattice, Structure
from scipy.spatial.transform import Rotation

from skcrystal import DiffractionFingerprint, _bragg, _cluster
from skcrystal.defects import Displacements, Vacancies

PROTOTYPES = {name: structure for name, (structure, _) in CRYSTALS.items()} | MORE_HEX


def _box(structure, n_atoms):
    """A diagonal supercell of about ``n_atoms`` atoms, as an MD box would be."""
    k = max(1, round((n_atoms / len(structure)) ** (1 / 3)))
    return structure * (k, k, k)


def _same_lattice(a, b):
    """Whether the rows of ``a`` and ``b`` span the same lattice."""
    relation = a @ np.linalg.inv(b)
    return (
        np.allclose(relation, np.round(relation), atol=1e-6)
        and round(abs(np.linalg.det(relation))) == 1
    )


def _two_stage(monkeypatch, chunk_atoms=128):
    """Send every cell through the two-stage search; returns the list of its calls."""
    calls = []
    two_stage = _bragg._two_stage_peaks

    def spy(*args):
        calls.append(args)
        return two_stage(*args)

    monkeypatch.setattr(_bragg, "DIRECT_SEARCH_POINTS", 1000)
    monkeypatch.setattr(_bragg, "CHUNK_ATOMS", chunk_atoms)
    monkeypatch.setattr(_bragg, "_two_stage_peaks", spy)
    return calls


PEROVSKITE = Structure(
    Lattice.cubic(3.905),
    ["Sr", "Ti", "O", "O", "O"],
    [[0, 0, 0], [0.5] * 3, [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
)


# 128 chunk atoms in a 4000-atom box: a chunk of a third of the box along each axis, searched
# on every other Miller index; 500: half the box, every index (its candidates' neighbours
# then give the noise level). The perovskite's weakest peaks (|F| = 0.2 with unit weights)
# need the 500-atom chunk's lower noise; the default chunk is 2048 atoms.
CASES = [(name, 128) for name in sorted(PROTOTYPES)] + [(name, 500) for name in sorted(PROTOTYPES)]


@pytest.mark.parametrize("name, chunk_atoms", CASES + [("perovskite", 500)])
def test_two_stage_search_finds_the_lattice_of_the_direct_search(name, chunk_atoms, monkeypatch):
    box = _box(PROTOTYPES.get(name, PEROVSKITE), 4000)
    box = Vacancies(0.2, min_atoms=1, random_state=0).transform([box])[0]
    box = Displacements(sigma=0.03, min_atoms=1, random_state=0).transform([box])[0]
    cell, frac = box.lattice.matrix, box.frac_coords
    direct = _bragg.bragg_lattice(cell, frac)
    calls = _two_stage(monkeypatch, chunk_atoms)
    two_stage = _bragg.bragg_lattice(cell, frac)
    assert len(calls) == 1
    assert direct is not None and two_stage is not None
    assert _same_lattice(two_stage, direct)
    # And it is the lattice of the pristine primitive cell, not a sublattice of it.
    primitive = PROTOTYPES.get(name, PEROVSKITE).get_primitive_structure().lattice.matrix
    assert _same_lattice(two_stage, primitive)


@pytest.mark.parametrize("name", ["fcc", "hcp", "bct141"])
def test_two_stage_search_in_a_turned_non_diagonal_box(name, monkeypatch):
    # A crystal cut along other axes than its cell's (an MD box of a [110]-oriented grain):
    # the box is still periodic, its peaks sit on the box's Miller indices, off the axes.
    structure = PROTOTYPES[name]
    box = structure.copy()
    box.make_supercell([[4, -4, 0], [4, 4, 0], [1, 0, 6]])
    rotation = Rotation.from_rotvec([0.3, -0.2, 0.9]).as_matrix()
    cell, frac = box.lattice.matrix @ rotation.T, box.frac_coords
    calls = _two_stage(monkeypatch)
    primitive = _bragg.bragg_lattice(cell, frac)
    assert len(calls) == 1
    assert _same_lattice(primitive, structure.get_primitive_structure().lattice.matrix @ rotation.T)


def test_a_box_searched_in_two_stages_gives_the_image_of_its_unit_cell(monkeypatch):
    reference = DiffractionFingerprint(**FAST).transform([bulk("Fe", "bcc", a=2.87)])[0]
    calls = _two_stage(monkeypatch)
    box = bulk("Fe", "bcc", a=2.87, cubic=True).repeat((12, 12, 12))  # 3456 atoms, ASE Atoms
    image = DiffractionFingerprint(**FAST).transform([box])[0]
    assert len(calls) == 1
    np.testing.assert_allclose(image, reference, atol=1e-5)


def test_a_box_without_a_crystal_falls_back_to_its_cell(monkeypatch):
    rng = np.random.default_rng(0)
    gas = Structure(
        Lattice.cubic(40.0), ["Ar"] * 3000, rng.random((3000, 3)), validate_proximity=False
    )
    _two_stage(monkeypatch)
    assert _bragg.bragg_lattice(gas.lattice.matrix, gas.frac_coords) is None


def _carve_by_brute_force(cell, frac, numbers, n_atoms, centre):
    """Every periodic image within a generous reach, sorted by distance: the definition."""
    offsets = np.stack(np.meshgrid(*[np.arange(-8, 9)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    frac = frac - centre
    positions = ((frac[None] + offsets[:, None]) @ cell).reshape(-1, 3)
    return np.sort(np.linalg.norm(positions, axis=1))


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 40),
    st.integers(8, 120),
)
def test_carved_cluster_holds_the_nearest_images_whatever_the_cell(seed, n_cell, n_atoms):
    rng = np.random.default_rng(seed)
    cell = np.diag(rng.uniform(3.0, 9.0, 3)) + np.triu(rng.uniform(-2.0, 2.0, (3, 3)), 1)
    frac = rng.random((n_cell, 3))
    centre = frac[rng.integers(n_cell)]
    positions, numbers = _cluster.carve_cluster(cell, frac, np.arange(n_cell), n_atoms, centre)
    radii = np.sort(np.linalg.norm(positions, axis=1))
    expected = _carve_by_brute_force(cell, frac, np.arange(n_cell), n_atoms, centre)
    # The cluster is a whole number of shells around the centre: the nearest images.
    np.testing.assert_allclose(radii, expected[: len(radii)], atol=1e-9)
    assert len(radii) == len(expected) or expected[len(radii)] > radii[-1] * (1 + 1e-7)
    assert len(numbers) == len(positions)


def test_subsets_of_big_cells_do_not_depend_on_atom_order(monkeypatch):
    monkeypatch.setattr(_cluster, "BASIS_ATOMS", 500)
    box = _box(PROTOTYPES["hcp"], 3000)
    box = Displacements(sigma=0.05, min_atoms=1, random_state=1).transform([box])[0]
    order = np.random.default_rng(0).permutation(len(box))
    species = box.species
    shuffled = Structure(box.lattice, [species[i] for i in order], box.frac_coords[order])
    frac = box.frac_coords - np.floor(box.frac_coords)
    np.testing.assert_array_equal(
        np.sort(_bragg._subset(frac, 2048), axis=0),
        np.sort(_bragg._subset(frac[order], 2048), axis=0),
    )
    images = DiffractionFingerprint(**FAST).transform([box, shuffled])
    np.testing.assert_allclose(images[0], images[1], atol=1e-6)


# Not hP4 (La, four atoms per cell): at 70 % vacancies in a 256-atom box its weakest peaks sink
# into the noise for half the seeds, with the span of all peaks as with this search.
@pytest.mark.parametrize("name", ["hcp", "hR3", "diam", "bct141"])
def test_weak_peaks_of_a_crystal_with_70_percent_vacancies_still_refine_the_lattice(name):
    # 77 atoms left of 256: the noise floor is high, and the weaker Bragg peaks that refine the
    # lattice of a crystal with a basis stand only a few noise scales above it.
    pristine = _box(PROTOTYPES[name], 256)
    expected = _bragg.bragg_lattice(pristine.lattice.matrix, pristine.frac_coords)
    for seed in range(3):
        vacant = Vacancies(0.7, min_atoms=1, random_state=seed).transform([pristine])[0]
        found = _bragg.bragg_lattice(vacant.lattice.matrix, vacant.frac_coords)
        assert found is not None and _same_lattice(found, expected)


def test_satellites_of_one_phonon_are_tested_once():
    # A simple cubic crystal in a doubled cell (Bragg peaks at even indices) and the
    # satellites G +- q of one phonon q = (1, 0, 0) beside several peaks: each would refine
    # the lattice to the same L + Z q, so only the first is tested.
    bragg = [[2, 0, 0], [0, 2, 0], [0, 0, 2], [2, 2, 0], [0, 2, 2]]
    satellites = [[3, 0, 0], [1, 2, 0], [-1, 2, 2], [1, 0, 2]]
    peaks = np.array(bragg + satellites)
    heights = np.array([1.0] * len(bragg) + [0.5] * len(satellites))
    tested = []

    def amplitude_at(indices):
        tested.append(np.asarray(indices))
        return np.where(np.all(np.asarray(indices) % 2 == 0, axis=1), 1.0, 0.0)

    basis = _bragg.indexing_basis(np.eye(3), peaks, heights, amplitude_at, 0.1, 4.0)
    assert basis.tolist() == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    assert len(tested) == 1
