"""The paper's ConvNet, and its outputs at prediction, with torch alone.

What :class:`~skcrystal.CrystalClassifier` (a skorch estimator) and the command line's
prediction share: the command line classifies with the network's module and these functions,
without importing scikit-learn or skorch (about 1.5 s of a cold start).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

#: Images per forward pass at prediction (``CrystalClassifier(batch_size=...)``'s default).
BATCH_SIZE = 32
#: Forward passes of Monte-Carlo dropout (``CrystalClassifier.predict_uncertainty``'s default).
N_PASSES = 30


class BatchNorm1d(nn.BatchNorm1d):
    """Batch normalisation that also takes a one-sample batch in training.

    A batch of one has no batch statistics (torch raises); it is normalised with the running
    statistics instead, and leaves them unchanged. That happens to the last batch of an epoch
    whenever the training-set size is one more than a multiple of the batch size. (skorch's
    ``iterator_train__drop_last=True`` avoids that batch too, but leaves out up to a batch of
    images every epoch, and all of a training set smaller than one batch.)

    Examples
    --------
    >>> import torch
    >>> norm = BatchNorm1d(2)  # a new module is in training mode
    >>> norm(torch.tensor([[1.0, 3.0]])).detach()
    tensor([[1.0000, 3.0000]])
    >>> norm.running_mean  # unchanged by the batch of one
    tensor([0., 0.])
    """

    def forward(self, x):
        """Normalise a batch; a batch of one in training with the running statistics.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, num_features)
            The batch.

        Returns
        -------
        torch.Tensor of shape (n_samples, num_features)
            The normalised batch.

        Examples
        --------
        >>> import torch
        >>> BatchNorm1d(2).forward(torch.tensor([[1.0, 3.0], [3.0, 1.0]])).detach()
        tensor([[-1.0000,  1.0000],
                [ 1.0000, -1.0000]])
        """
        if self.training and x.shape[0] == 1:
            return nn.functional.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)


class ConvNet(nn.Module):
    """The ConvNet of Ziletti et al. (2018), Table 2.

    Six 7 x 7 convolutions with "same" padding and ReLU (32, 32 filters, 2 x 2 max-pool,
    16, 16, max-pool, 8, 8), then a fully connected layer of 128 units with ReLU, dropout
    and batch normalisation, and a linear output of one logit per class (the softmax is the
    loss's and ``predict_proba``'s).

    Parameters
    ----------
    n_classes : int, default=7
        Outputs, one logit per class.
    n_channels : int, default=3
        Channels of the input images.
    n_pixels : int, default=64
        Side of the (square) input images.
    filters : tuple of int, default=(32, 32, 16, 16, 8, 8)
        Filters of the six convolutions; a max-pool follows the second and the fourth.
    kernel_size : int, default=7
        Side of the square kernels of the convolutions.
    hidden : int, default=128
        Units of the fully connected layer.
    dropout : float, default=0.25
        Probability that dropout zeroes a unit of the fully connected layer in training.

    Examples
    --------
    >>> net = ConvNet(n_classes=7, n_pixels=32)
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 7])
    """

    def __init__(
        self,
        n_classes=7,
        n_channels=3,
        n_pixels=64,
        filters=(32, 32, 16, 16, 8, 8),
        kernel_size=7,
        hidden=128,
        dropout=0.25,
    ):
        super().__init__()
        layers, channels, side = [], n_channels, n_pixels
        for index, width in enumerate(filters):
            # nn.ReLU modules (not F.relu): attribution methods hook them.
            layers += [nn.Conv2d(channels, width, kernel_size, padding="same"), nn.ReLU()]
            channels = width
            if index in (1, 3):
                layers.append(nn.MaxPool2d(2))
                side //= 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * side * side, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            BatchNorm1d(hidden),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x):
        """Logits of a batch of images.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_channels, n_pixels, n_pixels)
            The images.

        Returns
        -------
        torch.Tensor of shape (n_samples, n_classes)
            One logit per class.

        Examples
        --------
        >>> import torch
        >>> ConvNet(n_classes=3, n_pixels=16).forward(torch.zeros(2, 3, 16, 16)).shape
        torch.Size([2, 3])
        """
        # Channels-last images take oneDNN's faster convolutions: 1.6-1.9x on a CPU.
        return self.classifier(self.features(x.contiguous(memory_format=torch.channels_last)))


def module_params(params, n_classes, image_shape):
    """The module's parameters, completed with the classes and image size it is built for.

    Parameters
    ----------
    params : dict
        Parameters given for the module (``module__...``); they take precedence.
    n_classes : int
        Classes of the fitted classifier.
    image_shape : tuple of int
        ``(channels, n_pixels, n_pixels)`` of the images it was fitted on.

    Returns
    -------
    dict
        ``params`` with ``n_classes``, ``n_channels`` and ``n_pixels`` where they were not given.

    Examples
    --------
    >>> module_params({"hidden": 64}, 7, (3, 64, 64))
    {'hidden': 64, 'n_classes': 7, 'n_channels': 3, 'n_pixels': 64}
    """
    params = dict(params)
    params.setdefault("n_classes", n_classes)
    params.setdefault("n_channels", image_shape[0])
    params.setdefault("n_pixels", image_shape[1])
    return params


def batches(images, batch_size):
    """Images as float32 tensors, ``batch_size`` at a time, in order.

    Parameters
    ----------
    images : ndarray of shape (n_samples, channels, n_pixels, n_pixels)
        The images.
    batch_size : int
        Images per batch; the last batch may be smaller.

    Returns
    -------
    tuple of torch.Tensor

    Examples
    --------
    >>> [len(batch) for batch in batches(np.zeros((5, 3, 4, 4)), 2)]
    [2, 2, 1]
    """
    return torch.split(torch.as_tensor(images, dtype=torch.float32), batch_size)


def outputs(module, batches, device):
    """Penultimate features (the input of the last linear layer) and logits, in eval mode.

    Parameters
    ----------
    module : torch.nn.Module
        The network; its training mode is restored afterwards.
    batches : iterable of torch.Tensor
        The images, a batch at a time.
    device : str or torch.device
        Where the module is.

    Returns
    -------
    features : ndarray of shape (n_samples, n_features), float64
    logits : ndarray of shape (n_samples, n_classes), float64

    Examples
    --------
    >>> net = ConvNet(n_classes=3, n_pixels=16)
    >>> features, logits = outputs(net, [torch.zeros(2, 3, 16, 16)], "cpu")
    >>> features.shape, logits.shape
    ((2, 128), (2, 3))
    """
    last = [m for m in module.modules() if isinstance(m, nn.Linear)][-1]
    captured, logits = [], []
    hook = last.register_forward_pre_hook(
        lambda _, inputs: captured.append(inputs[0].detach().cpu())
    )
    training = module.training
    try:
        module.eval()
        with torch.no_grad():
            for batch in batches:
                logits.append(module(batch.to(device)).float().cpu())
    finally:
        hook.remove()
        module.train(training)
    return (
        torch.cat(captured).float().numpy().astype(np.float64),
        torch.cat(logits).numpy().astype(np.float64),
    )


def dropout_passes(module, batches, n_passes, random_state, device):
    """Class probabilities of ``n_passes`` forward passes with dropout active.

    Batch normalisation uses its running statistics (eval mode); the modes are restored
    afterwards, and torch's global generator is left as it was.

    Parameters
    ----------
    module : torch.nn.Module
        The network.
    batches : callable
        Returns an iterable of image batches; called once per pass.
    n_passes : int
        Stochastic forward passes.
    random_state : int or None
        Seeds the dropout masks.
    device : str or torch.device
        Where the module is.

    Returns
    -------
    ndarray of shape (n_passes, n_samples, n_classes)

    Examples
    --------
    >>> net = ConvNet(n_classes=3, n_pixels=16)
    >>> images = [torch.ones(2, 3, 16, 16)]
    >>> dropout_passes(net, lambda: images, 4, 0, "cpu").shape
    (4, 2, 3)
    """
    modes = {m: m.training for m in module.modules()}
    try:
        module.eval()
        for m in module.modules():
            if isinstance(m, nn.Dropout):
                m.train()
        cpu_only = torch.device(device).type == "cpu"
        with torch.random.fork_rng(devices=[] if cpu_only else None), torch.no_grad():
            if random_state is not None:
                torch.manual_seed(random_state)
            passes = [
                torch.cat(
                    [torch.softmax(module(batch.to(device)), dim=1).cpu() for batch in batches()]
                ).numpy()
                for _ in range(n_passes)
            ]
    finally:
        for m, training in modes.items():
            m.train(training)
    return np.stack(passes)


def uncertainty(passes):
    """Mean probabilities and their uncertainty over Monte-Carlo-dropout passes.

    Parameters
    ----------
    passes : ndarray of shape (n_passes, n_samples, n_classes)
        As :func:`dropout_passes` returns them.

    Returns
    -------
    dict
        ``proba`` (mean over the passes), ``std`` (standard deviation over the passes),
        ``predictive_entropy`` (entropy of the mean, nats) and ``mutual_information``
        (predictive entropy minus the mean entropy of the passes, nats).

    Examples
    --------
    >>> passes = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # two passes that disagree
    >>> round(float(uncertainty(passes)["mutual_information"][0]), 4)  # log 2
    0.6931
    """
    mean = passes.mean(axis=0)
    entropy = -(mean * np.log(np.clip(mean, 1e-12, None))).sum(axis=1)
    expected = -(passes * np.log(np.clip(passes, 1e-12, None))).sum(axis=2).mean(axis=0)
    return {
        "proba": mean,
        "std": passes.std(axis=0),
        "predictive_entropy": entropy,
        "mutual_information": entropy - expected,
    }
