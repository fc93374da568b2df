r"""Which pixels of a diffraction fingerprint decide the class: attribution maps with captum.

The three views of Ziletti et al., Nature Communications 9, 2775 (2018), Fig. 5:

- :func:`attribution_maps`: for each image, the relevance of every pixel to one class logit
  (the paper's attentive response maps are closest in construction to
  ``method="deconvolution"``);
- :func:`filter_maps`: the most activated filters of a convolution, each back-projected to
  image space;
- :func:`class_templates`: the attribution maps averaged over the images of each class.

Every function takes a fitted :class:`~skcrystal.CrystalClassifier` with images of shape
``(n, channels, n_pixels, n_pixels)``, or a fitted ``Pipeline`` ending in one (such as
:func:`~skcrystal.load_pretrained`) with structures, which the steps before the classifier
turn into images. Maps come back as ``float32`` arrays shaped like the images.

The network is put in evaluation mode for the computation (dropout off, batch normalisation on
its running statistics) and every submodule's previous mode is restored afterwards, also when
an error is raised. Images are processed ``batch_size`` at a time. Deconvolution and guided
backpropagation rewrite the gradient of ``torch.nn.ReLU`` modules, which the ConvNet uses.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from captum.attr import (
    Deconvolution,
    GuidedBackprop,
    IntegratedGradients,
    LayerActivation,
    LayerAttribution,
    LayerGradCam,
    NeuronDeconvolution,
    NeuronGuidedBackprop,
    Saliency,
)
from sklearn.exceptions import NotFittedError
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from torch import nn

#: Methods of :func:`attribution_maps` and :func:`class_templates`, each one captum class.
METHODS = {
    "deconvolution": Deconvolution,
    "guided_backprop": GuidedBackprop,
    "integrated_gradients": IntegratedGradients,
    "saliency": Saliency,
    "gradcam": LayerGradCam,
}

#: Methods of :func:`filter_maps`: back-projection of one filter's activation.
FILTER_METHODS = {
    "deconvolution": NeuronDeconvolution,
    "guided_backprop": NeuronGuidedBackprop,
}

# Constraints of validate_params. What it leaves alone ("no_validation") depends on the model:
# _classifier_and_images checks model and X (a classifier takes images, a pipeline what its
# first step takes), and _target_indices checks target and the labels of y against classes_.
_POSITIVE_INT = [Interval(Integral, 1, None, closed="left")]
_LAYER = [Integral, str, nn.Module]


@validate_params(
    {
        "model": "no_validation",
        "X": "no_validation",
        "method": [StrOptions(set(METHODS))],
        "target": "no_validation",
        "n_steps": _POSITIVE_INT,
        "layer": [None, *_LAYER],
        "batch_size": _POSITIVE_INT,
    },
    prefer_skip_nested_validation=True,
)
def attribution_maps(
    model, X, *, method="deconvolution", target=None, n_steps=50, layer=None, batch_size=32
):
    """Relevance of each pixel of each fingerprint to a class, one captum method.

    Parameters
    ----------
    model : CrystalClassifier or sklearn.pipeline.Pipeline
        A fitted classifier, or a fitted pipeline whose last step is one (e.g. the result of
        :func:`skcrystal.load_pretrained`).
    X : array-like
        With a classifier: images of shape ``(n_samples, channels, n_pixels, n_pixels)``.
        With a pipeline: what the pipeline takes (structures, ``Atoms``, paths).
    method : {"deconvolution", "guided_backprop", "integrated_gradients", "saliency", \
"gradcam"}, default="deconvolution"
        The captum method:

        - ``"deconvolution"``: :class:`captum.attr.Deconvolution` (Zeiler and Fergus), the
          closest to the paper's attentive response maps;
        - ``"guided_backprop"``: :class:`captum.attr.GuidedBackprop`;
        - ``"integrated_gradients"``: :class:`captum.attr.IntegratedGradients` from an
          all-zero (empty detector) baseline in ``n_steps`` steps;
        - ``"saliency"``: :class:`captum.attr.Saliency`, the absolute gradient;
        - ``"gradcam"``: :class:`captum.attr.LayerGradCam` on ``layer`` with ReLU applied to
          the result (as in Grad-CAM), upsampled bilinearly to the image size with
          :meth:`captum.attr.LayerAttribution.interpolate` and repeated over the channels.
    target : label, int, array-like of shape (n_samples,) or None, default=None
        The class whose logit is explained: ``None`` for each sample's predicted class, a
        label of ``classes_`` (e.g. ``"fcc"``), an integer index into ``classes_``, or one
        label or index per sample. A value that is a label of ``classes_`` is taken as a
        label, even when it is also a valid index.
    n_steps : int, default=50
        Integration steps of ``"integrated_gradients"`` (other methods ignore it).
    layer : int, str, torch.nn.Module or None, default=None
        Layer of ``"gradcam"`` (only that method takes one): an integer selects a convolution
        of the network in order (``-1``, the default, is the last) and the method then uses
        that convolution's activation, i.e. the ``nn.ReLU`` that follows it; a string names a
        submodule of ``module_`` (as in ``named_modules()``); a module is used as it is.
    batch_size : int, default=32
        Images per forward/backward pass; integrated gradients evaluates ``batch_size``
        interpolated images at a time.

    Returns
    -------
    ndarray of shape (n_samples, channels, n_pixels, n_pixels), float32
        The attributions, shaped like the fingerprint images.

    See Also
    --------
    filter_maps : Back-projections of the most activated filters of a convolution.
    class_templates : Attribution maps averaged over each class.

    Notes
    -----
    The methods answer different questions. Deconvolution passes only the positive part of
    the gradient through each ReLU, whatever the forward activation; in evaluation mode the
    network's dense head is then linear, so a deconvolution map depends on the image only
    through the max-pool switches: it does not follow the diffraction peaks of the image (on
    the shipped model, 7 % of its magnitude falls on the brightest 5 % of pixels, against
    92 % for integrated gradients), and maps of different crystals correlate more than those
    of the other methods.
    Guided backpropagation also masks by the forward activations: its maps follow the
    diffraction peaks of the image but hardly depend on ``target``. Saliency and integrated
    gradients depend on both the image and the target; integrated gradients (the input times
    the gradient averaged along the path from the empty detector) is concentrated on the
    peaks, where the intensity is. Grad-CAM is coarse: the last convolution sees the image at
    a quarter of its resolution.

    Examples
    --------
    >>> import numpy as np
    >>> from skcrystal import CrystalClassifier
    >>> from skcrystal.explain import attribution_maps
    >>> rng = np.random.default_rng(0)
    >>> images = rng.random((20, 3, 16, 16), dtype=np.float32)
    >>> labels = np.array(["fcc", "bcc"] * 10)
    >>> net = CrystalClassifier(max_epochs=1, random_state=0, train_split=None,
    ...                         module__filters=(4, 4, 4, 4, 4, 4), module__hidden=8)
    >>> net = net.fit(images, labels)
    >>> maps = attribution_maps(net, images[:3], method="guided_backprop", target="fcc")
    >>> maps.shape, maps.dtype
    ((3, 3, 16, 16), dtype('float32'))
    """
    _check_layer_is_for_gradcam(layer, method)
    classifier, images = _classifier_and_images(model, X)
    targets = _target_indices(target, classifier.classes_, len(images))
    maps, _ = _attribute(classifier, images, method, targets, n_steps, layer, batch_size)
    return maps


@validate_params(
    {
        "model": "no_validation",
        "X": "no_validation",
        "layer": _LAYER,
        "n_filters": _POSITIVE_INT,
        "method": [StrOptions(set(FILTER_METHODS))],
        "batch_size": _POSITIVE_INT,
    },
    prefer_skip_nested_validation=True,
)
def filter_maps(model, X, *, layer=-1, n_filters=4, method="deconvolution", batch_size=32):
    """The most activated filters of a layer, each back-projected to image space.

    For each image, the filters of ``layer`` are ranked by their mean activation over the
    feature map; the activation map of each of the ``n_filters`` strongest is then projected
    back onto the input pixels by deconvolution or guided backpropagation (captum's
    :class:`~captum.attr.NeuronDeconvolution` or :class:`~captum.attr.NeuronGuidedBackprop`).
    As in Zeiler and Fergus's deconvnet, what is projected is the activation map itself, all
    other filters set to zero: the neuron is ``0.5 * sum(a ** 2)`` over the filter's map ``a``,
    whose gradient at the layer is ``a``. (Projecting ``sum(a)`` instead would start from a
    map of ones and lose the image: with deconvolution the result would depend on the image
    only through the max-pool switches.) This shows which diffraction peaks a filter responds
    to, as in Fig. 5 of Ziletti et al. (2018).

    Parameters
    ----------
    model : CrystalClassifier or sklearn.pipeline.Pipeline
        A fitted classifier, or a fitted pipeline whose last step is one.
    X : array-like
        Images (with a classifier) or structures (with a pipeline); see
        :func:`attribution_maps`.
    layer : int, str or torch.nn.Module, default=-1
        An integer selects a convolution of the network in order (``0`` is the first, ``-1``
        the last) and uses its activation, the ``nn.ReLU`` that follows it; a string names a
        submodule of ``module_`` (as in ``named_modules()``); a module is used as it is. Its
        output's second axis is the filter (or unit) axis.
    n_filters : int, default=4
        Filters kept per image, at most the layer's number of filters.
    method : {"deconvolution", "guided_backprop"}, default="deconvolution"
        How an activation is projected back onto the pixels.
    batch_size : int, default=32
        Images per forward/backward pass.

    Returns
    -------
    sklearn.utils.Bunch
        - ``filters``: ndarray of shape (n_samples, n_filters), int64, the indices of the
          most activated filters of each image, strongest first;
        - ``activations``: ndarray of shape (n_samples, n_filters), float32, their mean
          activation;
        - ``maps``: ndarray of shape (n_samples, n_filters, channels, n_pixels, n_pixels),
          float32, the back-projection of each of those filters;
        - ``layer``: str, the name of the layer in ``module_.named_modules()``.

    See Also
    --------
    attribution_maps : Back-projection of a class logit instead of a filter.

    Examples
    --------
    >>> import numpy as np
    >>> from skcrystal import CrystalClassifier
    >>> from skcrystal.explain import filter_maps
    >>> rng = np.random.default_rng(0)
    >>> images = rng.random((20, 3, 16, 16), dtype=np.float32)
    >>> net = CrystalClassifier(max_epochs=1, random_state=0, train_split=None,
    ...                         module__filters=(4, 4, 4, 4, 4, 4), module__hidden=8)
    >>> net = net.fit(images, np.array(["fcc", "bcc"] * 10))
    >>> result = filter_maps(net, images[:2], layer=0, n_filters=3)
    >>> result.filters.shape, result.maps.shape, result.layer
    ((2, 3), (2, 3, 3, 16, 16), 'features.1')
    """
    classifier, images = _classifier_and_images(model, X)
    module = classifier.module_
    name, layer_module = _resolve_layer(module, layer)
    n = len(images)
    filters = np.zeros((n, n_filters), dtype=np.int64)
    activations = np.zeros((n, n_filters), dtype=np.float32)
    maps = np.zeros((n, n_filters, *images.shape[1:]), dtype=np.float32)
    with _evaluation(module), _quiet_captum():
        activation = LayerActivation(module, layer_module)
        projection = FILTER_METHODS[method](module, layer_module)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            inputs = _as_tensor(images[start:stop], classifier.device)
            with torch.no_grad():
                output = activation.attribute(inputs)
            means = output.reshape(output.shape[0], output.shape[1], -1).mean(dim=2)
            if n_filters > means.shape[1]:
                raise ValueError(
                    f"n_filters={n_filters} but layer {name!r} has {means.shape[1]} filters."
                )
            top = torch.topk(means, n_filters, dim=1)
            filters[start:stop] = top.indices.cpu().numpy()
            activations[start:stop] = top.values.cpu().numpy()
            rows = torch.arange(len(inputs), device=inputs.device)
            for rank in range(n_filters):
                selector = _filter_selector(rows, top.indices[:, rank])
                attribution = projection.attribute(inputs, neuron_selector=selector)
                maps[start:stop, rank] = attribution.detach().cpu().numpy()
    return Bunch(filters=filters, activations=activations, maps=maps, layer=name)


@validate_params(
    {
        "model": "no_validation",
        "X": "no_validation",
        "y": ["array-like", None],
        "method": [StrOptions(set(METHODS))],
        "n_steps": _POSITIVE_INT,
        "layer": [None, *_LAYER],
        "batch_size": _POSITIVE_INT,
    },
    prefer_skip_nested_validation=True,
)
def class_templates(
    model, X, y=None, *, method="guided_backprop", n_steps=50, layer=None, batch_size=32
):
    """Per-class templates: attribution maps of the class logit averaged over the class.

    Each sample is explained for its own class (its label in ``y``, or the predicted class
    when ``y`` is None) with :func:`attribution_maps`; the maps of the samples of each class
    are averaged. The template of a class shows the diffraction pattern the network looks for
    in that class (cf. Ziletti et al. 2018, Fig. 5).

    Parameters
    ----------
    model : CrystalClassifier or sklearn.pipeline.Pipeline
        A fitted classifier, or a fitted pipeline whose last step is one.
    X : array-like
        Images (with a classifier) or structures (with a pipeline); see
        :func:`attribution_maps`.
    y : array-like of shape (n_samples,) or None, default=None
        Labels of ``classes_`` to group the samples by; default: the predicted classes.
    method : str, default="guided_backprop"
        Any method of :func:`attribution_maps`. Guided backpropagation, the default, gives
        sharp maps that follow each image's diffraction peaks; deconvolution maps do not
        follow the peaks and resemble each other across images (see :func:`attribution_maps`, Notes),
        and ``"integrated_gradients"`` or ``"saliency"`` weigh the explained class more.
    n_steps : int, default=50
        Integration steps of ``"integrated_gradients"``, as in :func:`attribution_maps`.
    layer : int, str, torch.nn.Module or None, default=None
        Layer of ``"gradcam"``, as in :func:`attribution_maps`.
    batch_size : int, default=32
        Images per forward/backward pass.

    Returns
    -------
    dict
        ``{label: ndarray of shape (channels, n_pixels, n_pixels), float32}`` with one key per
        label of ``classes_``, in that order. A class without samples gets a template of NaN,
        with a warning.

    See Also
    --------
    attribution_maps : The per-sample maps that are averaged.

    Examples
    --------
    >>> import numpy as np
    >>> from skcrystal import CrystalClassifier
    >>> from skcrystal.explain import class_templates
    >>> rng = np.random.default_rng(0)
    >>> images = rng.random((20, 3, 16, 16), dtype=np.float32)
    >>> labels = np.array(["fcc", "bcc"] * 10)
    >>> net = CrystalClassifier(max_epochs=1, random_state=0, train_split=None,
    ...                         module__filters=(4, 4, 4, 4, 4, 4), module__hidden=8)
    >>> net = net.fit(images, labels)
    >>> templates = class_templates(net, images, labels)
    >>> {label: template.shape for label, template in templates.items()}
    {'bcc': (3, 16, 16), 'fcc': (3, 16, 16)}
    """
    _check_layer_is_for_gradcam(layer, method)
    classifier, images = _classifier_and_images(model, X)
    classes = classifier.classes_
    if y is None:
        targets = None
    else:
        if np.ndim(y) != 1:
            raise ValueError(f"y must be one label per sample, got shape {np.shape(y)}.")
        targets = _target_indices(y, classes, len(images), labels_only=True, name="y")
    maps, targets = _attribute(classifier, images, method, targets, n_steps, layer, batch_size)
    templates, empty = {}, []
    for index, label in enumerate(classes.tolist()):
        members = targets == index
        if members.any():
            templates[label] = maps[members].mean(axis=0, dtype=np.float64).astype(np.float32)
        else:
            templates[label] = np.full(images.shape[1:], np.nan, dtype=np.float32)
            empty.append(label)
    if empty:
        source = "labelled" if y is not None else "predicted"
        warnings.warn(
            f"no sample is {source} as {empty}: their templates are NaN.", UserWarning, stacklevel=2
        )
    return templates


# -- the computation ---------------------------------------------------------------------


def _attribute(classifier, images, method, targets, n_steps, layer, batch_size):
    """Maps of ``images`` and the class index explained for each, batch by batch."""
    module = classifier.module_
    n = len(images)
    maps = np.zeros(images.shape, dtype=np.float32)
    explained = np.zeros(n, dtype=np.int64) if targets is None else targets
    with _evaluation(module), _quiet_captum():
        if method == "gradcam":
            _, layer_module = _resolve_layer(module, -1 if layer is None else layer)
            algorithm = LayerGradCam(module, layer_module)
        else:
            algorithm = METHODS[method](module)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            inputs = _as_tensor(images[start:stop], classifier.device)
            if targets is None:
                with torch.no_grad():
                    explained[start:stop] = module(inputs).argmax(dim=1).cpu().numpy()
            target = torch.as_tensor(explained[start:stop], device=inputs.device)
            if method == "integrated_gradients":
                attribution = algorithm.attribute(
                    inputs,
                    baselines=0.0,
                    target=target,
                    n_steps=n_steps,
                    internal_batch_size=batch_size,
                )
            elif method == "saliency":
                attribution = algorithm.attribute(inputs, target=target, abs=True)
            elif method == "gradcam":
                coarse = algorithm.attribute(inputs, target=target, relu_attributions=True)
                if coarse.ndim != 4:
                    raise ValueError(
                        f"gradcam needs a layer with 4-dimensional (n, filters, h, w) output, "
                        f"got shape {tuple(coarse.shape)}."
                    )
                fine = LayerAttribution.interpolate(
                    coarse, tuple(inputs.shape[2:]), interpolate_mode="bilinear"
                )
                attribution = fine.expand(-1, inputs.shape[1], -1, -1)
            else:
                attribution = algorithm.attribute(inputs, target=target)
            maps[start:stop] = attribution.detach().cpu().numpy()
    return maps, explained


def _filter_selector(rows, channels):
    """Captum neuron selector: ``0.5 * sum(a ** 2)`` of each sample's own filter map ``a``.

    Its gradient with respect to the layer output is ``a`` on that filter and zero elsewhere:
    the back-projection starts from the activation map, as in a deconvnet.
    """

    def select(output):
        picked = output[rows, channels]
        return 0.5 * picked.square().reshape(picked.shape[0], -1).sum(dim=1)

    return select


def _as_tensor(images, device):
    return torch.as_tensor(np.ascontiguousarray(images), device=device).requires_grad_()


@contextmanager
def _evaluation(module):
    """Evaluation mode inside, then every submodule back in its previous mode."""
    modes = [(m, m.training) for m in module.modules()]
    try:
        module.eval()
        yield module
    finally:
        for m, training in modes:  # parents come before their children: children win
            m.train(training)


@contextmanager
def _quiet_captum():
    """Captum warns at every call that it hooks the ReLUs; that is expected here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
        warnings.filterwarnings("ignore", message="Input Tensor .* did not already require")
        yield


# -- checks ------------------------------------------------------------------------------


def _classifier_and_images(model, X):
    """The fitted classifier at the end of ``model`` and ``X`` as its checked images."""
    steps = getattr(model, "steps", None)
    classifier = steps[-1][1] if steps else model
    module = getattr(classifier, "module_", None)
    if not isinstance(module, nn.Module):
        if hasattr(classifier, "initialize_module"):
            raise NotFittedError(
                f"{type(classifier).__name__} is not fitted yet: fit it before explaining it."
            )
        raise TypeError(
            "model must be a fitted CrystalClassifier or a Pipeline ending in one, got "
            f"{type(model).__name__}."
        )
    classifier.classes_  # noqa: B018 -- raises AttributeError if unfitted
    if steps and len(steps) > 1:
        X = model[:-1].transform(X)
    elif isinstance(X, (list, tuple)) and X and not isinstance(X[0], (np.ndarray, list, Real)):
        raise TypeError(
            f"a bare classifier takes fingerprint images, got a {type(X).__name__} of "
            f"{type(X[0]).__name__}; pass a Pipeline with a DiffractionFingerprint instead."
        )
    images = np.asarray(X, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(
            f"images must have shape (n_samples, channels, n_pixels, n_pixels), got {images.shape}."
        )
    expected = getattr(classifier, "image_shape_", None)
    if expected is not None and tuple(images.shape[1:]) != tuple(expected):
        raise ValueError(
            f"the classifier was fitted on images of shape {tuple(expected)}, "
            f"got {images.shape[1:]}."
        )
    if not np.all(np.isfinite(images)):
        raise ValueError("the images contain NaN or infinite values.")
    return classifier, images


def _check_layer_is_for_gradcam(layer, method):
    """Only ``"gradcam"`` takes a layer; any other method would ignore it silently."""
    if layer is not None and method != "gradcam":
        raise ValueError(f"layer is a parameter of method='gradcam' only, got method={method!r}.")


def _target_indices(target, classes, n, *, labels_only=False, name="target"):
    """``None`` (predicted classes) or an int64 array of class indices, one per sample."""
    if target is None:
        return None
    lookup = {label: index for index, label in enumerate(classes.tolist())}
    if np.ndim(target) == 0:
        index = _class_index(target, lookup, labels_only, name)
        return np.full(n, index, dtype=np.int64)
    if np.ndim(target) != 1 or len(target) != n:
        raise ValueError(
            f"{name} must be a single class or one per sample ({n}), got shape {np.shape(target)}."
        )
    indices = [_class_index(value, lookup, labels_only, name) for value in target]
    return np.array(indices, dtype=np.int64)


def _class_index(value, lookup, labels_only, name):
    if isinstance(value, np.generic):
        value = value.item()
    try:
        return lookup[value]
    except (KeyError, TypeError):
        pass
    n_classes = len(lookup)
    if (
        not labels_only
        and isinstance(value, Integral)
        and not isinstance(value, bool)
        and 0 <= value < n_classes
    ):
        return int(value)
    allowed = f"a label of classes_ {list(lookup)}"
    if not labels_only:
        allowed += f" or an index in 0..{n_classes - 1}"
    raise ValueError(f"unknown {name} {value!r}; allowed: {allowed}.")


def _resolve_layer(module, layer):
    """``(name, submodule)`` of ``module`` that ``layer`` designates."""
    named = dict(module.named_modules())
    if isinstance(layer, nn.Module):
        for name, candidate in named.items():
            if candidate is layer:
                return name, candidate
        raise ValueError(f"layer {type(layer).__name__} is not a submodule of the network.")
    if isinstance(layer, str):
        if layer in named and layer:
            return layer, named[layer]
        raise ValueError(f"unknown layer {layer!r}; allowed: {[n for n in named if n]}.")
    # validate_params takes a bool for an int; as an index it would pick a convolution silently.
    if isinstance(layer, bool):
        raise TypeError(f"layer must be an int, a str or a torch.nn.Module, got {layer!r}.")
    convolutions = [name for name, m in named.items() if isinstance(m, nn.Conv2d)]
    if not -len(convolutions) <= layer < len(convolutions):
        raise ValueError(
            f"layer={layer} but the network has {len(convolutions)} convolutions; allowed: "
            f"{-len(convolutions)}..{len(convolutions) - 1}."
        )
    name = convolutions[layer]
    return _activation_of(module, name)


def _activation_of(module, name):
    """The ``nn.ReLU`` right after convolution ``name`` in its ``nn.Sequential``, else itself."""
    parent_name, _, child = name.rpartition(".")
    parent = module.get_submodule(parent_name)
    if isinstance(parent, nn.Sequential):
        keys = list(parent._modules)
        position = keys.index(child)
        if position + 1 < len(keys) and isinstance(parent[position + 1], nn.ReLU):
            following = keys[position + 1]
            name = f"{parent_name}.{following}" if parent_name else following
            return name, parent[position + 1]
    return name, module.get_submodule(name)
