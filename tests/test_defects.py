"""Defect generators, the augmenter and the targeted transformations."""

import numpy as np
import pytest
from conftest import CRYSTALS
from pymatgen.core import Structure
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from skcrystal import defects
from skcrystal.datasets import rhombohedral_path, space_groups
from skcrystal.defects import (
    Augmenter,
    Displacements,
    Substitutions,
    Vacancies,
    bcc_to_sc,
    supercell,
)

FE = CRYSTALS["bcc"][0]
CU = CRYSTALS["fcc"][0]


@pytest.mark.parametrize("name", sorted(CRYSTALS))
def test_supercell_reaches_min_atoms_near_isotropically(name):
    structure = CRYSTALS[name][0]
    big = supercell(structure, 256)
    assert 256 <= len(big) <= 2 * 256
    sides = np.array(big.lattice.abc)
    assert sides.max() <= 1.25 * sides.min() + 1e-9 or len(structure) == 1
    assert big.composition.reduced_formula == structure.composition.reduced_formula


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.3, 0.7])
def test_vacancy_counts_are_exact(fraction):
    [out] = Vacancies(fraction=fraction, random_state=0).transform([CU])
    n = len(supercell(CU))
    assert len(out) == n - round(fraction * n)
    # Survivors sit on the parent's sites.
    parent = supercell(CU)
    distances = out.lattice.get_all_distances(out.frac_coords, parent.frac_coords).min(axis=1)
    assert distances.max() < 1e-6


@pytest.mark.parametrize("sigma", [0.001, 0.05, 0.1])
def test_displacement_rms_matches_sigma(sigma):
    [out] = Displacements(sigma=sigma, random_state=1).transform([CU])
    parent = supercell(CU)
    delta = out.cart_coords - parent.cart_coords
    n = delta.size
    # The sample standard deviation of n Gaussian numbers is within 5 / sqrt(2n) of sigma.
    assert abs(delta.std() - sigma) < 5 * sigma / np.sqrt(2 * n)
    assert abs(delta.mean()) < 5 * sigma / np.sqrt(n)


def test_lindemann_scales_with_the_nearest_neighbour_distance():
    [out] = Displacements(lindemann=0.1, random_state=2).transform([CU])
    delta = out.cart_coords - supercell(CU).cart_coords
    assert delta.std() == pytest.approx(0.1 * 3.61 / np.sqrt(2), rel=0.1)


@pytest.mark.parametrize("species", ["Ni", ["Ni", "Co"]])
def test_substitution_fractions(species):
    [out] = Substitutions(fraction=0.25, species=species, random_state=0).transform([FE])
    counts = out.composition.get_el_amt_dict()
    n = len(out)
    assert counts[FE.species[0].symbol] == n - round(0.25 * n)
    assert sum(counts.get(s, 0) for s in np.atleast_1d(species)) == round(0.25 * n)
    if isinstance(species, list):
        assert counts["Ni"] > 0 and counts["Co"] > 0
    np.testing.assert_allclose(out.cart_coords, supercell(FE).cart_coords)


@pytest.mark.parametrize(
    "generator",
    [
        Vacancies(fraction=0.2),
        Displacements(sigma=0.05),
        Substitutions(fraction=0.3, species=["Ni", "Co"]),
    ],
    ids=["vacancies", "displacements", "substitutions"],
)
def test_generators_are_seeded_and_clonable(generator):
    a = clone(generator).set_params(random_state=5).transform([CU, FE])
    b = clone(clone(generator).set_params(random_state=5)).transform([CU, FE])
    for s, t in zip(a, b):
        assert s == t
        np.testing.assert_array_equal(s.frac_coords, t.frac_coords)
    c = clone(generator).set_params(random_state=6).transform([CU])
    assert c[0] != a[0]


@pytest.mark.parametrize(
    "generator",
    [
        Vacancies(fraction=1.0),
        Vacancies(fraction=-0.1),
        Substitutions(fraction=1.5),
        Displacements(sigma=-0.1),
        Vacancies(fraction=0.1, min_atoms=0),
    ],
)
def test_impossible_parameters_are_rejected(generator):
    with pytest.raises(InvalidParameterError):
        generator.transform([CU])


def test_displacements_need_exactly_one_of_sigma_and_lindemann():
    for generator in (Displacements(), Displacements(sigma=0.1, lindemann=0.1)):
        with pytest.raises(ValueError, match="exactly one"):
            generator.transform([CU])


def test_unknown_substituting_species_is_named():
    with pytest.raises(ValueError, match="'Xx'"):
        Substitutions(species="Xx").transform([CU])


def test_augmenter_adds_labelled_defective_copies():
    X, y = Augmenter(
        [Vacancies(fraction=0.1), Displacements(sigma=0.02)], n_copies=2, random_state=0
    ).fit_resample([CU, FE], ["fcc", "bcc"])
    assert len(X) == 2 + 2 * 2 * 2
    assert y.tolist() == ["fcc", "bcc"] * 5
    assert X[0] is CU and len(X[2]) < len(supercell(CU))
    with pytest.raises(ValueError, match="labels"):
        Augmenter([Vacancies()]).fit_resample([CU], ["fcc", "bcc"])


def test_augmenter_acts_at_fit_time_only_in_an_imblearn_pipeline():
    imblearn = pytest.importorskip("imblearn")
    from sklearn.base import BaseEstimator, ClassifierMixin

    class CountingClassifier(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.n_seen_ = len(X)
            self.classes_ = np.unique(y)
            return self

        def predict(self, X):
            self.n_predicted_ = len(X)
            return np.array([self.classes_[0]] * len(X))

    pipe = imblearn.pipeline.Pipeline(
        [
            ("augment", Augmenter([Vacancies(fraction=0.1)], n_copies=3, random_state=0)),
            ("model", CountingClassifier()),
        ]
    )
    pipe.fit([CU, FE], ["fcc", "bcc"])
    assert pipe.named_steps["model"].n_seen_ == 8
    pipe.predict([CU, FE])
    assert pipe.named_steps["model"].n_predicted_ == 2


@pytest.mark.parametrize("fraction, group", [(0.0, 229), (1.0, 221)])
def test_bcc_to_sc_ends(fraction, group):
    out = bcc_to_sc(FE, fraction, random_state=0)
    assert space_groups(out, (1e-3,)) == [group]


def test_bcc_to_sc_removes_that_fraction_of_centres():
    out = bcc_to_sc(FE, 0.5, random_state=0)
    assert len(out) == 216 + 108
    with pytest.raises(ValueError, match="bcc"):
        bcc_to_sc(CU, 0.5)


@pytest.mark.parametrize(
    "alpha, group", [(60.0, 225), (90.0, 221), (np.degrees(np.arccos(-1 / 3)), 229), (75.0, 166)]
)
def test_rhombohedral_path_hits_the_cubic_groups(alpha, group):
    structure = rhombohedral_path(alpha, nn_distance=3.0)
    assert isinstance(structure, Structure)
    assert space_groups(structure, (1e-5,)) == [group]
    assert space_groups(rhombohedral_path(alpha, nn_distance=3.0, conventional=True), (1e-5,)) == [
        group
    ]


def test_the_old_rhombohedral_path_warns_and_gives_the_same_structure():
    with pytest.warns(FutureWarning, match="use skcrystal.datasets.rhombohedral_path"):
        old = defects.rhombohedral_path(75.0, nn_distance=3.0)
    assert old == rhombohedral_path(75.0, nn_distance=3.0)


def test_supercell_names_a_bad_parameter():
    from ase.build import bulk

    with pytest.raises(InvalidParameterError, match="'min_atoms' parameter of supercell"):
        supercell(CU, 0)
    with pytest.raises(InvalidParameterError, match="'min_atoms' parameter of supercell"):
        supercell(CU, 256.0)
    with pytest.raises(TypeError, match="'structure' parameter of supercell"):
        supercell(bulk("Cu"), 1)
    assert len(supercell(CU, np.int64(32))) >= 32


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"fraction_removed": 1.5}, "fraction_removed"),
        ({"fraction_removed": -0.1}, "fraction_removed"),
        ({"fraction_removed": "half"}, "fraction_removed"),
        ({"fraction_removed": 0.5, "min_atoms": 0}, "min_atoms"),
        ({"fraction_removed": 0.5, "random_state": "seed"}, "random_state"),
    ],
)
def test_bcc_to_sc_names_a_bad_parameter(kwargs, name):
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of bcc_to_sc"):
        bcc_to_sc(FE, **kwargs)


def test_bcc_to_sc_takes_numpy_scalars():
    out = bcc_to_sc(FE, np.float64(0.5), min_atoms=np.int64(16), random_state=np.int64(0))
    assert len(out) == 16 - 4  # 2 x 2 x 2 cubes, 4 of the 8 centres gone
