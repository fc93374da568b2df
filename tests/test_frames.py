"""Files of several frames: read_frames yields them all, estimators never cut them to one."""

import pickle

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.io.trajectory import Trajectory

from skcrystal import DiffractionFingerprint, StructureError, read_frames
from skcrystal.io import to_crystal

#: Three frames a reader cannot mix up: elements, classes and cells all differ.
FRAMES = [
    bulk("Cu", "fcc", a=3.61, cubic=True),
    bulk("Fe", "bcc", a=2.87, cubic=True),
    bulk("Al", "fcc", a=4.05, cubic=True),
]
FORMULAS = ["Cu4", "Fe2", "Al4"]


def write_dump(path, frames, *, element=False):
    """A LAMMPS text dump of orthogonal boxes, as LAMMPS writes it (ASE cannot write one)."""
    kinds = {
        symbol: kind
        for kind, symbol in enumerate(dict.fromkeys(s for f in frames for s in f.symbols), 1)
    }
    with open(path, "w") as handle:
        for step, atoms in enumerate(frames):
            a, b, c = np.diag(atoms.cell)
            handle.write(
                f"ITEM: TIMESTEP\n{100 * step}\nITEM: NUMBER OF ATOMS\n{len(atoms)}\n"
                f"ITEM: BOX BOUNDS pp pp pp\n0 {a}\n0 {b}\n0 {c}\n"
                f"ITEM: ATOMS id type{' element' if element else ''} x y z\n"
            )
            handle.writelines(
                f"{i} {kinds[symbol]}{' ' + symbol if element else ''} {x} {y} {z}\n"
                for i, (symbol, (x, y, z)) in enumerate(zip(atoms.symbols, atoms.positions), 1)
            )
    return path


@pytest.fixture
def trajectory(tmp_path):
    path = tmp_path / "md.extxyz"
    ase.io.write(path, FRAMES)
    return path


def test_every_frame_in_file_order(trajectory):
    frames = list(read_frames(trajectory))
    assert [atoms.get_chemical_formula() for atoms in frames] == FORMULAS
    for atoms, expected in zip(frames, FRAMES):
        np.testing.assert_allclose(atoms.cell, expected.cell)
        np.testing.assert_allclose(atoms.positions, expected.positions, atol=1e-8)


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (":", [0, 1, 2]),
        ("::2", [0, 2]),
        ("1:", [1, 2]),
        ("-1", [2]),
        ("-2:", [1, 2]),
        (" :2 ", [0, 1]),
        (-2, [1]),
        (np.int64(0), [0]),
        (slice(1, None, 5), [1]),
        ("5:", []),
    ],
)
def test_index_selects_frames_as_in_ase(trajectory, index, expected):
    formulas = [atoms.get_chemical_formula() for atoms in read_frames(trajectory, index)]
    assert formulas == [FORMULAS[i] for i in expected]


def test_an_integer_past_the_end_is_an_index_error(trajectory):
    with pytest.raises(IndexError, match="md.extxyz.*frame index 3"):
        list(read_frames(trajectory, 3))


@pytest.mark.parametrize(
    ("index", "species", "error", "words"),
    [
        ("a:b", None, ValueError, "neither a frame number nor a slice"),
        ("1:2:3:4", None, ValueError, "neither a frame number nor a slice"),
        ("", None, ValueError, "neither a frame number nor a slice"),
        ("::-1", None, ValueError, "step must be positive"),
        (slice(None, None, 0), None, ValueError, "step must be positive"),
        (1.5, None, TypeError, "'index' parameter of read_frames"),
        (True, None, TypeError, "index must be"),
        (slice(0.5, 2), None, TypeError, "integers or None"),
        (":", {0: "Al"}, ValueError, "integer from 1"),
        (":", {1: "Xx"}, ValueError, "not an element"),
        (":", {1: 0}, ValueError, "not an element"),
        (":", {}, TypeError, "non-empty mapping"),
        (":", ["Al"], TypeError, "'species' parameter of read_frames"),
    ],
)
def test_bad_arguments_are_refused_at_the_call(tmp_path, index, species, error, words):
    # The file does not exist: the arguments are checked before it is opened.
    with pytest.raises(error, match=words):
        read_frames(tmp_path / "missing.extxyz", index, species=species)


def test_files_of_one_structure_yield_one_frame(tmp_path):
    fe = FRAMES[1]
    paths = [tmp_path / "Fe.cif", tmp_path / "POSCAR", tmp_path / "Fe.extxyz"]
    fe.write(paths[0])
    fe.write(paths[1], format="vasp")
    fe.write(paths[2])
    for path in paths:
        [atoms] = read_frames(path)
        crystal = to_crystal(path)
        assert atoms.numbers.tolist() == crystal.numbers.tolist() == [26, 26]
        np.testing.assert_allclose(atoms.cell, crystal.cell, atol=1e-6)
        assert list(read_frames(path, "1:")) == []
        assert len(list(read_frames(path, -1))) == 1


def test_compressed_and_ase_trajectories(tmp_path):
    gz = tmp_path / "md.extxyz.gz"
    ase.io.write(gz, FRAMES)
    traj = tmp_path / "md.traj"
    with Trajectory(traj, "w") as writer:
        for atoms in FRAMES:
            writer.write(atoms)
    for path in (gz, traj):
        assert [a.get_chemical_formula() for a in read_frames(path)] == FORMULAS
        assert [a.get_chemical_formula() for a in read_frames(path, "-2:")] == FORMULAS[1:]
        with pytest.raises(StructureError, match="more than one frame"):
            to_crystal(path)


def test_a_frame_that_cannot_be_used_names_the_file_and_the_frame(tmp_path):
    broken = FRAMES[1].copy()
    broken.positions[1] = broken.positions[0] + 0.01
    path = tmp_path / "md.extxyz"
    ase.io.write(path, [FRAMES[0], broken, FRAMES[2]])
    frames = read_frames(path)
    assert next(frames).get_chemical_formula() == "Cu4"
    with pytest.raises(
        StructureError, match=r"md.extxyz'\), frame 1: atoms 0 and 1 are on top"
    ) as caught:
        next(frames)
    assert caught.value.frame == 1
    # As the error says: the frames after it are read by starting after it.
    assert [
        a.get_chemical_formula() for a in read_frames(path, slice(caught.value.frame + 1, None))
    ] == ["Al4"]


def test_a_frame_whose_text_is_broken(tmp_path):
    path = tmp_path / "md.extxyz"
    ase.io.write(path, FRAMES)
    lines = path.read_text().splitlines(keepends=True)
    second = 2 + len(FRAMES[0])  # the first line of frame 1
    lines[second + 2] = "Fe 0.0 zero 0.0\n"
    path.write_text("".join(lines))
    with pytest.raises(StructureError, match="frame 1: could not be read") as caught:
        list(read_frames(path))
    assert caught.value.frame == 1
    assert [a.get_chemical_formula() for a in read_frames(path, "2:")] == ["Al4"]


def test_the_second_frame_is_found_without_reading_the_rest(tmp_path):
    # Two good frames, then what no reader could parse: only a reader that stops early
    # gives the trajectory error and the first two frames.
    path = tmp_path / "md.extxyz"
    ase.io.write(path, FRAMES[:2])
    with open(path, "a") as handle:
        handle.write("not a frame\n" * 1000)
    with pytest.raises(StructureError, match="more than one frame"):
        to_crystal(path)
    assert [a.get_chemical_formula() for a in read_frames(path, slice(0, 2))] == FORMULAS[:2]
    with pytest.raises(StructureError, match="frame 2: .*expected the number of atoms"):
        list(read_frames(path))


def test_lammps_dump_types_need_their_elements(tmp_path):
    path = write_dump(tmp_path / "md.lammpstrj", FRAMES)
    with pytest.raises(StructureError, match="atom types without elements.*species=") as caught:
        list(read_frames(path))
    assert caught.value.frame is None  # the whole file, not one error per frame
    frames = list(read_frames(path, species={1: "Cu", 2: "Fe", 3: 13}))
    assert [a.get_chemical_formula() for a in frames] == FORMULAS
    np.testing.assert_allclose(frames[1].cell, FRAMES[1].cell)
    with pytest.raises(StructureError, match=r"type\(s\) \[3\] have no element"):
        list(read_frames(path, species={1: "Cu", 2: "Fe"}))
    # An element column is the file's own answer.
    named = write_dump(tmp_path / "named.dump", FRAMES, element=True)
    assert [a.get_chemical_formula() for a in read_frames(named)] == FORMULAS
    assert [a.get_chemical_formula() for a in read_frames(named, species={1: "Au"})] == FORMULAS


def test_lammps_dumps_under_any_name(tmp_path):
    single = write_dump(tmp_path / "snapshot.txt", FRAMES[:1], element=True)
    assert to_crystal(single).numbers.tolist() == [29] * 4
    several = write_dump(tmp_path / "md.dump", FRAMES, element=True)
    with pytest.raises(StructureError, match="more than one frame"):
        to_crystal(several)
    typed = write_dump(tmp_path / "one.lammpstrj", FRAMES[:1])
    with pytest.raises(StructureError, match="atom types without elements"):
        to_crystal(typed)


def test_estimators_refuse_a_trajectory_and_keep_the_good_items(trajectory):
    fingerprint = DiffractionFingerprint(on_error="nan")
    with pytest.warns(RuntimeWarning, match="1 of 2 items"):
        images = fingerprint.transform([str(trajectory), FRAMES[1]])
    assert images.shape == (2, 3, 64, 64)
    assert np.isnan(images[0]).all() and np.isfinite(images[1]).all()
    [error] = fingerprint.transform_with_errors([str(trajectory), FRAMES[1]])[1]
    assert error.index == 0 and "md.extxyz" in str(error)
    assert "more than one frame" in error.reason and "skcrystal.read_frames(path)" in error.reason
    with pytest.raises(StructureError, match=r"X\[1\].*more than one frame"):
        DiffractionFingerprint().transform([FRAMES[0], trajectory])
    # As the message says: its frames are items.
    assert DiffractionFingerprint().transform(list(read_frames(trajectory))).shape == (3, 3, 64, 64)


def test_a_frame_error_pickles_with_its_frame():
    error = StructureError("atoms 0 and 1 are on top of each other", item="md.extxyz", frame=7)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.frame, copy.item, str(copy)) == (7, "md.extxyz", str(error))
    assert str(error) == "item ('md.extxyz'), frame 7: atoms 0 and 1 are on top of each other"
