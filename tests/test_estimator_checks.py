"""scikit-learn's estimator checks on the three estimators.

The checks feed 2-d numeric arrays. The fingerprint and the baseline read crystal
structures, and the classifier reads images, so each runs here as a subclass whose tags say
it takes 2-d arrays (``two_d_array=True``, forced so that the checks run at all); the
classifier's subclass also lays each row out as a one-channel image. Every check that fails
is listed below with its reason: a check that starts failing, or one listed that starts
passing, fails this module.
"""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skcrystal import CrystalClassifier, DiffractionFingerprint
from skcrystal.baseline import SpglibBaseline


def _two_d(tags):
    tags.input_tags.two_d_array = True
    return tags


class RowImages(CrystalClassifier):
    """A CrystalClassifier that takes rows: each is zero-padded to a square one-channel image."""

    def _check_images(self, X):
        try:
            rows = np.asarray(X)
        except (TypeError, ValueError):
            rows = np.zeros(0)
        if rows.ndim == 2 and rows.dtype.kind in "iuf":
            side = 4 * max(1, int(np.ceil(np.sqrt(rows.shape[1]) / 4)))
            X = np.zeros((len(rows), side * side), dtype=np.float32)
            X[:, : rows.shape[1]] = rows
            X = X.reshape(len(rows), 1, side, side)
        return super()._check_images(X)

    def __sklearn_tags__(self):
        return _two_d(super().__sklearn_tags__())


class RowFingerprint(DiffractionFingerprint):
    def __sklearn_tags__(self):
        return _two_d(super().__sklearn_tags__())


class RowBaseline(SpglibBaseline):
    def __sklearn_tags__(self):
        return _two_d(super().__sklearn_tags__())


#: Small and fast; no validation split (the checks' data has few samples per class), and no
#: reject option (its "unknown" makes integer labels an object array, which the checks
#: compare with assert_allclose; it is tested in test_novelty.py).
ESTIMATORS = [
    RowImages(
        max_epochs=2,
        batch_size=16,
        train_split=None,
        module__filters=(4,) * 6,
        module__hidden=8,
        unknown_label=None,
        random_state=0,
    ),
    RowFingerprint(n_pixels=16, beam_stop_radius=2.0, compile=False),
    RowBaseline(),
]


#: Checks that fail, and why. ``X_REFUSED``: the check passes numeric arrays, which are not
#: structures.
X_REFUSED = "reads crystal structures or paths, not numeric arrays: X is refused with a TypeError before anything else"
FIT_IGNORES_X = (
    "fit learns nothing and does not read X (a stateless transformer); transform checks X"
)
NO_FEATURES = "the input is structures, not a feature matrix: no n_features_in_"

EXPECTED_FAILURES = {
    "RowImages": {
        "check_no_attributes_set_in_init": "skorch's __init__ sets history_, initialized_ and its virtual parameters",
        "check_n_features_in_after_fitting": "the input is images, not a feature matrix: image_shape_ instead of n_features_in_",
        "check_dtype_object": "the test subclass lays out numeric rows only; an object array is refused as not images",
        "check_estimators_empty_data_messages": "the test subclass pads a row of 0 features to an image of zeros (0 samples is refused)",
        "check_classifiers_train": "two epochs of the check's 4-filter network do not reach the accuracy the check asks",
        "check_methods_subset_invariance": "the check's 2-epoch network has features that vary by 1e-6; float32 batch-size effects of 1e-8 move the Mahalanobis score by 1e-3",
        "check_set_params": "skorch lists its private _params_to_validate in get_params; the check sets it to a float",
        "check_n_features_in": "the input is images, not a feature matrix: image_shape_ instead of n_features_in_",
    },
    "RowFingerprint": {
        "check_fit_score_takes_y": X_REFUSED,
        "check_n_features_in_after_fitting": NO_FEATURES,
        "check_estimators_dtypes": X_REFUSED,
        "check_complex_data": FIT_IGNORES_X,
        "check_dtype_object": X_REFUSED,
        "check_estimators_empty_data_messages": FIT_IGNORES_X,
        "check_pipeline_consistency": X_REFUSED,
        "check_estimators_nan_inf": FIT_IGNORES_X,
        "check_estimator_sparse_tag": FIT_IGNORES_X,
        "check_estimators_pickle": X_REFUSED,
        "check_f_contiguous_array_estimator": X_REFUSED,
        "check_transformer_data_not_an_array": X_REFUSED,
        "check_transformer_general": X_REFUSED,
        "check_transformers_unfitted_stateless": X_REFUSED,
        "check_methods_sample_order_invariance": X_REFUSED,
        "check_methods_subset_invariance": X_REFUSED,
        "check_dict_unchanged": X_REFUSED,
        "check_fit_idempotent": X_REFUSED,
        "check_n_features_in": NO_FEATURES,
        "check_fit1d": FIT_IGNORES_X,
        "check_fit2d_predict1d": X_REFUSED,
    },
    "RowBaseline": {
        "check_fit_score_takes_y": X_REFUSED,
        "check_estimators_overwrite_params": X_REFUSED,
        "check_dont_overwrite_parameters": X_REFUSED,
        "check_estimators_fit_returns_self": X_REFUSED,
        "check_readonly_memmap_input": X_REFUSED,
        "check_n_features_in_after_fitting": X_REFUSED,
        "check_positive_only_tag_during_fit": X_REFUSED,
        "check_estimators_dtypes": X_REFUSED,
        "check_complex_data": X_REFUSED,
        "check_dtype_object": X_REFUSED,
        "check_estimators_empty_data_messages": X_REFUSED,
        "check_pipeline_consistency": X_REFUSED,
        "check_estimators_nan_inf": X_REFUSED,
        "check_estimator_sparse_array": X_REFUSED,
        "check_estimator_sparse_matrix": X_REFUSED,
        "check_estimators_pickle": X_REFUSED,
        "check_f_contiguous_array_estimator": X_REFUSED,
        "check_classifier_data_not_an_array": X_REFUSED,
        "check_classifiers_one_label": X_REFUSED,
        "check_classifiers_classes": X_REFUSED,
        "check_classifiers_train": X_REFUSED,
        "check_classifiers_regression_target": X_REFUSED,
        "check_supervised_y_no_nan": X_REFUSED,
        "check_supervised_y_2d": X_REFUSED,
        "check_methods_sample_order_invariance": X_REFUSED,
        "check_methods_subset_invariance": X_REFUSED,
        "check_fit2d_1sample": X_REFUSED,
        "check_fit2d_1feature": X_REFUSED,
        "check_dict_unchanged": X_REFUSED,
        "check_fit_idempotent": X_REFUSED,
        "check_fit_check_is_fitted": X_REFUSED,
        "check_n_features_in": X_REFUSED,
        "check_fit1d": X_REFUSED,
        "check_fit2d_predict1d": X_REFUSED,
        "check_requires_y_none": X_REFUSED,
    },
}


def _expected_failures(estimator):
    return EXPECTED_FAILURES[type(estimator).__name__]


#: Checks whose outcome depends on the CPU: float32 sums that differ in their last bits between
#: SIMD code paths. Expected to fail, not strictly (they pass on some machines).
MACHINE_DEPENDENT = {
    "RowImages": {
        # It passed on the machines of earlier sessions; on another 2-core x86 machine the
        # novelty score of one of its 20 samples was -2.135e-4 in one order and -2.400e-4
        # in another (the check asks for 1e-7 relative).
        "check_methods_sample_order_invariance": (
            "as check_methods_subset_invariance: another order puts a sample at another "
            "place in the network's batch, and on some CPUs float32 effects of 1e-8 on the "
            "2-epoch network's features move the Mahalanobis score by 1e-5"
        ),
    },
}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failures, xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check, request):
    name = getattr(check, "func", check).__name__
    reason = MACHINE_DEPENDENT.get(type(estimator).__name__, {}).get(name)
    if reason is not None:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=False))
    check(estimator)
