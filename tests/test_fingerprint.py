"""DiffractionFingerprint as a scikit-learn transformer."""

import os
import pickle
import shutil
import warnings

import numpy as np
import pytest
import torch
from conftest import CRYSTALS
from pymatgen.core import Lattice, Structure
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_estimator_tags_renamed,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
    check_valid_tag_types,
)

from skcrystal import DiffractionFingerprint, StructureError
from skcrystal._fingerprinter import _kernel_atoms

FAST = {
    "n_pixels": 32,
    "pixel_size": 8e-4,
    "beam_stop_radius": 2.5,
    "target_n_atoms": 64,
    "compile": False,
}


@pytest.mark.parametrize(
    "check",
    [
        check_get_params_invariance,
        check_set_params,
        check_estimator_cloneable,
        check_estimator_repr,
        check_no_attributes_set_in_init,
        check_parameters_default_constructible,
        check_do_not_raise_errors_in_init_or_set_params,
        check_estimator_tags_renamed,
        check_valid_tag_types,
    ],
)
def test_sklearn_data_free_checks(check):
    check(type(DiffractionFingerprint()).__name__, DiffractionFingerprint())


def test_shape_dtype_range_and_determinism(crystal):
    _, structure, _ = crystal
    fp = DiffractionFingerprint(compile=False)
    images = fp.transform([structure, structure])
    assert images.shape == (2, 3, 64, 64)
    assert images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    np.testing.assert_array_equal(images[0], images[1])
    np.testing.assert_array_equal(images, fp.transform([structure, structure]))


def test_stateless_fit_returns_self_and_transform_works_unfitted():
    fp = DiffractionFingerprint(**FAST)
    structure = CRYSTALS["bcc"][0]
    unfitted = fp.transform([structure])
    assert fp.fit([structure]) is fp
    np.testing.assert_array_equal(fp.fit_transform([structure]), unfitted)
    assert not [name for name in vars(fp) if name.endswith("_")]


def test_distinct_classes_give_distinct_images():
    names = sorted(CRYSTALS)
    images = DiffractionFingerprint(compile=False).transform([CRYSTALS[n][0] for n in names])
    flat = images.reshape(len(names), -1)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            distance = np.linalg.norm(flat[a] - flat[b]) / np.linalg.norm(flat[a])
            assert distance > 0.3, (names[a], names[b], distance)


@pytest.mark.parametrize(
    "params",
    [
        {"n_pixels": 0},
        {"wavelength": -1.0},
        {"pixel_size": 0.0},
        {"target_n_atoms": 1},
        {"batch_size": 0},
        {"compile": "sometimes"},
        {"beam_stop_radius": -1},
    ],
)
def test_invalid_parameters_are_rejected_at_transform(params):
    fp = DiffractionFingerprint(**params)
    with pytest.raises(InvalidParameterError):
        fp.transform([CRYSTALS["fcc"][0]])


def test_bad_item_is_named_in_the_error(tmp_path):
    fp = DiffractionFingerprint(**FAST)
    with pytest.raises(StructureError, match=r"X\[1\] \('.*missing.cif'\): no such file"):
        fp.transform([CRYSTALS["fcc"][0], str(tmp_path / "missing.cif")])


def test_element_without_form_factor_is_named():
    # Es (99) has no tabulated X-ray form factor, shifted or not.
    es = Structure(Lattice.cubic(3.5), ["Es"], [[0, 0, 0]])
    with pytest.raises(StructureError, match=r"X\[0\].*atomic number\(s\) \[99\]"):
        DiffractionFingerprint(**FAST).transform([es])


def test_berkelium_and_californium_take_the_heaviest_form_factor():
    # Cf (98) + 2 = 100 is not tabulated: Bk and Cf take Cf's own form factor (98).
    bk, cf = (Structure(Lattice.cubic(3.5), [e], [[0, 0, 0]]) for e in ("Bk", "Cf"))
    shifted = DiffractionFingerprint(**FAST).transform([bk, cf])
    np.testing.assert_array_equal(
        shifted, DiffractionFingerprint(**FAST, atomic_number_shift=0).transform([cf, cf])
    )


@pytest.mark.parametrize("on_error", ["raise", "nan"])
def test_cuda_without_a_gpu_is_a_clear_error(on_error):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    # The caller's error, not each item's (with "nan" it is not a warning and NaN rows).
    fingerprint = DiffractionFingerprint(**FAST, device="cuda", on_error=on_error)
    with pytest.raises(ValueError, match="CUDA"):
        fingerprint.transform([CRYSTALS["fcc"][0]])


def test_parallel_and_batched_runs_match_serial():
    structures = [CRYSTALS[name][0] for name in sorted(CRYSTALS)]
    serial = DiffractionFingerprint(**FAST).transform(structures)
    parallel = DiffractionFingerprint(**FAST, n_jobs=2, batch_size=3).transform(structures)
    np.testing.assert_allclose(parallel, serial, atol=1e-6)


def test_worker_processes_render_their_own_images():
    # The calling process would otherwise render every image while the workers wait: it
    # never needs torch then.
    code = (
        "import sys; from pymatgen.core import Lattice, Structure; "
        "from skcrystal import DiffractionFingerprint; "
        "fe = Structure(Lattice.cubic(2.87), ['Fe', 'Fe'], [[0, 0, 0], [0.5, 0.5, 0.5]]); "
        "images = DiffractionFingerprint(n_pixels=32, pixel_size=8e-4, n_jobs=2).transform([fe] * 4); "
        "print(images.shape, 'torch' in sys.modules)"
    )
    import subprocess
    import sys

    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert output.split()[-1] == "False" and "(4, 3, 32, 32)" in output


def test_a_single_item_is_read_and_rendered_here_whatever_n_jobs(monkeypatch):
    from skcrystal import _fingerprinter

    def here(item, index, n_atoms, shift):
        raise RuntimeError(f"read in {os.getpid()}")

    # Worker processes import the module afresh: only this process sees the patch.
    monkeypatch.setattr(_fingerprinter, "_one_cluster", here)
    fingerprinter = DiffractionFingerprint(**FAST, n_jobs=2).fingerprinter()
    fe = CRYSTALS["bcc"][0]
    assert not fingerprinter.renders_in_workers(1) and fingerprinter.renders_in_workers(2)
    (alone,) = fingerprinter.images_or_errors([fe])
    assert f"read in {os.getpid()}" in str(alone)
    # Two items: each in a worker, which reads it with the module unpatched.
    assert all(image.shape == (3, 32, 32) for image in fingerprinter.images_or_errors([fe] * 2))


def _torch_imported():
    import sys

    return "torch" in sys.modules


def test_workers_started_ahead_have_done_their_imports():
    from joblib import Parallel, delayed

    from skcrystal._fingerprinter import start_workers

    assert list(start_workers(None, "cpu", 4)) == []
    # One item is read here: a worker would import for seconds to read it.
    assert list(start_workers(2, "cpu", 1)) == []
    assert len(list(start_workers(2, "cpu", 4))) == 2
    # The same (reused) processes then run the jobs.
    assert all(Parallel(n_jobs=2)(delayed(_torch_imported)() for _ in range(4)))


def test_items_that_fail_before_they_are_sent_keep_their_places(monkeypatch):
    from skcrystal import _fingerprinter

    portable = _fingerprinter._portable

    def refuse_strings(item):
        if isinstance(item, str):
            raise TypeError(f"cannot send {item}")
        return portable(item)

    monkeypatch.setattr(_fingerprinter, "_portable", refuse_strings)
    fe = CRYSTALS["bcc"][0]
    # Two workers, jobs of three items: the whole first job fails before it is sent.
    X = ["a", "b", "c", fe, "d", fe]
    images, errors = DiffractionFingerprint(**FAST, n_jobs=2, on_error="nan").transform_with_errors(
        X
    )
    assert [error.index for error in errors] == [0, 1, 2, 4]
    assert all("cannot send" in error.reason for error in errors)
    assert np.isnan(images[[0, 1, 2, 4]]).all()
    serial = DiffractionFingerprint(**FAST).transform([fe])[0]
    np.testing.assert_allclose(images[[3, 5]], [serial, serial], atol=1e-6)


def test_a_rendering_failure_in_this_process_costs_only_its_item(monkeypatch):
    from skcrystal import _fingerprinter

    render = _fingerprinter.Fingerprinter.render

    def fails_for_copper(self, clusters):
        if any(29 in c.numbers for c in clusters):
            raise FloatingPointError("kernel overflow")
        return render(self, clusters)

    monkeypatch.setattr(_fingerprinter.Fingerprinter, "render", fails_for_copper)
    X = [CRYSTALS["bcc"][0], CRYSTALS["fcc"][0], CRYSTALS["bcc"][0]]
    fingerprint = DiffractionFingerprint(**FAST, on_error="nan")
    images, errors = fingerprint.transform_with_errors(X)
    assert [error.index for error in errors] == [1]
    assert "unexpected FloatingPointError: kernel overflow" in errors[0].reason
    assert np.isfinite(images[[0, 2]]).all() and np.isnan(images[1]).all()
    with pytest.raises(FloatingPointError, match="kernel overflow"):
        fingerprint.set_params(on_error="raise").transform(X)


def test_a_rendering_failure_in_a_job_is_pinned_on_its_item(monkeypatch):
    from skcrystal import _fingerprinter

    fingerprinter = DiffractionFingerprint(**FAST).fingerprinter()
    fcc, bcc = CRYSTALS["fcc"][0], CRYSTALS["bcc"][0]
    render = _fingerprinter.Fingerprinter.render

    def fails_for_fcc(self, clusters):
        if any(29 in c.numbers for c in clusters):  # copper, the fcc crystal
            raise FloatingPointError("kernel overflow")
        return render(self, clusters)

    monkeypatch.setattr(_fingerprinter.Fingerprinter, "render", fails_for_fcc)
    done = _fingerprinter._job(fingerprinter, [(0, bcc), (1, fcc), (2, "missing.cif")], True)
    assert isinstance(done[1], FloatingPointError) and "kernel overflow" in str(
        done[1]._worker_traceback
    )
    assert isinstance(done[2], StructureError)
    np.testing.assert_array_equal(done[0], render(fingerprinter, fingerprinter.clusters([bcc]))[0])


@pytest.mark.skipif(
    not any(shutil.which(c) for c in ("c++", "g++", "clang++")),
    reason="torch.compile needs a C++ compiler on CPU",
)
def test_auto_renders_with_the_eager_kernel_however_many_crystals(monkeypatch):
    from skcrystal import _diffraction

    monkeypatch.setattr(_diffraction, "_compiled_shapes", set())
    [cluster] = DiffractionFingerprint().clusters([CRYSTALS["fcc"][0]])
    atoms = [_kernel_atoms(cluster)] * 5000
    for compile_ in ("auto", False):
        groups = (
            DiffractionFingerprint(compile=compile_)
            .fingerprinter()
            ._kernel_groups(atoms, torch.device("cpu"))
        )
        assert [(compiled, len(indices)) for compiled, indices in groups] == [(False, 5000)]
    assert not _diffraction._compiled_shapes


def test_compiled_and_eager_transforms_agree(monkeypatch):
    from skcrystal import _diffraction

    # Room for these sizes, whatever other tests compiled in this process.
    monkeypatch.setattr(_diffraction, "_compiled_shapes", set())
    structures = [CRYSTALS[name][0] for name in ("fcc", "hcp")]
    clusters = DiffractionFingerprint().clusters(structures)
    atoms = [_kernel_atoms(cluster) for cluster in clusters]
    groups = (
        DiffractionFingerprint(compile=True)
        .fingerprinter()
        ._kernel_groups(atoms, torch.device("cpu"))
    )
    assert all(compiled for compiled, _ in groups)
    eager = DiffractionFingerprint(compile=False).transform(structures)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = DiffractionFingerprint(compile=True).transform(structures)
    # A failed compile falls back to the eager kernel with a warning: that is a failure here.
    assert not [
        w for w in caught if "torch.compile of the fingerprint kernel failed" in str(w.message)
    ]
    np.testing.assert_allclose(compiled, eager, atol=1e-4)


def test_pickle_and_clone_keep_parameters():
    fp = DiffractionFingerprint(n_pixels=48, rotation_angle=30.0)
    restored = pickle.loads(pickle.dumps(fp))
    assert restored.get_params() == fp.get_params()
    assert clone(fp).get_params() == fp.get_params()


def test_pipeline_and_grid_search_over_a_fingerprint_parameter():
    structures, labels = [], []
    rng = np.random.default_rng(0)
    for name in ("fcc", "bcc"):
        base = CRYSTALS[name][0]
        for _ in range(4):
            scaled = base.copy()
            scaled.scale_lattice(base.volume * rng.uniform(0.9, 1.1))
            structures.append(scaled)
            labels.append(name)
    pipe = Pipeline(
        [
            ("fingerprint", DiffractionFingerprint(**FAST)),
            ("flatten", FunctionTransformer(lambda x: x.reshape(len(x), -1))),
            ("classifier", LogisticRegression(max_iter=200)),
        ]
    )
    search = GridSearchCV(pipe, {"fingerprint__n_pixels": [16, 32]}, cv=2).fit(structures, labels)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.score(structures, labels) == 1.0


def test_numpy_blas_threads_are_restored_whatever_the_consumer_does():
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]

    iron = CRYSTALS["bcc"][0]
    before = blas_threads()
    fp = DiffractionFingerprint(**FAST)
    # Two generators advanced in turn, and one left half consumed.
    first, second = fp.clusters_or_errors([iron] * 3), fp.clusters_or_errors([iron] * 3)
    assert len(list(zip(first, second))) == 3
    half = fp.clusters_or_errors([iron] * 3)
    next(half)
    assert blas_threads() == before
    fp.clusters([iron] * 2)
    assert blas_threads() == before


def test_clusters_are_of_a_public_type_that_render_takes():
    import pickle

    from skcrystal.fingerprint import Cluster

    fp = DiffractionFingerprint(**FAST)
    [cluster] = fp.clusters([CRYSTALS["fcc"][0]])
    assert isinstance(cluster, Cluster) and Cluster.__module__ == "skcrystal.fingerprint"
    again = pickle.loads(pickle.dumps(cluster))
    np.testing.assert_array_equal(fp.render([again]), fp.transform([CRYSTALS["fcc"][0]]))


def test_the_compiled_kernel_takes_one_species_one_region_and_few_sizes(monkeypatch):
    from skcrystal import _diffraction
    from skcrystal.fingerprint import Cluster

    def cluster(numbers, regions=None):
        positions = np.random.default_rng(0).normal(size=(len(numbers), 3))
        return Cluster(positions, np.array(numbers), np.eye(3), 1.0, regions)

    clusters = [
        cluster([29] * 100),
        cluster([29] * 50 + [28] * 50),
        cluster([29] * 100, np.repeat([0, 1], 50)),
        cluster([29] * 300),
    ]
    monkeypatch.setattr(_diffraction, "_compiled_shapes", set())
    monkeypatch.setattr(_diffraction, "MAX_COMPILED_SHAPES", 1)
    atoms = [_kernel_atoms(cluster) for cluster in clusters]
    groups = (
        DiffractionFingerprint(compile=True)
        .fingerprinter()
        ._kernel_groups(atoms, torch.device("cpu"))
    )
    # One size fits under the cap: the 300-atom cluster takes the eager kernel with the rest.
    assert [(compiled, indices.tolist()) for compiled, indices in groups] == [
        (True, [0]),
        (False, [1, 2, 3]),
    ]
    auto = DiffractionFingerprint().fingerprinter()._kernel_groups(atoms, torch.device("cpu"))
    assert [(compiled, indices.tolist()) for compiled, indices in auto] == [(False, [0, 1, 2, 3])]


def test_copies_of_a_region_are_summed_once_and_counted_per_copy(monkeypatch):
    from pymatgen.core import Lattice, Structure

    from skcrystal import _fingerprinter

    # A pristine box wide enough for eight regions: every region is the same cluster. The
    # same box with every atom nudged by 1e-3 Angstrom has no two regions alike.
    iron = Structure.from_spacegroup("Im-3m", Lattice.cubic(2.87), ["Fe"], [[0, 0, 0]])
    box = iron * (10, 10, 10)
    nudges = np.random.default_rng(0).normal(scale=1e-3, size=(len(box), 3))
    nudged = Structure(
        box.lattice, box.species, box.cart_coords + nudges, coords_are_cartesian=True
    )
    fp = DiffractionFingerprint(compile=False)
    clusters = fp.clusters([box, nudged])
    pristine, hot = (_kernel_atoms(cluster) for cluster in clusters)
    assert len(pristine[-1]) == 8
    assert sorted(pristine[-1].tolist()) == [0] * 7 + [8]
    assert pristine[3].sum() < (clusters[0].regions == 0).sum()
    assert hot[-1].tolist() == [1] * 8
    # Unscaled patterns: a region counted once instead of eight times would show.
    patterns = fp.patterns(clusters)
    monkeypatch.setattr(_fingerprinter, "_copied_regions", lambda *args: {})
    expected = fp.patterns(clusters)
    np.testing.assert_allclose(patterns, expected, rtol=0, atol=1e-6 * expected.max())


def test_a_size_compiled_at_another_thread_count_counts_again(monkeypatch):
    # torch.compile compiles a shape again after torch.set_num_threads (LocalClassifier
    # switches between chunks): 6 sizes at two thread counts would pass its limit of 8.
    from skcrystal import _diffraction

    monkeypatch.setattr(_diffraction, "_compiled_shapes", set())
    monkeypatch.setattr(_diffraction, "MAX_COMPILED_SHAPES", 2)
    threads = torch.get_num_threads()
    try:
        assert _diffraction.reserve_compiled_shape(128)
        torch.set_num_threads(threads + 1)
        assert _diffraction.reserve_compiled_shape(128)
        assert not _diffraction.reserve_compiled_shape(192)
        torch.set_num_threads(threads)
        assert _diffraction.reserve_compiled_shape(128)
        assert not _diffraction.reserve_compiled_shape(192)
    finally:
        torch.set_num_threads(threads)
