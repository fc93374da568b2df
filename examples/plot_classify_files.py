"""
Classify your own structure files, with an uncertainty
======================================================

This is what the paper's method is for: give it atomic structures as they come (a CIF file
from a database, a POSCAR from a DFT run, an extxyz snapshot of a molecular-dynamics run;
conventional, primitive or rotated cells; with or without defects) and get the crystal class
of each, with a probability and an uncertainty, without choosing a symmetry tolerance.

The package ships nine such files, one or more per class, two of them defective (20 %
vacancies in a rotated cell; 0.05 Angstrom thermal noise). The shipped model
(:func:`skcrystal.load_pretrained`) classifies them; Monte-Carlo dropout gives the
uncertainty: the network is run several times with dropout on, and the mutual information
between the prediction and the dropout masks is near zero when the passes agree. What to
look for: every file gets its class with a probability near 1 and a mutual information near
0, defective or not; the bar chart shows how little probability is left for the other
classes.
"""

# %%
# The example files
# -----------------
# They live inside the package; :mod:`importlib.resources` finds them wherever it is
# installed.

from importlib.resources import files

import matplotlib.pyplot as plt
import numpy as np

from skcrystal import load_pretrained

folder = files("skcrystal") / "data/examples"
paths = sorted(str(path) for path in folder.iterdir() if path.is_file())
names = [path.rsplit("/", 1)[-1] for path in paths]
print("\n".join(names))

# %%
# Classify them
# -------------
# :func:`~skcrystal.load_pretrained` returns a fitted ``Pipeline`` of a
# :class:`~skcrystal.DiffractionFingerprint` and a :class:`~skcrystal.CrystalClassifier`.
# ``predict`` takes the paths (or pymatgen structures, or ASE ``Atoms``) directly.

model = load_pretrained()
print(model.predict(paths))

# %%
# With an uncertainty
# -------------------
# ``predict_uncertainty`` belongs to the classifier, which takes images: run the fingerprint
# step first, then ask for 20 stochastic passes, seeded so that the numbers repeat.

fingerprint = model.named_steps["fingerprint"]
classifier = model.named_steps["classifier"]
images = fingerprint.transform(paths)
result = classifier.predict_uncertainty(images, n_passes=20, random_state=0)

predicted = classifier.classes_[result.proba.argmax(axis=1)]
print(f"{'file':32s} {'class':7s} {'probability':>11s} {'mutual inf.':>11s}")
for name, label, proba, information in zip(
    names, predicted, result.proba, result.mutual_information
):
    print(f"{name:32s} {label:7s} {proba.max():11.4f} {information:11.2e}")

# %%
# The probabilities of every class, on a logarithmic scale so that the small ones show:

fig, ax = plt.subplots(figsize=(9, 4.5), constrained_layout=True)
positions = np.arange(len(names))
n_classes = len(classifier.classes_)
width = 0.8 / n_classes
for k, label in enumerate(classifier.classes_):
    ax.bar(positions + (k - (n_classes - 1) / 2) * width, result.proba[:, k], width, label=label)
ax.set_yscale("log")
ax.set_ylim(1e-6, 2)
ax.set_xticks(positions, names, rotation=30, ha="right")
ax.set_ylabel("probability (mean of 20 dropout passes)")
ax.legend(ncol=n_classes, loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize="small")

# %%
# From the command line
# ---------------------
# The same model is behind the ``skcrystal classify`` command (also ``python -m skcrystal``).
# It reads each file, prints a table (or ``--format json`` / ``csv``) and reports files it
# could not read without stopping at them; ``--uncertainty`` adds the mutual information and
# the predictive entropy, ``--baseline`` spglib's answer::
#
#     skcrystal classify Cu.cif POSCAR md_snapshot.extxyz
#     skcrystal classify --uncertainty --baseline --format json structures/*.cif
#
# ``make demo`` runs it on the example files of this page.
plt.show()
