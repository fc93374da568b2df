"""Structures of none of the classes: AFLOW prototypes, random packings, quenched glasses."""

import numpy as np
import pytest

from skcrystal.datasets import PROTOTYPES, SPACE_GROUP_CLASSES, space_groups
from skcrystal.outliers import (
    _KOB_ANDERSEN,
    class_group_prototypes,
    other_prototypes,
    prototype_family_split,
    quenched_glass,
    random_packing,
)


def _group(label):
    return int(label.split("_")[2])


def test_other_prototypes_split_into_disjoint_families_of_other_space_groups():
    validation, test, everything = (
        other_prototypes(split)[1] for split in ("validation", "test", "all")
    )
    assert sorted(validation + test) == sorted(everything)
    assert len(validation) > 50 and len(test) > 50
    groups = {
        split: {_group(label) for label in names}
        for split, names in (("v", validation), ("t", test))
    }
    assert not groups["v"] & groups["t"]
    assert not (groups["v"] | groups["t"]) & set(SPACE_GROUP_CLASSES)


def test_other_prototypes_show_their_space_group_to_spglib():
    structures, names = other_prototypes("test")
    for structure, name in list(zip(structures, names))[::10]:
        assert space_groups(structure, symprecs=(1e-3,))[0] == _group(name), name


def test_other_prototypes_are_fresh_copies():
    structures, _ = other_prototypes("test")
    structures[0].scale_lattice(1.0)
    again, _ = other_prototypes("test")
    assert again[0].volume != pytest.approx(1.0)


def test_family_split_is_a_fixed_function_of_the_space_group():
    assert {prototype_family_split(g) for g in range(1, 231)} == {"validation", "test"}
    assert prototype_family_split(62) == prototype_family_split(62)


def test_class_group_prototypes_are_superstructures_and_large_bases():
    _, names, classes = class_group_prototypes()
    own = {p.aflow for p in PROTOTYPES}
    assert not set(names) & own
    assert {"AB_cF8_225_a_b", "AB_cP2_221_b_a", "AB3_cP4_221_a_c", "AB2_cF12_225_a_c"} <= set(names)
    for name, label in zip(names, classes):
        assert SPACE_GROUP_CLASSES[_group(name)] == label
    assert classes[names.index("AB_cF8_225_a_b")] == "fcc"
    with pytest.raises(ValueError, match="'split' parameter of other_prototypes"):
        other_prototypes("train")


@pytest.mark.parametrize("fraction", [0.3, 0.6])
def test_random_packing_has_no_overlap_and_the_asked_density(fraction):
    packing = random_packing(96, fraction, element="Cu", random_state=0)
    distances = packing.distance_matrix[np.triu_indices(96, 1)]
    diameter = 2 * 1.35  # pymatgen's atomic radius of Cu
    assert distances.min() >= diameter * 0.999
    assert 96 * np.pi * diameter**3 / 6 / packing.volume == pytest.approx(fraction, rel=0.01)
    assert space_groups(packing, symprecs=(0.1,)) == [1]


def test_random_packing_is_seeded_and_checks_its_density():
    a, b, c = (random_packing(32, 0.5, random_state=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.cart_coords, b.cart_coords)
    assert not np.allclose(a.cart_coords, c.cart_coords)
    with pytest.raises(ValueError, match="'packing_fraction' parameter of random_packing must be"):
        random_packing(32, 0.7)


def test_quenched_glass_is_an_amorphous_energy_minimum():
    glass = quenched_glass(100, random_state=0)
    assert glass.composition.as_dict() == {"Ni": 80.0, "P": 20.0}
    assert space_groups(glass, symprecs=(0.1,)) == [1]
    distances = glass.distance_matrix + np.eye(100) * 99
    # No two atoms closer than 0.75 sigma_AB (sigma_AA = 2.49 A): a minimum, not a random set.
    assert distances.min() > 0.75 * _KOB_ANDERSEN[(0, 1)][0] * 2.49
    np.testing.assert_array_equal(
        glass.cart_coords, quenched_glass(100, random_state=0).cart_coords
    )


def test_a_numpy_generator_seeds_packings_and_glasses():
    packings = [random_packing(16, 0.3, random_state=np.random.default_rng(3)) for _ in range(2)]
    np.testing.assert_array_equal(packings[0].cart_coords, packings[1].cart_coords)
    glasses = [quenched_glass(10, random_state=np.random.default_rng(3)) for _ in range(2)]
    np.testing.assert_array_equal(glasses[0].cart_coords, glasses[1].cart_coords)
