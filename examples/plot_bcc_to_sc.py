"""
From bcc to simple cubic by removing the body-centre atoms
==========================================================

A body-centred cubic (bcc) crystal is two interpenetrating simple cubic (sc) lattices: the
cube corners and the body centres. Removing the body-centre atoms one by one takes the crystal
from bcc (nothing removed) to sc (all removed); in between it is a bcc crystal with vacancies
on one sublattice, and nothing in the training data looked like it. The paper's Fig. 4b
follows the network's class probabilities along this path, averaged over random choices of
the atoms removed.

What to look for: the model keeps answering bcc until most of the body centres are gone
(bcc is still at 0.99 with 65 % removed), then hands over to sc, crossing over at a little
under three quarters (about 72 %) and reaching sc above 0.999 by 80 %. In this narrow region both
classes are likely and the spread between random realisations (the bands, one standard
deviation) is largest. No other class gets a noticeable probability.
"""

# %%
# The path
# --------
# :func:`skcrystal.defects.bcc_to_sc` builds a cubic supercell of at least 256 atoms of a
# bcc crystal and removes the given fraction of its body-centre atoms at random. Five
# realisations per fraction, each with its own seed.

import matplotlib.pyplot as plt
import numpy as np
from pymatgen.core import Lattice, Structure

from skcrystal import load_pretrained
from skcrystal.defects import bcc_to_sc
from skcrystal.plotting import plot_probabilities

iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
fractions = np.linspace(0, 1, 21)
n_realisations = 5
structures = [
    bcc_to_sc(iron, fraction, random_state=seed)
    for fraction in fractions
    for seed in range(n_realisations)
]
print(
    f"{len(structures)} structures; atoms at 0, 0.5 and 1:",
    len(structures[0]),
    len(structures[10 * n_realisations]),
    len(structures[-1]),
)

# %%
# Classify
# --------
# The probabilities of each realisation, then their mean and standard deviation per fraction.

model = load_pretrained()
classes = model.classes_
proba = model.predict_proba(structures).reshape(len(fractions), n_realisations, len(classes))
mean, std = proba.mean(axis=1), proba.std(axis=1)
for fraction, row in zip(fractions, mean):
    best = row.argmax()
    print(f"removed {fraction:4.0%}: {classes[best]:6s} {row[best]:.3f}")

# %%
# The probabilities along the path, with bands of one standard deviation over the five
# realisations (classes that stay below 5 % everywhere are left out):

ax = plot_probabilities(
    fractions, mean, classes, std=std, xlabel="fraction of body-centre atoms removed"
)
ax.set_title("bcc to sc (cf. the paper's Fig. 4b)")
plt.show()
