"""Reading the items of X, and a clear error for every bad one."""

import os
import warnings

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from hypothesis import given, settings
from hypothesis import strategies as st
from pymatgen.core import Lattice, Molecule, Structure
from pymatgen.core.periodic_table import DummySpecies
from sklearn.utils._param_validation import InvalidParameterError

from skcrystal.io import StructureError, describe, read_frames, to_structure, to_structures

FE = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_structure_atoms_and_files_read_the_same(tmp_path):
    cif = tmp_path / "Fe.cif"
    FE.to(filename=str(cif))
    poscar = tmp_path / "POSCAR"
    FE.to(filename=str(poscar), fmt="poscar")
    extxyz = tmp_path / "Fe.extxyz"
    bulk("Fe", "bcc", a=2.87, cubic=True).write(extxyz)
    items = [FE, bulk("Fe", "bcc", a=2.87, cubic=True), str(cif), poscar, os.fspath(extxyz)]
    for structure in to_structures(items):
        assert structure.composition.reduced_formula == "Fe"
        assert len(structure) == 2
        np.testing.assert_allclose(structure.lattice.abc, (2.87,) * 3, atol=1e-6)


def test_lammps_data_is_read_through_ase(tmp_path):
    path = tmp_path / "fe.lmp"
    bulk("Fe", "bcc", a=2.87, cubic=True).write(path, format="lammps-data", masses=True)
    structure = to_structure(path)
    assert len(structure) == 2
    np.testing.assert_allclose(structure.volume, 2.87**3, rtol=1e-6)


def _bad_items(tmp_path):
    """(item, expected words in the message) for every kind of bad item."""
    empty = tmp_path / "empty.cif"
    empty.write_text("")
    binary = tmp_path / "noise.cif"
    binary.write_bytes(bytes(range(256)) * 4)
    truncated = tmp_path / "truncated.cif"
    FE.to(filename=str(truncated))
    truncated.write_text(truncated.read_text()[:120])
    plain_xyz = tmp_path / "molecule.xyz"
    plain_xyz.write_text("2\nwater-ish\nO 0 0 0\nH 0 0 0.96\n")
    nan = Structure(Lattice.cubic(3.0), ["Cu"], [[0, 0, 0]])
    nan.replace(0, "Cu", [np.nan, 0.0, 0.0])
    singular = Structure(
        Lattice([[1, 0, 0], [2, 0, 0], [0, 0, 1]]), ["Cu"], [[0, 0, 0]], validate_proximity=False
    )
    overlapping = Structure(Lattice.cubic(3.0), ["Cu", "Cu"], [[0, 0, 0], [0.01, 0, 0]])
    partial = Structure(Lattice.cubic(3.0), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
    dummy = Structure(Lattice.cubic(3.0), [DummySpecies("X")], [[0, 0, 0]])
    return [
        (str(tmp_path / "missing.cif"), "no such file"),
        (tmp_path, "directory"),
        (empty, "empty file"),
        (binary, "could not be read"),
        (truncated, "could not be read"),
        (plain_xyz, "periodic cell"),
        (Molecule(["H", "H"], [[0, 0, 0], [0, 0, 0.74]]), "no lattice"),
        (Structure(Lattice.cubic(3.0), [], []), "no atoms"),
        (Atoms(), "no atoms"),
        (Atoms("Cu", positions=[[0, 0, 0]], cell=[3, 3, 3], pbc=False), "pbc"),
        (nan, "non-finite"),
        (singular, "singular lattice"),
        (overlapping, "on top of each other"),
        (partial, "partial occupancies"),
        (dummy, "unknown element"),
        (42, "unsupported type"),
        ({"lattice": 1}, "unsupported type"),
        (np.zeros((3, 3)), "unsupported type"),
    ]


def test_every_bad_item_gets_an_error_that_names_it(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = _bad_items(tmp_path)
    for item, words in cases:
        with pytest.raises(StructureError) as info:
            to_structures([FE, item])
        message = str(info.value)
        assert message.startswith("X[1] ("), message
        assert words in message, message
        assert info.value.index == 1
        assert info.value.item is item


def test_paths_appear_in_messages(tmp_path):
    path = tmp_path / "missing.cif"
    with pytest.raises(StructureError, match="missing.cif"):
        to_structures([path])


@pytest.mark.parametrize(
    "X, error",
    [
        (FE, TypeError),
        ("Fe.cif", TypeError),
        (np.zeros((4, 3)), TypeError),
        ([], ValueError),
        (42, TypeError),
    ],
)
def test_x_itself_must_be_a_non_empty_sequence(X, error):
    with pytest.raises(error, match="X"):
        to_structures(X)


def test_describe_names_objects_by_type_and_formula():
    assert describe(FE, 0) == "X[0] (Structure Fe2)"
    assert describe(bulk("Cu"), 3) == "X[3] (Atoms Cu)"


def test_errors_survive_pickling_as_in_joblib_workers():
    import pickle

    error = StructureError("no atoms", index=3, item="empty.cif")
    restored = pickle.loads(pickle.dumps(error))
    assert str(restored) == str(error) == "X[3] ('empty.cif'): no atoms"
    assert (restored.index, restored.item, restored.reason) == (3, "empty.cif", "no atoms")


def test_strong_thermal_noise_is_not_an_overlap():
    rng = np.random.default_rng(0)
    light = Structure(Lattice.cubic(1.4), ["F"], [[0, 0, 0]]) * (6, 6, 6)
    coords = light.cart_coords + rng.normal(0, 0.1, (len(light), 3))
    noisy = Structure(light.lattice, light.species, coords, coords_are_cartesian=True)
    assert len(to_structure(noisy)) == len(light)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12), st.floats(0.21, 3.0))
def test_close_pairs_are_those_of_a_brute_force_search(seed, n_atoms, edge):
    from skcrystal._structures import _close_pairs
    from skcrystal.io import MIN_DISTANCE

    rng = np.random.default_rng(seed)
    cell = edge * (np.eye(3) + np.triu(rng.uniform(-0.4, 0.4, (3, 3)), 1))
    cart = rng.random((n_atoms, 3)) @ cell
    # Partners placed near atoms (often across a face of the cell), some closer than the limit.
    partners = cart + rng.normal(0, 1, (n_atoms, 3)) * rng.uniform(0.05, 0.4, (n_atoms, 1))
    frac = np.linalg.solve(cell.T, np.concatenate([cart, partners]).T).T
    frac -= np.floor(frac)
    first, second, distances = _close_pairs(frac, cell)
    found = {tuple(sorted(pair)) for pair in zip(first.tolist(), second.tolist())}

    shifts = np.stack(np.meshgrid(*[np.arange(-3, 4)] * 3, indexing="ij"), -1).reshape(-1, 3)
    expected = set()
    for i in range(len(frac)):
        for j in range(i + 1, len(frac)):
            nearest = np.linalg.norm((frac[j] - frac[i] + shifts) @ cell, axis=1).min()
            if nearest < MIN_DISTANCE:
                expected.add((i, j))
    assert found == expected
    assert np.all(distances < MIN_DISTANCE)


def test_large_files_other_than_cif_are_read_by_ase_first(tmp_path, monkeypatch):
    from skcrystal import _readers, io

    poscar = tmp_path / "POSCAR"
    FE.to(filename=str(poscar), fmt="poscar")
    cif = tmp_path / "Fe.cif"
    FE.to(filename=str(cif))
    assert isinstance(_readers._read(poscar), Structure) and isinstance(
        _readers._read(cif), Structure
    )
    by_pymatgen = io.to_crystal(poscar)
    # Set on skcrystal.io, the limit is the one the readers use.
    monkeypatch.setattr(io, "ASE_FIRST_BYTES", 0)
    assert _readers.ASE_FIRST_BYTES == 0
    assert isinstance(_readers._read(poscar), Atoms) and isinstance(_readers._read(cif), Structure)
    by_ase = io.to_crystal(poscar)
    np.testing.assert_allclose(by_ase.cell, by_pymatgen.cell, atol=1e-9)
    np.testing.assert_allclose(by_ase.frac_coords, by_pymatgen.frac_coords, atol=1e-9)
    np.testing.assert_array_equal(by_ase.numbers, by_pymatgen.numbers)
    # A file that neither reads is still reported with both readers' reasons.
    broken = tmp_path / "POSCAR_broken"
    broken.write_text("not a poscar\n")
    with pytest.raises(StructureError, match="pymatgen: .*ASE: |ASE: .*pymatgen: "):
        io.to_crystal(broken)


def test_the_first_of_equally_close_pairs_is_named():
    single = Structure(Lattice.cubic(9.0), ["Cu"] * 8, np.random.default_rng(0).random((8, 3)))
    doubled = Structure(
        single.lattice, single.species * 2, np.concatenate([single.frac_coords] * 2)
    )
    with pytest.raises(StructureError, match=r"atoms 0 and 8 are on top of each other \(0 A apart"):
        to_structure(doubled)


def test_a_structure_travels_to_workers_as_arrays_with_the_same_checks():
    import pickle

    from skcrystal._transport import _portable
    from skcrystal.io import to_crystal

    big = FE * (4, 4, 4)
    light = _portable(big)
    assert b"pymatgen" not in pickle.dumps(light)  # plain arrays, no site objects
    direct, via_arrays = to_crystal(big), to_crystal(light)
    np.testing.assert_array_equal(direct.cell, via_arrays.cell)
    np.testing.assert_array_equal(direct.frac_coords, via_arrays.frac_coords)
    np.testing.assert_array_equal(direct.numbers, via_arrays.numbers)
    # Every check, in the same order as for the Structure: a singular lattice is reported
    # before the partial occupancy that the sites showed.
    partial = Structure(Lattice.cubic(3.0), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
    singular_and_partial = Structure(
        Lattice([[1, 0, 0], [2, 0, 0], [0, 0, 1]]),
        [{"Cu": 0.5, "Au": 0.5}],
        [[0, 0, 0]],
        validate_proximity=False,
    )
    overlapping = Structure(Lattice.cubic(3.0), ["Cu", "Cu"], [[0, 0, 0], [0.01, 0, 0]])
    for structure in (partial, singular_and_partial, overlapping):
        with pytest.raises(StructureError) as direct_error:
            to_crystal(structure)
        with pytest.raises(StructureError) as travelled_error:
            to_crystal(pickle.loads(pickle.dumps(_portable(structure))))
        assert travelled_error.value.reason == direct_error.value.reason
    assert _portable("Fe.cif") == "Fe.cif"


def test_a_symmetrized_structure_is_one_structure_not_a_sequence_of_sites():
    from pymatgen.core import Lattice, Structure
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from skcrystal.io import check_sequence

    cu = Structure(
        Lattice.cubic(3.61), ["Cu"] * 4, [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    )
    symmetrized = SpacegroupAnalyzer(cu).get_symmetrized_structure()
    with pytest.raises(TypeError, match="got a single SymmetrizedStructure; wrap it in a list"):
        check_sequence(symmetrized)
    assert check_sequence([symmetrized]) == [symmetrized]


def test_a_crystal_carries_its_reduced_cell():
    from skcrystal.io import to_crystal

    m = FE.lattice.matrix
    skewed = Structure(
        Lattice([m[0], m[1] + 300 * m[0], m[2] + 300 * m[1]]),
        FE.species,
        FE.cart_coords,
        coords_are_cartesian=True,
    )
    crystal = to_crystal(skewed)
    # The same lattice (an integer basis change of determinant +-1), with vectors as short
    # as the unskewed cell's.
    change = np.linalg.solve(crystal.cell.T, crystal.reduced_cell.T)
    np.testing.assert_allclose(change, np.round(change), atol=1e-6)
    assert abs(round(np.linalg.det(change))) == 1
    assert (
        np.linalg.norm(crystal.reduced_cell, axis=1).max() <= 1.01 * np.linalg.norm(m, axis=1).max()
    )


@pytest.mark.parametrize(
    ("index", "species", "name"),
    [
        (1.5, None, "index"),
        (None, None, "index"),
        (":", ["Al"], "species"),
        (":", "Al=1", "species"),
    ],
)
def test_read_frames_names_an_argument_of_the_wrong_type(tmp_path, index, species, name):
    # Checked at the call, before the (missing) file is looked at.
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of read_frames"):
        read_frames(tmp_path / "missing.extxyz", index, species=species)


@pytest.mark.parametrize(
    ("path", "index", "species", "error", "words"),
    [
        (b"md.extxyz", ":", None, TypeError, "path must be a str or os.PathLike, got bytes"),
        ("md.extxyz", True, None, TypeError, "index must be a str, an int or a slice, got bool"),
        ("md.extxyz", ":", {}, TypeError, "non-empty mapping"),
        ("md.extxyz", ":", {np.int64(1): np.int64(29)}, StructureError, "no such file"),
    ],
)
def test_read_frames_keeps_its_own_checks(tmp_path, path, index, species, error, words):
    path = tmp_path / path if isinstance(path, str) else path
    with pytest.raises(error, match=words):
        list(read_frames(path, index, species=species))
