"""
Which parts of the fingerprint decide the class: attribution maps
=================================================================

The paper's Fig. 5 opens the network up in three ways: attentive response maps (which
pixels of a fingerprint a class logit responds to), the most activated filters of a
convolutional layer projected back onto the image, and class templates (the maps averaged
over the crystals of a class). :mod:`skcrystal.explain` computes all three with captum, on
the shipped model or any fitted :class:`~skcrystal.CrystalClassifier`.

Several attribution methods are drawn side by side, because they answer different questions
(see the Notes of :func:`~skcrystal.explain.attribution_maps`). What to look for: guided
backpropagation, saliency and integrated gradients light up the diffraction peaks of each
fingerprint, and mostly the inner ones. Deconvolution, the method closest in construction to
the paper's attentive response maps, does not pick out the peaks with the shipped model: in
evaluation mode the dense head of this network is linear, so a deconvolution map depends on
the image only through the max-pool switches, and its maps are a few smooth blobs, some of
them away from any peak. The
numbers printed below measure it. The filter back-projections and the class templates, built
on guided backpropagation, do follow the peaks.
"""

# %%
# Fingerprints of a few classes
# -----------------------------
# One crystal of each of four classes, classified by the shipped model.

import matplotlib.pyplot as plt
import numpy as np

from skcrystal import load_pretrained, make_prototype_dataset
from skcrystal.explain import attribution_maps, class_templates, filter_maps
from skcrystal.plotting import plot_attribution, plot_fingerprint

model = load_pretrained()
fingerprint = model.named_steps["fingerprint"]
classifier = model.named_steps["classifier"]

structures, labels = make_prototype_dataset(
    1, classes=["fcc", "bcc", "hex/rh", "diam"], random_state=3
)
images = fingerprint.transform(structures)
print("true:     ", labels)
print("predicted:", classifier.predict(images))

# %%
# Attribution maps, method by method
# ----------------------------------
# Each map explains the logit of the predicted class. The functions take the classifier with
# images (as here) or the whole pipeline with structures. Integrated gradients integrates from
# an empty detector in 25 steps; Grad-CAM works on the last convolution, at a quarter of the
# image's resolution.

methods = ["deconvolution", "guided_backprop", "saliency", "integrated_gradients", "gradcam"]
maps = {
    method: attribution_maps(classifier, images, method=method, n_steps=25) for method in methods
}

fig, axes = plt.subplots(len(images), len(methods) + 1, figsize=(13, 9), constrained_layout=True)
for row, (image, label) in enumerate(zip(images, labels)):
    plot_fingerprint(image, axes=[axes[row, 0]], channels=False, title=label if row == 0 else "")
    axes[row, 0].set_ylabel(label)
    for column, method in enumerate(methods, start=1):
        title = method.replace("_", " ") if row == 0 else None
        plot_attribution(image, maps[method][row], ax=axes[row, column], title=title)
axes[0, 0].set_title("fingerprint")
fig.suptitle("Attribution maps of the predicted class (colour: magnitude, over the fingerprint)")

# %%
# What the maps follow
# --------------------
# Three numbers per method, from the maps' magnitudes (absolute values summed over the
# channels):
#
# - *on peaks*: the share of the magnitude on the brightest 5 % of the pixels (the
#   diffraction peaks); a map that ignored the image would score about 0.05;
# - *other class*: the correlation between the map of the predicted class and the map of the
#   runner-up class, for the same crystal; near 1, the map hardly depends on the class
#   explained;
# - *other crystal*: the mean correlation between the maps of two different crystals.


def correlation(a, b):
    if a.std() == 0 or b.std() == 0:  # e.g. Grad-CAM is all zero for a class it rules out
        return np.nan
    return np.corrcoef(a.ravel(), b.ravel())[0, 1]


magnitude = {method: np.abs(m).sum(axis=1) for method, m in maps.items()}
total = images.sum(axis=1)
peaks = total >= np.quantile(total, 0.95, axis=(1, 2), keepdims=True)
runner_up = np.argsort(classifier.predict_proba(images), axis=1)[:, -2]
pairs = [(i, j) for i in range(len(images)) for j in range(i + 1, len(images))]
print(f"{'method':22s} {'on peaks':>9s} {'other class':>12s} {'other crystal':>14s}")
for method in methods:
    m = magnitude[method]
    on_peaks = np.mean((m * peaks).sum(axis=(1, 2)) / m.sum(axis=(1, 2)))
    other = np.abs(
        attribution_maps(classifier, images, method=method, target=runner_up, n_steps=25)
    ).sum(axis=1)
    other_class = np.nanmean([correlation(a, b) for a, b in zip(m, other)])
    other_crystal = np.nanmean([correlation(m[i], m[j]) for i, j in pairs])
    print(f"{method:22s} {on_peaks:9.2f} {other_class:12.2f} {other_crystal:14.2f}")

# %%
# Integrated gradients puts almost all of its weight on the peaks (0.95); guided
# backpropagation and saliency put four to five times the share a map blind to the image would
# (0.25 and 0.18; they also light up the pixels around a few peaks); guided backpropagation
# barely depends on the class explained (0.98). Deconvolution and Grad-CAM score 0.05 and 0.06
# on the peaks, the 0.05 of a blind map: their maps are spread over the detector and do not
# pick out the diffraction peaks. For deconvolution this is the expected behaviour with this
# network (see the Notes of :func:`~skcrystal.explain.attribution_maps`): the positive part of
# the gradient passes every ReLU whatever the image, so the image enters only through the
# max-pool switches, and the map is a smooth pattern set largely by the network's weights
# rather than by the crystal; its maps of different crystals correlate more (0.46) than those
# of any other method (0.02 to 0.12). It is the honest result of the method the paper's
# attentive response maps are closest to; use the other methods to see which peaks decide.

# %%
# The most activated filters
# --------------------------
# For the fcc fingerprint: the four filters of the first and of the last convolution with the
# largest mean activation, each projected back onto the pixels by guided backpropagation.

fcc = list(labels).index("fcc")
fig, axes = plt.subplots(2, 4, figsize=(10, 5.4), constrained_layout=True)
for row, layer in zip(axes, [0, -1]):
    result = filter_maps(
        classifier, images[fcc : fcc + 1], layer=layer, n_filters=4, method="guided_backprop"
    )
    for ax, index, activation, projection in zip(
        row, result.filters[0], result.activations[0], result.maps[0]
    ):
        plot_attribution(images[fcc], projection, ax=ax, title=f"{result.layer} filter {index}")
        ax.set_xlabel(f"mean activation {activation:.2f}")
fig.suptitle(
    "fcc: the most activated filters of the first (top) and the last (bottom) convolution\n"
    "(layer names: the ReLU after each convolution in the network's modules)"
)

# %%
# Class templates
# ---------------
# Guided-backpropagation maps of the true class, averaged over three crystals per class in
# random cells and orientations. Each template is drawn over the mean fingerprint of its
# class.

template_structures, template_labels = make_prototype_dataset(3, random_state=4)
template_images = fingerprint.transform(template_structures)
templates = class_templates(classifier, template_images, template_labels)

fig, axes = plt.subplots(1, len(templates), figsize=(14, 2.6), constrained_layout=True)
for ax, (label, template) in zip(axes, templates.items()):
    mean_image = template_images[template_labels == label].mean(axis=0)
    plot_attribution(mean_image, template, ax=ax, title=label)
fig.suptitle("Class templates (guided backpropagation, mean of 3 crystals per class)")
plt.show()
