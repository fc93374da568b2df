"""File-to-label time per crystal with the shipped model, in batches.

Writes ``--n-files`` generated crystals (random cells and rotations, half CIF, half POSCAR)
to a temporary folder, then times, over ``--repeats`` runs (medians printed):

- ``load_pretrained().predict(paths)`` end to end, with the fingerprint's ``n_jobs`` 1 and 2;
- its stages: reading + canonical clusters, rendering the images (diffraction kernel),
  the network;
- the command line, ``skcrystal classify --jobs 2 --format csv`` on all files (in a fresh
  process: includes start-up and model loading);
- the cold start of ``skcrystal classify --format csv`` (default settings, fresh processes,
  wall time) on one CIF and on 100 files, beside ``python -c "import torch"``, the floor of
  any run that classifies (the machine's speed drifts; this row says how fast it was).

    python benchmarks/timings.py [--n-files 1000] [--repeats 3]

The training time of the shipped model is printed by the recipe itself
(``skcrystal train ...``, see the README).
"""

import argparse
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from skcrystal import load_pretrained
from skcrystal.datasets import make_prototype_dataset


def write_files(n_files, folder, random_state=7):
    n_per_class = -(-n_files // 7)
    structures, _ = make_prototype_dataset(n_per_class, random_state=random_state, n_jobs=2)
    paths = []
    for index, structure in enumerate(structures[:n_files]):
        suffix, fmt = (".cif", "cif") if index % 2 else (".vasp", "poscar")
        path = Path(folder) / f"{index:05d}{suffix}"
        structure.to(filename=str(path), fmt=fmt)
        paths.append(str(path))
    return paths


def timed(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-files", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = load_pretrained()
    fingerprint = model.named_steps["fingerprint"]
    classifier = model.named_steps["classifier"]
    with tempfile.TemporaryDirectory() as folder:
        paths = write_files(args.n_files, folder)
        n = len(paths)
        rows = []
        for jobs in (1, 2):
            fingerprint.set_params(n_jobs=jobs)
            clusters = fingerprint.clusters(paths)
            images = fingerprint.render(clusters)
            rows.append(
                (
                    f"read + canonical clusters, n_jobs={jobs}",
                    timed(lambda: fingerprint.clusters(paths), args.repeats),
                )
            )
            if jobs == 1:
                render = functools.partial(fingerprint.render, clusters)
                network = functools.partial(classifier.predict_proba, images)
                rows.append(("render images (diffraction kernel)", timed(render, args.repeats)))
                rows.append(("network (predict_proba)", timed(network, args.repeats)))
            rows.append(
                (
                    f"**file to label, n_jobs={jobs}**",
                    timed(lambda: model.predict(paths), args.repeats),
                )
            )
        command = [sys.executable, "-m", "skcrystal", "classify", "--format", "csv"]
        parallel = timed(
            lambda: subprocess.run(
                [*command, "--jobs", "2", *paths], check=True, capture_output=True
            ),
            args.repeats,
        )
        rows.append(("`skcrystal classify --jobs 2` (fresh process)", parallel))
        cif = next(path for path in paths if path.endswith(".cif"))
        cold = {
            '`python -c "import torch"` (for comparison)': timed(
                lambda: subprocess.run([sys.executable, "-c", "import torch"], check=True),
                args.repeats,
            ),
            "one CIF": timed(
                lambda: subprocess.run([*command, cif], check=True, capture_output=True),
                args.repeats,
            ),
            "100 files": timed(
                lambda: subprocess.run([*command, *paths[:100]], check=True, capture_output=True),
                args.repeats,
            ),
        }
    print(f"{n} files, median of {args.repeats} runs (ms per crystal)\n")
    print("| stage | ms per crystal |\n|---|---:|")
    for name, seconds in rows:
        print(f"| {name} | {1000 * seconds / n:.2f} |")
    print(
        f"\nCold start: `skcrystal classify --format csv`, fresh process, median of {args.repeats}\n"
    )
    print("| input | seconds (wall) |\n|---|---:|")
    for name, seconds in cold.items():
        print(f"| {name} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
