"""
Unknown structures: the novelty score and the reject option
===========================================================

A classifier of seven classes gives every input one of them. The shipped model also scores how
much an input looks like its training crystals
(:meth:`~skcrystal.CrystalClassifier.score_samples`: minus the Mahalanobis distance of the
network's penultimate features to the nearest class), and ``predict`` says ``"unknown"`` below
a threshold, ``offset_``, set so that 99.5 % of the crystals of a novelty sample of its
recipe (pristine, with vacancies, displacements or thermal phonons) pass it.

This example scores crystals of the seven classes, pristine and defective, and structures of
none of them: crystals of AFLOW prototypes of other space groups, from the families held out
for testing (:func:`skcrystal.outliers.other_prototypes`), a random dense packing of spheres
and a quenched Lennard-Jones glass (:mod:`skcrystal.outliers`), and crystals amorphised by
Gaussian displacements at a Lindemann ratio of 0.3.

What to look for: the threshold is -529. The crystals of the classes score between -7
and about -450 (medians -14 pristine, -25 with 30 % vacancies, -12 with 0.06 A
displacements), and all 14 are accepted in each version; the lowest is the rhombohedral hR1
crystal (alpha 97 degrees), the kind the shipped model scores worst (two hR1 crystals of 140
are its false rejects in the README's benchmark). 21 of the 24 prototype crystals of other
space groups are unknown (median score about -3200), and so are all random packings, glasses
and amorphised crystals (medians from -9000 to -16000); one amorphised crystal is refused
before it is scored, its atoms being on top of each other.
"""

# %%
# Crystals of the classes, and structures of none
# -----------------------------------------------

import matplotlib.pyplot as plt
import numpy as np

from skcrystal import load_pretrained, make_prototype_dataset
from skcrystal.defects import Displacements, Vacancies
from skcrystal.outliers import other_prototypes, quenched_glass, random_packing

crystals, labels = make_prototype_dataset(2, random_state=7)
prototypes, names = other_prototypes("test")
groups = {
    "pristine": crystals,
    "30 % vacancies": Vacancies(0.3, random_state=0).transform(crystals),
    "sigma 0.06 A": Displacements(0.06, random_state=0).transform(crystals),
    "other prototypes": prototypes[::4],
    "random packing": [
        random_packing(256, f, random_state=i) for i, f in enumerate((0.55, 0.6, 0.64))
    ],
    "glass": [quenched_glass(256, random_state=i) for i in range(3)],
    "Lindemann 0.3": Displacements(lindemann=0.3, random_state=0).transform(crystals),
}

# %%
# Scores and labels
# -----------------
# One fingerprint per structure (``score_samples`` and ``predict`` of the pipeline also take
# the structures themselves). Gaussian displacements at a Lindemann ratio of 0.3 can put two
# atoms on top of each other: such a structure is refused and counted, not fingerprinted.

model = load_pretrained()
classifier = model.named_steps["classifier"]
fingerprint = model.named_steps["fingerprint"].set_params(on_error="skip")
images = {}
for group, items in groups.items():
    images[group], errors = fingerprint.transform_with_errors(items)
    if errors:
        print(f"{group}: {len(errors)} of {len(items)} refused ({errors[0].reason})")
scores = {group: classifier.score_samples(x) for group, x in images.items()}
predicted = {group: classifier.predict(x) for group, x in images.items()}
print(f"threshold offset_ = {classifier.offset_:.1f}")
print(
    "classes of the pristine crystals called unknown:", labels[predicted["pristine"] == "unknown"]
)
for group in groups:
    unknown = np.mean(predicted[group] == "unknown")
    print(
        f"{group:>17s}: {len(scores[group]):3d} structures, unknown {unknown:5.0%}, "
        f"median score {np.median(scores[group]):8.1f}"
    )

# %%
# What the scores look like
# -------------------------
# The score is minus a squared distance: crystals of the classes gather near zero, structures
# of none of them far below. The dashed line is the threshold.

fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
for row, group in enumerate(groups):
    y = np.full(len(scores[group]), row) + np.random.default_rng(row).uniform(
        -0.2, 0.2, len(scores[group])
    )
    ax.scatter(-scores[group], y, s=12, color="C0" if row < 3 else "C3")
ax.axvline(-classifier.offset_, color="k", ls="--", lw=1)
ax.set_xscale("log")
ax.set_yticks(range(len(groups)), list(groups))
ax.invert_yaxis()
ax.set_xlabel("minus the novelty score (Mahalanobis distance squared)")
plt.show()
