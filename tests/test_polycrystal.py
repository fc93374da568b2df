"""The generated samples of skcrystal.polycrystal: their truth must be right to benchmark on."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from skcrystal.polycrystal import make_polycrystal, make_precipitates

COORDINATION = {"fcc": 12, "bcc": 8, "hex/rh": 12}


def coordination(atoms, nn_distance):
    size = atoms.cell.lengths()
    tree = cKDTree(atoms.positions % size, boxsize=size + 1e-9)
    return np.array(
        [
            len(found) - 1
            for found in tree.query_ball_point(atoms.positions % size, 1.1 * nn_distance)
        ]
    )


def test_grains_are_whole_crystals_across_the_box_faces():
    atoms, truth = make_polycrystal(40.0, 3, random_state=2)
    counts = coordination(atoms, 2.55)
    expected = np.array([COORDINATION[label] for label in truth.labels])
    # Away from the grain boundaries every atom has its class's coordination, also at the box
    # faces (a grain laid out in the box coordinates would meet its periodic image there).
    inside = truth.boundary_distance > 2 * 2.55
    size = atoms.cell.lengths()[0]
    at_faces = inside & (np.minimum(atoms.positions, size - atoms.positions).min(axis=1) < 2.0)
    assert at_faces.sum() > 100
    np.testing.assert_array_equal(counts[inside], expected[inside])
    assert truth.boundary_distance.min() >= 0


def test_precipitates_sit_in_one_periodic_matrix_crystal():
    atoms, truth = make_precipitates(30.0, 1, 6.0, random_state=0)
    edge = atoms.cell.lengths()[0]
    assert edge == pytest.approx(round(edge / (2.5 * np.sqrt(2))) * 2.5 * np.sqrt(2))
    matrix = truth.labels == "fcc"
    counts = coordination(atoms, 2.5)
    assert np.all(counts[matrix & (truth.boundary_distance > 2 * 2.5)] == 12)
    with pytest.raises(ValueError, match="cubic class"):
        make_precipitates(30.0, 1, 6.0, matrix="hex/rh")


@pytest.mark.parametrize(
    ("make", "params", "words"),
    [
        ("make_polycrystal", {"size": -5.0}, "'size' parameter of make_polycrystal"),
        ("make_polycrystal", {"n_grains": 0}, "'n_grains' parameter of make_polycrystal"),
        ("make_precipitates", {"radius": -1.0}, "'radius' parameter of make_precipitates"),
        ("make_precipitates", {"n_precipitates": -1}, "'n_precipitates' parameter"),
    ],
)
def test_sample_generators_name_a_bad_parameter(make, params, words):
    # A negative box was built silently; no grain crashed inside numpy.
    from skcrystal import polycrystal

    with pytest.raises(ValueError, match=words):
        getattr(polycrystal, make)(**params)
