"""
Tuning the fingerprint with GridSearchCV
========================================

Every constant of the fingerprint (wavelength, detector distance, pixel size and count,
rotation angle, beam stop, cluster size) is a parameter of
:class:`~skcrystal.DiffractionFingerprint`, and :class:`~skcrystal.CrystalClassifier` reads
the image size when it is fitted. So the descriptor can be tuned like any scikit-learn
hyper-parameter: put both steps in a ``Pipeline`` and hand it to ``GridSearchCV`` or
``cross_val_score``, with the structures themselves as ``X``.

This example searches the detector resolution, 16 against 24 pixels per side, with the pixel
size scaled so that the detector covers the same scattering angles (and the beam stop the
same area), on a tiny generated data set with a tiny network trained for a few epochs, so
that it runs in seconds. What to look for: the mechanics, not the numbers. With ten crystals
per class the scores vary a lot from fold to fold, and neither resolution is anywhere near
the shipped model (64 pixels, 10,500 crystals, the paper's full network).
"""

# %%
# A tiny data set and a tiny pipeline
# -----------------------------------
# Ten crystals per class; a network with 8 filters per convolution, 3 x 3 kernels and 32
# hidden units, trained on all of its training folds (``train_split=None``) for 20 epochs.

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline

from skcrystal import CrystalClassifier, DiffractionFingerprint, make_prototype_dataset
from skcrystal.plotting import plot_fingerprint

# A network this small trains faster on one CPU thread: each step is too little work to
# share out, and on a busy machine the threads wait for each other.
threads = torch.get_num_threads()
torch.set_num_threads(1)

structures, labels = make_prototype_dataset(10, random_state=0)

pipe = Pipeline(
    [
        ("fingerprint", DiffractionFingerprint(n_pixels=16)),
        (
            "classifier",
            CrystalClassifier(
                max_epochs=20,
                lr=3e-3,
                batch_size=8,
                train_split=None,
                random_state=0,
                module__filters=(8, 8, 8, 8, 8, 8),
                module__kernel_size=3,
                module__hidden=32,
            ),
        ),
    ]
)

# %%
# The grid
# --------
# The paper's detector has 64 pixels of 0.4 mm. For ``n`` pixels the pixel size is
# ``64 * 0.4 mm / n`` and the beam stop ``5 * n / 64`` pixels, so each candidate sees the same
# part of reciprocal space at a different resolution. Parameters that must change together
# go in one dictionary of the grid.

paper = DiffractionFingerprint()
side = paper.n_pixels * paper.pixel_size
grid = [
    {
        "fingerprint__n_pixels": [n],
        "fingerprint__pixel_size": [side / n],
        "fingerprint__beam_stop_radius": [paper.beam_stop_radius * n / paper.n_pixels],
    }
    for n in (16, 24)
]

for candidate in grid:
    n = candidate["fingerprint__n_pixels"][0]
    print(f"{n} pixels of {1e3 * candidate['fingerprint__pixel_size'][0]:.3f} mm")

# %%
# What the two resolutions look like, for the first fcc crystal. The fingerprint samples the
# intensity at the centre of each pixel (it does not integrate over the pixel), so a coarse
# detector does not just blur the peaks: it catches some of them off-centre or misses them.

fcc = structures[list(labels).index("fcc")]
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), constrained_layout=True)
for ax, candidate in zip(axes, grid + [{}]):
    params = {key.split("__")[1]: value[0] for key, value in candidate.items()}
    image = DiffractionFingerprint(**params).transform([fcc])[0]
    plot_fingerprint(
        image, axes=[ax], channels=False, title=f"{image.shape[-1]} x {image.shape[-1]} pixels"
    )
fig.suptitle("fcc at three detector resolutions (64: the paper's)")

# %%
# The search
# ----------
# Three stratified folds, shuffled with a fixed seed. Every fit computes the fingerprints of
# its training fold with the candidate's parameters.

cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
search = GridSearchCV(pipe, grid, cv=cv).fit(structures, labels)

results = search.cv_results_
for n, mean, std in zip(
    results["param_fingerprint__n_pixels"], results["mean_test_score"], results["std_test_score"]
):
    print(f"{n} pixels: accuracy {mean:.2f} +- {std:.2f}")
print("best:", search.best_params_["fingerprint__n_pixels"], "pixels")

# %%
# Cross-validation of the chosen pipeline
# ---------------------------------------
# ``cross_val_score`` of the best candidate on other folds (a different shuffle) gives an
# estimate of its accuracy that the search did not select on.

scores = cross_val_score(
    search.best_estimator_, structures, labels, cv=StratifiedKFold(3, shuffle=True, random_state=1)
)
print("fold accuracies:", np.round(scores, 2))

fig, ax = plt.subplots(figsize=(6, 3.5), constrained_layout=True)
names = [f"{n} px" for n in results["param_fingerprint__n_pixels"]]
ax.bar(
    names,
    results["mean_test_score"],
    yerr=results["std_test_score"],
    capsize=6,
    color="tab:blue",
    label="GridSearchCV (mean +- std over folds)",
)
best = names[search.best_index_]
ax.plot(
    [best] * len(scores),
    scores,
    "o",
    color="tab:red",
    label="cross_val_score of the best, per fold",
)
ax.axhline(1 / len(set(labels)), color="grey", linestyle=":", label="chance")
ax.set_ylim(0, 1.35)
ax.set_yticks(np.linspace(0, 1, 6))
ax.set_ylabel("accuracy")
ax.legend(loc="upper center", fontsize="small")
ax.set_title(f"Tiny network, {len(labels)} crystals")

torch.set_num_threads(threads)
plt.show()
