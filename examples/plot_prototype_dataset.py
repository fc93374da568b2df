"""
The spread of the generated training crystals
=============================================

:func:`skcrystal.datasets.make_prototype_dataset` stands in for the AFLOWLIB elemental
solids the paper trained on. It builds crystals of the seven classes from AFLOW prototypes,
draws an element and a nearest-neighbour distance for each, and samples the free parameters
of the non-cubic prototypes over physically sensible ranges that keep clear of the values
where a prototype would become more symmetric (bct139 is bcc at c/a = 1 and fcc at
sqrt(2); the rhombohedral hR1 lattice is fcc at 60, sc at 90 and bcc at 109.47 degrees).

This example draws a few hundred crystals of the non-cubic classes and shows the spread of
c/a and of the rhombohedral angle per prototype.
"""

import matplotlib.pyplot as plt
import numpy as np

from skcrystal.datasets import make_prototype_dataset

structures, labels, info = make_prototype_dataset(
    300, classes=["hex/rh", "bct139", "bct141"], return_info=True, random_state=0
)

panels = [
    ("A_tI2_139_a", "c/a", "bct139 (In, Pa): c/a", [1.0, np.sqrt(2)]),
    ("A_tI4_141_a", "c/a", "bct141 (beta-Sn): c/a", []),
    ("A_hP2_194_c", "c/a", "hcp (Mg): c/a", []),
    ("A_hP4_194_ac", "c/a", "double hcp (La): c/a", []),
    ("A_hR1_166_a", "alpha", "hR1 (Hg, Po): alpha (deg)", [60.0, 90.0, 109.47]),
    ("A_hR2_166_c", "alpha", "hR2 (As): alpha (deg)", [60.0]),
]
fig, axes = plt.subplots(2, 3, figsize=(11, 6), constrained_layout=True)
for ax, (prototype, parameter, title, special) in zip(axes.ravel(), panels):
    values = [item[parameter] for item in info if item["prototype"] == prototype]
    ax.hist(values, bins=20, color="tab:blue")
    for k, value in enumerate(special):
        ax.axvline(
            value, color="tab:red", linestyle="--", label="more symmetric" if k == 0 else None
        )
    ax.set_title(f"{title}, n = {len(values)}")
    if special:
        ax.legend(loc="upper right", fontsize="small")
fig.suptitle("Sampled parameters of the generated crystals (red: values avoided)")
plt.show()
