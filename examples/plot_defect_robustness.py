"""
Defective crystals: the ConvNet against spglib
==============================================

The paper's Table 1 compares the ConvNet with spglib, a symmetry finder, on crystals with
random displacements (thermal noise, Gaussian with standard deviation sigma per Cartesian
component) and with vacancies. spglib is run at three settings of its tolerances (tight,
medium and loose, ``skcrystal.baseline.SETTINGS``); its space group is mapped to one of the
seven classes, anything else counts as wrong.

This is a small live version of that table, drawn as a plot: two crystals per class and a few
defect levels, so that it runs in seconds. ``benchmarks/defects.py`` makes the full table
(more crystals, all of the paper's levels, substitutions too); its results are in the README.

What to look for: spglib is right only while the displacements stay below its tolerance, and
wrong at every tolerance as soon as one atom is missing (one vacancy breaks the translation
symmetry of the whole supercell). The shipped model stays at 100 % up to 0.06 A and 10 %
vacancies; at 50 % vacancies it calls one of the 14 crystals (a bct139 one) unknown, its
reject option (a wrong answer here), and still knows its class as the nearest one.
"""

# %%
# Test crystals and defect levels
# -------------------------------
# A seed other than the shipped model's training seed (0) gives crystals the model has not
# seen. Each level makes defective copies, on supercells of at least 256 atoms.

import matplotlib.pyplot as plt
import numpy as np

from skcrystal import SpglibBaseline, load_pretrained, make_prototype_dataset
from skcrystal.baseline import SETTINGS
from skcrystal.defects import Displacements, Vacancies

structures, labels = make_prototype_dataset(2, random_state=2018)
sigmas = [0.001, 0.005, 0.02, 0.06]  # Angstrom
fractions = [0.01, 0.1, 0.5]  # of the atoms removed

model = load_pretrained()
baselines = {name: SpglibBaseline(*setting).fit() for name, setting in SETTINGS.items()}


def accuracies(test_set):
    """Accuracy of the model and of each spglib setting on one test set."""
    scores = {"shipped model": np.mean(model.predict(test_set) == labels)}
    for name, baseline in baselines.items():
        symprec, angle = SETTINGS[name]
        scores[f"spglib {name} ({symprec:g} A, {angle:g} deg)"] = baseline.score(test_set, labels)
    return scores


# %%
# The pristine crystals first, then displacements, then vacancies.

pristine = accuracies(structures)
by_sigma = [
    accuracies(Displacements(sigma=s, random_state=0).transform(structures)) for s in sigmas
]
by_fraction = [
    accuracies(Vacancies(fraction=f, random_state=0).transform(structures)) for f in fractions
]

rows = [("pristine", pristine)]
rows += [(f"sigma {s:g} A", row) for s, row in zip(sigmas, by_sigma)]
rows += [(f"vacancies {f:.0%}", row) for f, row in zip(fractions, by_fraction)]
print(f"{'test set':14s}" + "".join(f"{name.split(' (')[0]:>16s}" for name in pristine))
for level, row in rows:
    print(f"{level:14s}" + "".join(f"{100 * value:15.0f}%" for value in row.values()))

# %%
# Accuracy against the amount of disorder
# ---------------------------------------
# The levels are evenly spaced on the plot, not to scale; both panels start from the
# pristine crystals. With vacancies the three spglib lines lie on top of each other: no
# tolerance on positions brings back a missing atom.

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, constrained_layout=True)
panels = [
    (
        axes[0],
        [0.0, *sigmas],
        [pristine, *by_sigma],
        "displacement sigma (Angstrom)",
        lambda s: f"{s:g}",
    ),
    (
        axes[1],
        [0.0, *fractions],
        [pristine, *by_fraction],
        "fraction of atoms removed",
        lambda f: f"{f:.0%}",
    ),
]
styles = {"shipped model": {"color": "black", "linewidth": 2.5, "marker": "o"}}
for ax, levels, rows, xlabel, fmt in panels:
    positions = np.arange(len(levels))
    for name in rows[0]:
        values = [100 * row[name] for row in rows]
        ax.plot(
            positions, values, label=name, **styles.get(name, {"marker": "s", "linestyle": "--"})
        )
    ax.set_xticks(positions, [fmt(level) for level in levels])
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)
axes[0].set_ylabel(f"accuracy (%) on {len(labels)} crystals")
axes[0].set_ylim(-5, 105)
axes[1].legend(loc="center right", fontsize="small")
fig.suptitle("Defective crystals: the shipped model against spglib (cf. the paper's Table 1)")
plt.show()
