"""Fingerprint speed: skcrystal's kernel against a straightforward numpy sum, in one run.

For a 256-atom cluster of fcc copper, both compute the same thing: the intensities of six
orientations x n_pixels**2 pixels, I = Omega |sum_k f_k(|H|) exp(-2 pi i H . r_k)|^2, from the
same cluster, geometry and form factors. The numpy reference is the textbook vectorised sum
in complex128 (one ``np.exp`` over the pixels x atoms matrix per orientation). skcrystal's
kernel runs in float32 on torch, eager and compiled (``torch.compile``), on batches of
crystals. Also timed: the whole ``transform`` with the default settings (reading, checking,
canonical cluster, kernel) from pymatgen structures in memory. Medians of repeated runs, the steps timed in turns;
ratios are of medians.

A pristine fcc cluster is centrosymmetric: the kernel sums its inversion pairs as
``2 cos(q . r)`` and skips their sines. A crystal under thermal motion (Lindemann ratio 0.05,
correlated displacements) has no such pairs; it is timed too, as the "hot" rows and columns.

Then, for batch sizes 1, 8, 64, 512 and 4096 (``--cold``), each in a fresh process with the
default settings (``DiffractionFingerprint()``): the first ``transform`` of the process, on
that many 256-atom supercells given as pymatgen structures (the pristine one repeated, or as
many distinct hot ones), any compilation or warm-up included; the numpy reference of the same
run beside it.

    python benchmarks/bench_fingerprint.py [--repeats 7] [--batch 32] [--device cpu]
    python benchmarks/bench_fingerprint.py --cold 1,8,64,512,4096 [--cold-repeats 3] [--skip-warm]
"""

import argparse
import json
import platform
import subprocess
import sys
import time

import numpy as np
import torch
from pymatgen.core import Lattice, Structure

from skcrystal import DiffractionFingerprint, _diffraction
from skcrystal.defects import ThermalDisplacements


def numpy_reference(fp, cluster):
    """The same image by a straightforward numpy sum (complex128)."""
    h, omega = _diffraction.detector(
        fp.wavelength, fp.detector_distance, fp.pixel_size, fp.n_pixels
    )
    pixels = h.reshape(-1, 3)
    s = np.linalg.norm(pixels, axis=1) / 2
    kinds, inverse = np.unique(cluster.numbers, return_inverse=True)
    f = _diffraction.form_factors(kinds + fp.atomic_number_shift, s)[inverse]  # (atoms, pixels)
    patterns = []
    for rotation in _diffraction.rotations(fp.rotation_angle):
        positions = cluster.positions @ rotation.T
        amplitude = (f * np.exp(-2j * np.pi * positions @ pixels.T)).sum(axis=0)
        patterns.append(omega.ravel() * np.abs(amplitude) ** 2)
    return np.array(patterns).reshape(6, fp.n_pixels, fp.n_pixels)


def interleaved_medians(steps, repeats):
    """Median seconds of each step, timed in turns (one call of each per round).

    Machine speed on a shared host drifts over minutes; timing the steps in turns keeps the
    ratios between them fair.
    """
    for function in steps.values():
        function()  # warm-up (and compilation, for the compiled kernel)
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, function in steps.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) for name, values in times.items()}


def copper_supercell():
    """256 atoms of fcc copper."""
    copper = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.615), ["Cu"], [[0, 0, 0]])
    return copper * (4, 4, 4)


def hot_coppers(n):
    """``n`` boxes of 256 atoms of fcc copper under correlated thermal displacements.

    Lindemann ratio 0.05, each box its own displacements.
    """
    copper = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.615), ["Cu"], [[0, 0, 0]])
    return ThermalDisplacements(lindemann=0.05, random_state=0).transform([copper] * n)


def cold_child(n_crystals, kind):
    """In a fresh process: the first ``transform`` of ``n_crystals`` supercells, in seconds."""
    if kind == "hot":
        structures = hot_coppers(n_crystals)
    else:
        structures = [copper_supercell()] * n_crystals
    start = time.perf_counter()
    images = DiffractionFingerprint().transform(structures)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "shape": list(images.shape)}))


def cold_table(batches, repeats):
    """Fresh processes per batch size, ``repeats`` rounds, the numpy reference timed in between.

    On a shared host the machine's speed drifts by tens of percent over minutes: each round
    runs every batch size once, and the medians over the rounds are compared.
    """
    fp = DiffractionFingerprint(compile=False)
    [cluster] = fp.clusters([copper_supercell()])
    reference = []
    seconds = {(n, kind): [] for n in batches for kind in ("pristine", "hot")}
    for _ in range(repeats):
        for (n, kind), times in seconds.items():
            reference.append(
                interleaved_medians({"numpy": lambda: numpy_reference(fp, cluster)}, 1)["numpy"]
            )
            output = subprocess.run(
                [sys.executable, __file__, "--child", str(n), "--kind", kind],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            times.append(json.loads(output.splitlines()[-1])["seconds"] / n)
    t_numpy = float(np.median(reference))
    print(
        f"# Fresh process per batch, DiffractionFingerprint() defaults, first transform of the "
        f"process (compilation or warm-up included), medians of {repeats} rounds; numpy "
        f"reference {t_numpy * 1e3:.1f} ms (median of {len(reference)} runs between them)"
    )
    print(
        "| crystals | pristine: ms per crystal | numpy / this | hot: ms per crystal | numpy / this |"
    )
    print("|---:|---:|---:|---:|---:|")
    for n in batches:
        pristine, hot = (float(np.median(seconds[n, kind])) for kind in ("pristine", "hot"))
        print(
            f"| {n} | {pristine * 1e3:.2f} | {t_numpy / pristine:.1f}x "
            f"| {hot * 1e3:.2f} | {t_numpy / hot:.1f}x |"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=32, help="crystals per timed batch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cold", help="comma-separated batch sizes, each in a fresh process")
    parser.add_argument("--cold-repeats", type=int, default=3, help="rounds of the --cold table")
    parser.add_argument("--skip-warm", action="store_true", help="only the --cold table")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="pristine", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return cold_child(args.child, args.kind)
    if not args.skip_warm:
        warm_table(args)
    if args.cold:
        cold_table([int(n) for n in args.cold.split(",")], args.cold_repeats)


def warm_table(args):
    """Steps timed in turns in this process, after a warm-up."""
    supercell = copper_supercell()
    eager = DiffractionFingerprint(compile=False, device=args.device, batch_size=args.batch)
    compiled = DiffractionFingerprint(compile=True, device=args.device, batch_size=args.batch)
    default = {
        jobs: DiffractionFingerprint(device=args.device, batch_size=args.batch, n_jobs=jobs)
        for jobs in (1, 2)
    }
    [cluster] = eager.clusters([supercell])
    clusters = [cluster] * args.batch
    hot_clusters = eager.clusters(hot_coppers(args.batch))
    structures = [supercell] * args.batch

    # Same sum, same numbers: check before timing.
    reference = numpy_reference(eager, cluster)
    ours = eager.patterns([cluster])[0]
    error = np.abs(ours - reference).max() / reference.max()

    # The lattice standardisation is cached per lattice shape: also time batches of shapes
    # never seen before (250-atom body-centred tetragonal cells, each c/a new), built beforehand.
    def tetragonal_batch(shift):
        return [
            Structure(
                Lattice.tetragonal(3.0, 3.0 * (1.2 + 0.01 * i + shift)),
                ["In"] * 2,
                [[0, 0, 0], [0.5] * 3],
            )
            * (5, 5, 5)
            for i in range(args.batch)
        ]

    new_shapes = iter([tetragonal_batch(k * 1e-4) for k in range(2 * args.repeats + 2)])
    steps = {
        "numpy reference, complex128": lambda: numpy_reference(eager, cluster),
        "skcrystal kernel, eager float32": lambda: eager.render(clusters),
        "skcrystal kernel, eager float32, hot clusters": lambda: eager.render(hot_clusters),
    }
    if args.device == "cpu":
        steps["skcrystal kernel, compiled float32"] = lambda: compiled.render(clusters)
    steps["canonical cluster (read, check, orient, carve)"] = lambda: eager.clusters(structures)
    steps["canonical cluster, every lattice shape new"] = lambda: eager.clusters(next(new_shapes))
    steps["`transform` end to end, n_jobs=1"] = lambda: default[1].transform(structures)
    steps["`transform` end to end, n_jobs=2"] = lambda: default[2].transform(structures)
    steps["`transform` end to end, n_jobs=1, every lattice shape new"] = lambda: default[
        1
    ].transform(next(new_shapes))
    seconds = interleaved_medians(steps, args.repeats)
    t_numpy = seconds.pop("numpy reference, complex128")
    rows = [("numpy reference, complex128", t_numpy)] + [
        (name, t / args.batch) for name, t in seconds.items()
    ]

    print(
        f"# Fingerprint of a {len(cluster.numbers)}-atom fcc cluster, {eager.n_pixels}x{eager.n_pixels} pixels, 6 orientations"
    )
    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}"
    )
    print(
        f"# max |kernel - numpy| / max = {error:.1e}; medians of {args.repeats} interleaved runs, batches of {args.batch}"
    )
    print("| step | ms per crystal | numpy reference / this |")
    print("|---|---:|---:|")
    for name, t in rows:
        print(f"| {name} | {t * 1e3:.2f} | {t_numpy / t:.1f}x |")


if __name__ == "__main__":
    main()
