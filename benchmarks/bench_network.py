"""The ConvNet's speed on a CPU: images in torch's default layout against channels-last.

``ConvNet.forward`` hands its convolutions channels-last images, for which oneDNN has faster
kernels. This times, in one run and in turns (the machine's speed drifts), the shipped
network's prediction on random 64 x 64 images in batches of 32, and a training step
(forward, backward, Adam) of a new network, both ways, on 1 and on all torch threads.
Medians of ``--repeats`` runs, milliseconds per image.

    python benchmarks/bench_network.py [--images 256] [--repeats 5]
"""

import argparse
import statistics
import time

import torch

from skcrystal import _network, _saved_model


def layouts(module):
    """The module's convolutions on channels-last images, and on images as they come."""
    features = module.features
    return {
        "channels-last (ConvNet.forward)": module,
        "default layout": lambda x: module.classifier(features(x.contiguous())),
    }


def predicting(forward, images):
    with torch.no_grad():
        for batch in _network.batches(images, _network.BATCH_SIZE):
            forward(batch)


def training_step(forward, module, optimizer, images, labels):
    for batch, target in zip(
        _network.batches(images, _network.BATCH_SIZE), labels.split(_network.BATCH_SIZE)
    ):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(forward(batch), target).backward()
        optimizer.step()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(args.images, 3, 64, 64, generator=generator)
    labels = torch.randint(0, 7, (args.images,), generator=generator)
    shipped = _saved_model.read().module
    torch.manual_seed(0)
    fresh = _network.ConvNet()
    optimizer = torch.optim.Adam(fresh.parameters())
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, ms per image, medians of {args.repeats} runs\n")
    print("| step | threads | layout | ms per image |\n|---|---:|---|---:|")
    for n_threads in sorted({1, threads}):
        torch.set_num_threads(n_threads)
        steps = {}
        for name, forward in layouts(shipped).items():
            steps[("predict", name)] = lambda forward=forward: predicting(forward, images)
        for name, forward in layouts(fresh).items():
            steps[("train", name)] = lambda forward=forward: training_step(
                forward, fresh, optimizer, images, labels
            )
        times = {key: [] for key in steps}
        for step in steps.values():
            step()  # warm-up
        for _ in range(args.repeats):
            for key, step in steps.items():
                start = time.perf_counter()
                step()
                times[key].append(time.perf_counter() - start)
        for (kind, name), runs in times.items():
            ms = 1000 * statistics.median(runs) / args.images
            print(f"| {kind} | {n_threads} | {name} | {ms:.2f} |")


if __name__ == "__main__":
    main()
