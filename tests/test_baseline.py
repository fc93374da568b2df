"""SpglibBaseline: the paper's pattern of a symmetry finder under defects."""

import contextlib

import numpy as np
import pytest
from conftest import CRYSTALS
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import check_get_params_invariance, check_set_params

from skcrystal import CLASSES, SpglibBaseline, StructureError
from skcrystal.baseline import SETTINGS
from skcrystal.datasets import make_prototype_dataset
from skcrystal.defects import Displacements, Vacancies

STRUCTURES = [structure for structure, _ in CRYSTALS.values()]
LABELS = [label for _, label in CRYSTALS.values()]


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_correct_on_pristine_crystals_in_any_cell(setting):
    symprec, angle = SETTINGS[setting]
    structures, labels = make_prototype_dataset(4, random_state=11)
    baseline = SpglibBaseline(symprec=symprec, angle_tolerance=angle).fit(structures, labels)
    assert baseline.score(structures, labels) == 1.0


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_wrong_already_at_one_percent_vacancies(setting):
    symprec, angle = SETTINGS[setting]
    # 1 % of a 100-atom supercell: one vacancy is enough.
    defective = Vacancies(fraction=0.01, min_atoms=100, random_state=0).transform(STRUCTURES)
    predictions = SpglibBaseline(symprec=symprec, angle_tolerance=angle).fit().predict(defective)
    assert not np.any(predictions == np.array(LABELS, dtype=object))


def test_loose_setting_survives_tiny_displacements_but_not_large_ones():
    loose = SpglibBaseline(*SETTINGS["loose"]).fit()
    small = Displacements(sigma=0.001, min_atoms=64, random_state=0).transform(STRUCTURES)
    large = Displacements(sigma=0.06, min_atoms=64, random_state=0).transform(STRUCTURES)
    assert loose.score(small, LABELS) == 1.0
    assert loose.score(large, LABELS) == 0.0
    tight = SpglibBaseline(*SETTINGS["tight"]).fit()
    medium = Displacements(sigma=0.01, min_atoms=64, random_state=0).transform(STRUCTURES)
    assert tight.score(medium, LABELS) == 0.0


def test_classes_cover_every_prediction():
    expected = sorted([*CLASSES, "unknown"])
    assert SpglibBaseline().fit(None, ["fcc", "bcc", "fcc"]).classes_.tolist() == expected
    assert SpglibBaseline().fit().classes_.tolist() == expected
    # Fitted on one class alone, it still predicts the others, and they are in classes_.
    baseline = SpglibBaseline().fit(STRUCTURES[:1], [LABELS[0]])
    assert set(baseline.predict(STRUCTURES).tolist()) <= set(baseline.classes_.tolist())


@pytest.mark.parametrize(
    ("X", "y", "error", "words"),
    [
        (None, [0, 1], ValueError, "y has other labels: 0, 1"),
        (None, ["fcc", "graphite"], ValueError, "y has other labels: 'graphite'"),
        ("STRUCTURES", ["fcc"], ValueError, "but y has 1 labels"),
        (42, None, TypeError, "X must be a sequence"),
    ],
)
def test_fit_checks_what_it_is_given(X, y, error, words):
    X = STRUCTURES if X == "STRUCTURES" else X
    with pytest.raises(error, match=words):
        SpglibBaseline().fit(X, y)


def test_unfitted_is_refused():
    with pytest.raises(NotFittedError):
        SpglibBaseline().predict(STRUCTURES)


def test_bad_item_is_named():
    with pytest.raises(StructureError, match=r"X\[1\]"):
        SpglibBaseline().fit().predict([STRUCTURES[0], "missing.cif"])


def test_estimator_contract():
    check_get_params_invariance("SpglibBaseline", SpglibBaseline())
    check_set_params("SpglibBaseline", SpglibBaseline())
    assert clone(SpglibBaseline(symprec=0.1)).symprec == 0.1


def test_spglib_says_nothing_on_the_terminal(capfd, recwarn):
    import spglib

    # A crystal on which spglib's C library prints "Primitive lattice cleaning is incomplete"
    # at the loose setting.
    structures, _ = make_prototype_dataset(2, random_state=2018)
    noisy = Displacements(sigma=0.01, random_state=2018).transform(structures)[13]
    cell = (noisy.lattice.matrix, noisy.frac_coords, noisy.atomic_numbers)
    with contextlib.suppress(Exception):  # only the printing matters here
        spglib.get_symmetry_dataset(cell, symprec=0.1, angle_tolerance=5.0)
    assert "spglib" in capfd.readouterr().err  # the precondition: spglib alone is noisy
    recwarn.clear()
    SpglibBaseline(*SETTINGS["loose"]).fit().predict(
        [noisy] + Vacancies(fraction=0.05, random_state=0).transform(STRUCTURES[:2])
    )
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert not [w for w in recwarn if "spglib" in str(w.filename)]
