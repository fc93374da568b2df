"""
From crystal to amorphous: confidence and uncertainty
=====================================================

The Lindemann criterion says a crystal melts when the root-mean-square displacement of its
atoms reaches a sizeable fraction (about 0.1 to 0.2) of the nearest-neighbour distance. The
paper's Supplementary Fig. 1 displaces the atoms of crystals of each class by Gaussian noise
whose standard deviation grows from 0 to 0.3 of the nearest-neighbour distance (the
"Lindemann parameter" here) and follows the network's confidence and its uncertainty.

Two numbers per structure: the confidence is the largest class probability; the uncertainty
is the mutual information of Monte-Carlo dropout
(:meth:`~skcrystal.CrystalClassifier.predict_uncertainty`), which is near zero when the
dropout passes agree and grows when they disagree, as they should on a structure that
belongs to no class.

What to look for: up to a Lindemann parameter of 0.09 every crystal keeps its class with a
confidence above 0.99 and a mutual information below 0.01 (at 0.06 and below the lowest
confidence is 0.999 and the largest mutual information 0.001). Where a crystal loses its
long-range order (from 0.12, class by class) its confidence drops and its mutual information
jumps: at 0.12 the bcc crystal is called bct141 (confidence 0.65, mutual information 0.12),
at 0.15 to 0.21 five or six of the seven crystals leave those bounds, then three or four. Past
0.2 the structures
are amorphous and the answers mean little: the model calls most of them diam, and some of
them pass both checks (the diamond crystal keeps its class with a confidence above 0.99 to
0.3; the bct139 one at 0.24 to 0.3 is called diam confidently). Neither number is an
amorphousness detector; the novelty score and the reject option are
(:ref:`sphx_glr_auto_examples_plot_unknown_structures.py`): the shipped model calls unknown
every crystal amorphised at Lindemann ratios of 0.3 to 0.5 in the README's benchmark.
"""

# %%
# One crystal per class, increasingly disordered
# ----------------------------------------------
# ``Displacements(lindemann=x)`` draws Gaussian displacements with a standard deviation of
# ``x`` times the crystal's nearest-neighbour distance per Cartesian component, on a
# supercell of at least 256 atoms.

import matplotlib.pyplot as plt
import numpy as np

from skcrystal import load_pretrained, make_prototype_dataset
from skcrystal.defects import Displacements

structures, labels = make_prototype_dataset(1, random_state=1)
lindemann = np.linspace(0.0, 0.3, 11)
disordered = [Displacements(lindemann=x, random_state=0).transform(structures) for x in lindemann]

# %%
# Confidence and uncertainty
# --------------------------
# The fingerprint step turns all structures into images in one go; the classifier then runs
# 15 dropout passes over them.

model = load_pretrained()
fingerprint = model.named_steps["fingerprint"]
classifier = model.named_steps["classifier"]
images = fingerprint.transform([s for level in disordered for s in level])
result = classifier.predict_uncertainty(images, n_passes=15, random_state=0)
shape = (len(lindemann), len(labels))
confidence = result.proba.max(axis=1).reshape(shape)
information = result.mutual_information.reshape(shape)
predicted = classifier.classes_[result.proba.argmax(axis=1)].reshape(shape)

print("Lindemann " + " ".join(f"{label:>7s}" for label in labels))
for x, row in zip(lindemann, predicted):
    print(f"{x:9.2f} " + " ".join(f"{label:>7s}" for label in row))

ordered = lindemann <= 0.06 + 1e-9
print(
    f"Lindemann <= 0.06: lowest confidence {confidence[ordered].min():.3f}, "
    f"largest mutual information {information[ordered].max():.4f}"
)
flagged = (confidence < 0.99) | (information > 0.01)
print("Crystals with confidence < 0.99 or mutual information > 0.01:")
for x, row, conf, info in zip(lindemann, flagged, confidence, information):
    names = ", ".join(
        f"{label} ({c:.3f}, {i:.4f})" for label, f, c, i in zip(labels, row, conf, info) if f
    )
    print(f"{x:9.2f}  {row.sum()}  {names}")

# %%
# The two curves per class (thin lines) and their mean over the classes (thick line):

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
for ax, values, name in [
    (axes[0], confidence, "confidence (largest probability)"),
    (axes[1], information, "uncertainty (mutual information, nats)"),
]:
    for column, label in enumerate(labels):
        ax.plot(lindemann, values[:, column], marker="o", markersize=3, linewidth=1, label=label)
    ax.plot(lindemann, values.mean(axis=1), color="black", linewidth=3, label="mean")
    ax.set_xlabel("Lindemann parameter (displacement / nearest-neighbour distance)")
    ax.set_ylabel(name)
    ax.grid(alpha=0.3)
axes[0].set_ylim(0, 1.05)
axes[1].legend(loc="upper left", fontsize="small")
fig.suptitle("Amorphisation (cf. the paper's Supplementary Fig. 1)")
plt.show()
