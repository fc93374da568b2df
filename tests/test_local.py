"""Local classification: the lattice of a finite region, region clusters, LocalClassifier, CLI."""

import os

import ase.io
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymatgen.core import Lattice, Structure
from scipy.spatial.transform import Rotation

from skcrystal import load_pretrained
from skcrystal._finite_lattice import finite_lattice
from skcrystal._region import region_cluster
from skcrystal.cli import main
from skcrystal.datasets import make_prototype_dataset
from skcrystal.defects import ThermalDisplacements
from skcrystal.local import MIN_ON_LATTICE, LocalClassifier, LocalLabels, _Vote
from skcrystal.polycrystal import atom_probe, make_polycrystal, make_precipitates


def _region(structure, sites, centre_offset, rotation=None):
    """Atoms of a big supercell within the radius of ``sites`` sites, relative to a centre."""
    big = structure.copy()
    big.make_supercell([int(np.ceil(36 / w)) for w in big.lattice.abc])
    positions = big.cart_coords @ (np.eye(3) if rotation is None else rotation).T
    centre = positions.mean(axis=0) + centre_offset
    primitive = structure.get_primitive_structure()
    radius = (3 * sites * primitive.volume / len(primitive) / (4 * np.pi)) ** (1 / 3)
    inside = np.linalg.norm(positions - centre, axis=1) < radius
    return positions[inside] - centre, np.array(big.atomic_numbers)[inside], primitive


@pytest.fixture(scope="module")
def prototypes():
    return make_prototype_dataset(2, random_state=3)


@pytest.fixture(scope="module")
def model():
    return load_pretrained()


def test_finite_lattice_finds_the_primitive_cell_of_every_class(prototypes):
    structures, labels = prototypes
    rng = np.random.default_rng(0)
    for structure, label in zip(structures, labels):
        rotation = Rotation.random(random_state=rng).as_matrix()
        positions, _, primitive = _region(structure, 256, rng.normal(size=3), rotation)
        found = finite_lattice(positions, np.zeros(3))
        assert found is not None, label
        assert abs(np.linalg.det(found)) == pytest.approx(primitive.volume, rel=0.03), label


def test_finite_lattice_under_correlated_thermal_motion_and_vacancies(prototypes):
    structures, labels = prototypes
    rng = np.random.default_rng(1)
    for structure, label in zip(structures, labels):
        big = structure.copy()
        big.make_supercell([int(np.ceil(36 / w)) for w in big.lattice.abc])
        hot = ThermalDisplacements(lindemann=0.1, random_state=0).transform([big])[0]
        keep = rng.random(len(hot)) > 0.3
        positions = hot.cart_coords[keep]
        centre = positions.mean(axis=0)
        primitive = structure.get_primitive_structure()
        radius = (3 * 256 * primitive.volume / len(primitive) / (4 * np.pi)) ** (1 / 3)
        region = positions[np.linalg.norm(positions - centre, axis=1) < radius] - centre
        found = finite_lattice(region, np.zeros(3))
        assert found is not None, label
        assert abs(np.linalg.det(found)) == pytest.approx(primitive.volume, rel=0.05), label


def test_finite_lattice_of_random_points_is_none():
    rng = np.random.default_rng(0)
    points = rng.uniform(-10, 10, (400, 3))
    assert finite_lattice(points[np.linalg.norm(points, axis=1) < 10], np.zeros(3)) is None
    assert finite_lattice(points[:5]) is None


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**16), shift=st.floats(-1.0, 1.0))
def test_region_cluster_does_not_depend_on_rotation_or_atom_order(seed, shift):
    """The image of a region turned (about its centre) and its atoms shuffled is the same."""
    from skcrystal import DiffractionFingerprint

    iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    positions, numbers, _ = _region(iron, 300, np.array([shift, 0.3, -0.2]))
    rng = np.random.default_rng(seed)
    rotation = Rotation.random(random_state=rng).as_matrix()
    order = rng.permutation(len(positions))
    first, _, _ = region_cluster(positions, numbers, 200)
    second, _, on_lattice = region_cluster(positions[order] @ rotation.T, numbers[order], 200)
    assert on_lattice == 1.0
    fingerprint = DiffractionFingerprint(n_pixels=32, compile=False)
    images = fingerprint.render([first, second])
    assert np.abs(images[0] - images[1]).max() < 1e-3
    assert second.scale == pytest.approx(2.87 * np.sqrt(3) / 2, rel=1e-3)


def test_region_cluster_reports_its_atoms():
    iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    positions, numbers, _ = _region(iron, 400, np.zeros(3))
    cluster, members, _ = region_cluster(positions, numbers, 200)
    assert len(members) == len(cluster.numbers) == len(set(members.tolist()))
    # The cluster is the atoms nearest its centre: no member is further out than a non-member.
    centre = positions[members].mean(axis=0)
    inside = np.linalg.norm(positions[members] - centre, axis=1).max()
    outside = np.delete(np.linalg.norm(positions - centre, axis=1), members).min()
    assert inside <= outside + 1e-6


def test_vote_majority_unknown_and_mean_probabilities():
    vote = _Vote(4, 2)
    ones = np.ones(2)
    vote.add(np.array([0, 1]), np.array([0.9, 0.1]), False, ones)
    vote.add(np.array([1, 2]), np.array([0.2, 0.8]), True, ones)
    vote.add(np.array([2]), np.array([0.3, 0.7]), True, ones[:1])
    labels, proba, _ = vote.result(np.array(["a", "b"]), "unknown")
    # Atom 1: one accepted vote (a), one rejected: not more than half unknown, so "a".
    assert labels.tolist() == ["a", "a", "unknown", "unknown"]
    np.testing.assert_allclose(proba[1], [0.55, 0.45])
    assert np.isnan(proba[3]).all()
    np.testing.assert_array_equal(vote.count, [1, 2, 2, 0])
    # Weighted: a near region (weight 1) outvotes a far, unknown one (weight 0.2).
    weighted = _Vote(1, 2)
    weighted.add(np.array([0]), np.array([0.1, 0.9]), False, np.array([1.0]))
    weighted.add(np.array([0]), np.array([0.9, 0.1]), True, np.array([0.2]))
    labels, proba, _ = weighted.result(np.array(["a", "b"]), "unknown")
    assert labels.tolist() == ["b"]
    np.testing.assert_allclose(proba[0], [(0.1 + 0.18) / 1.2, (0.9 + 0.02) / 1.2], rtol=1e-6)
    # A region the network did not see (astride a boundary) counts as unknown, not in the mean.
    unseen = _Vote(1, 2)
    unseen.add(np.array([0]), np.array([0.1, 0.9]), False, np.array([0.4]))
    unseen.add(np.array([0]), None, True, np.array([0.6]))
    labels, proba, held = unseen.result(np.array(["a", "b"]), "unknown")
    assert labels.tolist() == ["unknown"]
    np.testing.assert_allclose(proba[0], [0.1, 0.9], rtol=1e-6)
    # Filled: the class of the regions that got one, where any holds the atom.
    assert held.tolist() == ["b"]


def test_the_main_process_threads_are_restored(model):
    import torch

    before = torch.get_num_threads()
    iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]]) * 6
    LocalClassifier(model, stride=17.0, n_jobs=2).classify(iron)
    assert torch.get_num_threads() == before


def test_a_single_region_is_carved_here_whatever_n_jobs(model, monkeypatch):
    from skcrystal import local

    def here(relative, members, numbers, n_atoms):
        return RuntimeError(f"carved in {os.getpid()}")

    # Run in a worker process, it would name that process.
    monkeypatch.setattr(local, "_region_task", here)
    iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]]) * 4
    with pytest.warns(RuntimeWarning, match="1 of 1 regions"):
        result = LocalClassifier(model, stride=50.0, n_jobs=2).classify(iron)
    assert result.errors == {0: f"RuntimeError: carved in {os.getpid()}"}


def test_a_single_crystal_box_is_one_class_everywhere(model):
    iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]]) * 8
    result = LocalClassifier(model, stride=12.0).classify(iron)
    assert isinstance(result, LocalLabels)
    assert len(result.centres) == 8 and set(result.labels) == {"bcc"}
    assert result.proba.shape == (8, len(result.classes))
    np.testing.assert_allclose(result.proba.sum(axis=1), 1, rtol=1e-5)
    assert 0 < np.mean(result.atom_coverage > 0) < 1  # the stride is wider than the clusters
    assert set(result.atom_labels) == {"bcc"}  # atoms no cluster holds: the nearest region
    # One region: the box corners are further from its centre than a region radius, and
    # still take its class, filled or not.
    sparse = LocalClassifier(model, stride=23.0).classify(iron)
    assert len(sparse.centres) == 1 and sparse.phase_fractions(unknown="fill") == {"bcc": 1.0}


def test_a_bicrystal_is_resolved_away_from_its_boundaries(model):
    atoms, truth = make_polycrystal(
        44.0, 2, classes=("fcc", "bcc"), element="Fe", nn_distance=2.5, random_state=1
    )
    result = LocalClassifier(model, stride=6.0).classify(atoms)
    interior = truth.boundary_distance > 8
    assert interior.sum() > 200
    assert np.mean(result.atom_labels[interior] == truth.labels[interior]) > 0.8
    # Near a boundary: the right class or unknown, seldom a third, confident class.
    near = truth.boundary_distance < 2
    wrong = (result.atom_labels[near] != truth.labels[near]) & (
        result.atom_labels[near] != "unknown"
    )
    assert wrong.mean() < 0.2
    known = result.phase_fractions(unknown="drop")
    assert "unknown" not in known and sum(known.values()) == pytest.approx(1.0)
    # Filled: the boundary atoms go to the crystals on either side, about as the truth has it.
    filled = result.phase_fractions(unknown="fill")
    assert filled.get("unknown", 0.0) < result.phase_fractions()["unknown"]
    assert filled["bcc"] == pytest.approx(np.mean(truth.labels == "bcc"), abs=0.1)
    was_unknown = result.atom_labels == "unknown"
    assert np.mean(result.atom_filled_labels[was_unknown] == truth.labels[was_unknown]) > 0.7
    with pytest.raises(ValueError, match="'keep', 'drop' or 'fill'"):
        result.phase_fractions(unknown=False)
    # Regions astride a boundary are not one crystal: unknown, whatever the network says.
    astride = result.on_lattice < MIN_ON_LATTICE
    assert astride.any() and set(result.labels[astride]) == {"unknown"}


def test_a_point_cloud_is_accepted_and_an_amorphous_one_is_unknown(model):
    from ase import Atoms
    from ase.build import bulk

    crystal, kept = atom_probe(
        bulk("Cu", cubic=True) * 9, efficiency=0.8, sigma=(0.05, 0.05, 0.1), random_state=0
    )
    result = LocalClassifier(model, stride=12.0).classify(crystal)
    assert result.cluster_sizes.min() > 0 and len(kept) == len(result.atom_labels)
    assert np.mean(result.atom_labels[result.atom_coverage > 0] == "fcc") > 0.7
    rng = np.random.default_rng(0)
    gas = Atoms("Cu" * 2000, positions=rng.uniform(0, 30, (2000, 3)), pbc=False)
    amorphous = LocalClassifier(model, stride=15.0).classify(gas)
    assert set(amorphous.labels) == {"unknown"}
    # No region got a class: nothing to fill from.
    assert amorphous.phase_fractions(unknown="fill") == {"unknown": 1.0}


def test_writers_round_trip(model, tmp_path):
    atoms, _ = make_precipitates(26.0, 1, 6.0, random_state=0)
    result = LocalClassifier(model, stride=13.0).classify(atoms)
    result.write_extxyz(tmp_path / "out.extxyz", atoms)
    back = ase.io.read(tmp_path / "out.extxyz")
    np.testing.assert_array_equal(back.arrays["skcrystal_label"], result.atom_labels.astype(str))
    np.testing.assert_array_equal(back.arrays["skcrystal_coverage"], result.atom_coverage)
    np.testing.assert_array_equal(
        back.arrays["skcrystal_filled"], result.atom_filled_labels.astype(str)
    )
    classes = result.classes.tolist()
    expected = [
        classes.index(label) if label in classes else -1 for label in result.atom_labels.tolist()
    ]
    np.testing.assert_array_equal(back.arrays["skcrystal_class"], expected)
    result.save_grid(tmp_path / "grid.npz")
    with np.load(tmp_path / "grid.npz") as grid:
        np.testing.assert_allclose(grid["centres"], result.centres)
        np.testing.assert_array_equal(grid["labels"], result.labels.astype(str))
    result.save_grid(tmp_path / "grid.csv")
    lines = (tmp_path / "grid.csv").read_text().splitlines()
    assert len(lines) == 1 + len(result.centres) and lines[0].startswith(
        "x,y,z,label,nearest,score"
    )
    with pytest.raises(ValueError, match=r"\.npz or \.csv"):
        result.save_grid(tmp_path / "grid.txt")
    with pytest.raises(ValueError, match="atoms"):
        result.write_extxyz(tmp_path / "bad.extxyz", atoms[:10])


def test_bad_samples_get_clear_errors(model):
    from ase.build import bulk

    slab = bulk("Cu", cubic=True) * 3
    slab.pbc = [True, True, False]
    with pytest.raises(ValueError, match="periodic along"):
        LocalClassifier(model).classify(slab)
    with pytest.raises(TypeError, match="pymatgen Structure or Molecule, or an ase.Atoms"):
        LocalClassifier(model).classify(np.zeros((10, 3)))
    with pytest.raises(TypeError, match="steps 'fingerprint' and 'classifier'"):
        LocalClassifier(model=object()).classify(slab)
    broken = bulk("Cu", cubic=True) * 3
    broken.positions[0] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        LocalClassifier(model).classify(broken)
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError):
        LocalClassifier(model, stride=-1.0).classify(bulk("Cu", cubic=True) * 3)


def test_cli_local_writes_every_frame(tmp_path, capsys):
    from ase.build import bulk

    frames = [bulk("Fe", cubic=True) * 7, bulk("Cu", cubic=True) * 6]
    ase.io.write(tmp_path / "two.extxyz", frames)
    status = main(
        [
            "local",
            str(tmp_path / "two.extxyz"),
            "--stride",
            "20",
            "--output",
            str(tmp_path / "out.extxyz"),
            "--grid",
            str(tmp_path / "grid.csv"),
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 and "bcc 100.0%" in printed[0] and "fcc 100.0%" in printed[1]
    back = ase.io.read(tmp_path / "out.extxyz", ":")
    assert [len(frame) for frame in back] == [len(frame) for frame in frames]
    assert (tmp_path / "grid.csv").exists() and (tmp_path / "grid_frame1.csv").exists()
    assert main(["local", str(tmp_path / "missing.extxyz")]) == 1


def _write_tip(folder, atoms, masses):
    """A .pos file (big-endian float32 x, y, z in nm, mass-to-charge) and a .rrng file."""
    ions = np.column_stack([atoms.positions / 10, masses]).astype(">f4")
    ions.tofile(folder / "tip.pos")
    (folder / "tip.rrng").write_text(
        "[Ions]\nNumber=1\nIon1=Cu\n[Ranges]\nNumber=1\nRange1=31.0 32.5 Vol:0.01 Cu:1 Color:FF0000\n"
    )
    return folder / "tip.pos", folder / "tip.rrng"


def test_atom_probe_files_are_read_with_their_ranges(tmp_path):
    from ase.build import bulk

    from skcrystal.atom_probe import read_atom_probe

    crystal = bulk("Cu", cubic=True) * 4
    masses = np.where(np.arange(len(crystal)) % 10 == 0, 45.0, 31.7)  # every tenth ion unranged
    pos, rrng = _write_tip(tmp_path, crystal, masses)
    cloud = read_atom_probe(pos, rrng)
    assert len(cloud) == np.sum(masses < 40) and set(cloud.get_chemical_symbols()) == {"Cu"}
    np.testing.assert_allclose(cloud.positions, crystal.positions[masses < 40], atol=1e-5)
    assert not cloud.pbc.any()
    assert len(read_atom_probe(pos, element="Fe")) == len(crystal)
    with pytest.raises(ValueError, match="ranges= .* or element="):
        read_atom_probe(pos)
    with pytest.raises(ValueError, match="not an atom-probe reconstruction file"):
        read_atom_probe(tmp_path / "tip.xyz", element="Fe")


def test_cli_local_reads_an_atom_probe_file(tmp_path, capsys):
    from ase.build import bulk

    crystal = bulk("Cu", cubic=True) * 8
    pos, rrng = _write_tip(tmp_path, crystal, np.full(len(crystal), 31.7))
    assert main(["local", str(pos), "--ranges", str(rrng), "--stride", "30"]) == 0
    assert "fcc 100.0%" in capsys.readouterr().out
    assert main(["local", str(pos), "--stride", "30"]) == 1
    assert "element=" in capsys.readouterr().err


def test_fcc_hcp_stacking_lamellae_are_told_apart(model):
    from skcrystal.polycrystal import make_stacking

    atoms, truth = make_stacking(("fcc", 18, "hex/rh", 18), repeats=(8, 5))
    assert set(truth.labels.tolist()) == {"fcc", "hex/rh"}
    result = LocalClassifier(model, stride=8.0).classify(atoms)
    away = truth.boundary_distance >= 6
    assert np.mean(result.atom_labels[away] == truth.labels[away]) > 0.95
    fractions = result.phase_fractions(unknown="drop")
    assert fractions["fcc"] == pytest.approx(np.mean(truth.labels == "fcc"), abs=0.05)
    with pytest.raises(ValueError, match="alternate"):
        make_stacking(("bcc", 4))


def test_predict_keeps_the_good_samples_of_a_list(model):
    from ase.build import bulk

    good = bulk("Fe", cubic=True) * 7
    with pytest.warns(RuntimeWarning, match=r"sample 1 \(ndarray\) was not classified"):
        labels = LocalClassifier(model, stride=20.0).predict([good, np.zeros((4, 3)), good])
    assert labels[1] is None
    assert set(labels[0]) == set(labels[2]) == {"bcc"} and len(labels[0]) == len(good)
