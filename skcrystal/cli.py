"""Command line: ``skcrystal fingerprint PATH...``.

Heavy modules are imported inside the commands, so ``skcrystal --help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser():
    """The argument parser of the ``skcrystal`` command."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="skcrystal",
        description="Crystal-structure classification from two-dimensional diffraction fingerprints.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    fingerprint = commands.add_parser(
        "fingerprint",
        help="write the diffraction fingerprint of each structure file as a PNG image",
        description=(
            "Write the diffraction fingerprint of each structure file (CIF, POSCAR, extxyz, "
            "...) as an RGB PNG image (channels: rotations about x, y, z) and print a one-line "
            "summary per file. Files that cannot be read are reported and skipped; the exit "
            "status is 1 if any file failed."
        ),
    )
    fingerprint.add_argument("paths", nargs="+", metavar="PATH", help="structure files")
    fingerprint.add_argument(
        "-o", "--output-dir", default="fingerprints", help="folder for the PNG images (default: %(default)s)"
    )
    fingerprint.add_argument("--n-pixels", type=int, default=64, help="detector pixels per side (default: 64)")
    train = commands.add_parser(
        "train",
        help="train the paper's network on generated crystals and save it (the shipped model's recipe)",
    )
    train.add_argument("--output", required=True, help="folder for weights.pt and model.json")
    train.add_argument("--n-per-class", type=int, default=1500, help="training crystals per class (default: 1500)")
    train.add_argument("--epochs", type=int, default=5, help="training epochs (default: 5)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument("--jobs", type=int, default=None, help="processes for data and fingerprints")
    return parser


def main(argv=None):
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    return {"fingerprint": _fingerprint, "train": _train}[args.command](args)


def _train(args):
    import json

    from .pretrained import save_pretrained, train_pretrained

    pipeline, info = train_pretrained(
        args.n_per_class, max_epochs=args.epochs, random_state=args.seed, n_jobs=args.jobs
    )
    save_pretrained(pipeline, args.output, info)
    print(json.dumps(info))
    return 0


def _fingerprint(args):
    import numpy as np
    from pymatgen.core.periodic_table import Element

    from ._png import write_png
    from .fingerprint import DiffractionFingerprint
    from .io import StructureError

    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    fp = DiffractionFingerprint(n_pixels=args.n_pixels)
    failed = 0
    for index, path in enumerate(args.paths):
        try:
            [cluster] = fp.clusters([path])
        except StructureError as error:
            failed += 1
            print(f"{path}: error: {error.reason}", file=sys.stdout)
            continue
        image = fp.render([cluster])[0]
        target = output / f"{index:03d}_{Path(path).stem}.png"
        write_png(target, np.transpose(image, (1, 2, 0)))
        species = ",".join(Element.from_Z(int(z)).symbol for z in np.unique(cluster.numbers))
        print(
            f"{path}: cluster of {len(cluster.numbers)} {species} atoms, "
            f"nearest-neighbour distance {cluster.scale:.3f} A -> {target}"
        )
    return 1 if failed else 0
