"""The prototype generator: balance, labels, parameters, determinism, AFLOW prototypes."""

import gzip
import json
import os
from collections import Counter

import numpy as np
import pytest
from pymatgen.analysis import prototypes as aflow
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure
from sklearn.utils._param_validation import InvalidParameterError

from skcrystal.datasets import (
    CLASSES,
    PROTOTYPES,
    VERIFY_SYMPREC,
    build,
    class_of_space_group,
    element_pool,
    make_prototype_dataset,
    rhombohedral_path,
    space_groups,
)


@pytest.fixture(scope="module")
def dataset():
    return make_prototype_dataset(12, return_info=True, random_state=7)


def test_classes_are_balanced_and_labels_match_spglib(dataset):
    structures, labels, _ = dataset
    assert Counter(labels.tolist()) == {label: 12 for label in CLASSES}
    for structure, label in zip(structures, labels):
        numbers = space_groups(structure, VERIFY_SYMPREC)
        assert {class_of_space_group(n) for n in numbers} == {label}, (label, numbers)


def test_sampled_parameters_keep_clear_of_more_symmetric_crystals(dataset):
    _, _, info = dataset
    for item in info:
        if item["prototype"] == "A_tI2_139_a":
            assert abs(item["c/a"] - 1) > 0.05 and abs(item["c/a"] - np.sqrt(2)) > 0.05
        if item["prototype"] == "A_hR1_166_a":
            assert min(abs(item["alpha"] - special) for special in (60, 90, 109.47)) > 4
        if item["prototype"] == "A_hR2_166_c":
            assert abs(item["z"] - 0.25) > 0.005


def test_cells_vary_and_every_prototype_of_hex_rh_occurs():
    _, labels, info = make_prototype_dataset(
        40, classes=["hex/rh"], return_info=True, random_state=1
    )
    assert {i["cell"] for i in info} == {"conventional", "primitive", "supercell"}
    assert {i["prototype"] for i in info} == {p.aflow for p in PROTOTYPES if p.label == "hex/rh"}
    assert set(labels) == {"hex/rh"}


def test_same_random_state_same_crystals_whatever_n_jobs():
    a, la = make_prototype_dataset(3, classes=["bct139", "hex/rh"], random_state=3)
    b, lb = make_prototype_dataset(3, classes=["bct139", "hex/rh"], random_state=3, n_jobs=2)
    c, _ = make_prototype_dataset(3, classes=["bct139", "hex/rh"], random_state=4)
    assert la.tolist() == lb.tolist()
    for s, t in zip(a, b):
        np.testing.assert_array_equal(s.lattice.matrix, t.lattice.matrix)
        np.testing.assert_array_equal(s.frac_coords, t.frac_coords)
        assert s.species == t.species
    assert any(not np.allclose(s.lattice.matrix, t.lattice.matrix) for s, t in zip(a, c))


def test_elements_are_the_papers_breadth():
    pool = element_pool()
    assert 80 <= len(pool) <= 90
    assert {"Cu", "Fe", "Mg", "Si", "Po", "In", "Sn", "La", "Sm", "As", "Hg"} <= set(pool)


def _aflow_library():
    path = os.path.join(os.path.dirname(aflow.__file__), "aflow_prototypes.json.gz")
    with gzip.open(path) as handle:
        return json.load(handle)


def _candidate_params(prototype, reference):
    """Parameter sets to try for an AFLOW reference structure (its z is known up to sign)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    conventional = SpacegroupAnalyzer(reference, symprec=1e-3).get_conventional_standard_structure()
    a, _, c = conventional.lattice.abc
    params = {}
    if "c/a" in prototype.ranges:
        params["c/a"] = c / a
    if "alpha" in prototype.ranges:
        params["alpha"] = (
            SpacegroupAnalyzer(reference, symprec=1e-3)
            .get_primitive_standard_structure()
            .lattice.alpha
        )
    if "z" not in prototype.ranges:
        return [params]
    zs = {round(z % 1, 6) for z in conventional.frac_coords[:, 2]} - {0.0}
    return [dict(params, z=z) for z in zs]


def test_builder_reproduces_the_aflow_prototypes():
    from skcrystal._cluster import median_neighbour_distance

    library = _aflow_library()
    matcher = StructureMatcher(scale=True)
    for prototype in PROTOTYPES:
        entries = [e for e in library if e["tags"].get("aflow") == prototype.aflow]
        assert entries, prototype.aflow
        reference = Structure.from_dict(entries[0]["snl"])
        element = reference.species[0].symbol
        nn = median_neighbour_distance((reference * (3, 3, 3)).cart_coords)
        built = [
            build(prototype.aflow, element, nn, p) for p in _candidate_params(prototype, reference)
        ]
        assert any(matcher.fit(b, reference) for b in built), prototype.aflow
        assert space_groups(built[0], (1e-3,)) == [prototype.space_group]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_per_class": 0}, "n_per_class"),
        ({"n_per_class": 2, "classes": ["fcc", "hcp"]}, "unknown classes"),
        ({"n_per_class": 2, "elements": ["Cu", "Xx"]}, "not a chemical element"),
        ({"n_per_class": 2, "elements": []}, "empty"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_prototype_dataset(**kwargs)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_per_class": 1.5}, "n_per_class"),
        ({"n_per_class": 1, "classes": "fcc"}, "classes"),
        ({"n_per_class": 1, "elements": "Cu"}, "elements"),
        ({"n_per_class": 1, "vary_cell": "yes"}, "vary_cell"),
        ({"n_per_class": 1, "n_jobs": 1.0}, "n_jobs"),
        ({"n_per_class": 1, "random_state": -1}, "random_state"),
        ({"n_per_class": 1, "random_state": np.random.RandomState(0)}, "random_state"),
    ],
)
def test_make_prototype_dataset_names_a_bad_parameter(kwargs, name):
    with pytest.raises(
        InvalidParameterError, match=f"'{name}' parameter of make_prototype_dataset"
    ):
        make_prototype_dataset(**kwargs)


def test_make_prototype_dataset_takes_numpy_integers_and_generators():
    structures, labels = make_prototype_dataset(
        np.int64(1), classes=np.array(["fcc"]), random_state=np.random.default_rng(0)
    )
    assert len(structures) == 1 and labels.tolist() == ["fcc"]
    assert len(make_prototype_dataset(1, classes=["sc"], random_state=np.uint32(5))[0]) == 1


@pytest.mark.parametrize(
    "args, kwargs, name",
    [
        ((0.0,), {}, "alpha"),
        ((120.0,), {}, "alpha"),
        (("90",), {}, "alpha"),
        ((90.0,), {"nn_distance": 0.0}, "nn_distance"),
        ((90.0,), {"element": 84}, "element"),
        ((90.0,), {"conventional": "yes"}, "conventional"),
    ],
)
def test_rhombohedral_path_names_a_bad_parameter(args, kwargs, name):
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of rhombohedral_path"):
        rhombohedral_path(*args, **kwargs)


def test_rhombohedral_path_takes_numpy_floats():
    assert len(rhombohedral_path(np.float64(75.0), nn_distance=np.float32(3.0))) == 1
