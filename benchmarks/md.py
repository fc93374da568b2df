"""Real molecular dynamics: the shipped model beside OVITO's PTM and adaptive CNA, per temperature.

Reads the snapshots written by ``tools/make_md_data.py`` (fcc Al, bcc Fe, hcp Mg, diamond Si from
LAMMPS with EAM and Stillinger-Weber potentials, NPT at T/Tm = 0.05 ... 1.05 and a liquid at
1.5 Tm) and measures, per (system, T):

- **skcrystal** (``load_pretrained().predict([atoms])``, one frame per call): the fraction of frames
  given the right class, the errors (exceptions per frame, by type: a frame that raises is counted
  as wrong), seconds per frame (median; the model is loaded and warmed up before timing), and
  the peak memory of a frame: ``ru_maxrss`` of a fresh worker process after its frames, minus
  ``ru_maxrss`` after imports, model loading and a warm-up prediction (so: the largest extra
  resident memory that any one of the point's frames needed, MiB). Each point runs in its own
  worker with ``RLIMIT_AS`` (address space) capped at ``--memory-limit-gb`` (default 6 GiB) so a
  runaway frame raises ``MemoryError`` instead of taking the machine down, and with a per-frame
  time limit ``--timeout`` enforced from outside (the worker is killed, the frame counted as
  "Timeout", and a new worker goes on with the next frame; a worker that dies is counted the same
  way with its exit status). One thread (torch, BLAS), fingerprint ``n_jobs`` 1.
- **OVITO** (``pip install ovito``; the ``bench`` extra, never a runtime dependency): Polyhedral
  Template Matching with the sc, cubic-diamond and hexagonal-diamond templates enabled besides
  fcc, hcp and bcc, at RMSD cutoffs 0.1, 0.15 and 0 (no cutoff); adaptive common-neighbour
  analysis for the metals and, as CNA has no diamond, the Identify Diamond modifier for Si: the
  fraction of atoms given the right structure type (mean over the frames). The right type of
  ``hex/rh`` Mg is HCP, of ``diam`` Si cubic diamond (Identify Diamond: "cubic diamond" only; its
  first- and second-neighbour types mark atoms next to a defect, absent in a perfect crystal).

Liquids have no right class yet ("unknown" is future work): for them the table gives the fraction
of frames given each label by skcrystal, and the fraction of atoms labelled "other" by OVITO.
Points whose metadata say the crystal melted during its run are reported like liquids.

    python benchmarks/md.py DATA [--frames-per-point N] [--quick] [--systems Al,Fe]
                                 [--output benchmarks/results/md] [--timeout 300] [--no-ovito]

``DATA``: the folder of ``make_md_data.py`` (``md_data/``, or the shipped subset
``tests/data/md``: one frame per point). ``--quick``: 2 frames per point, PTM at RMSD cutoff 0.1
only. Writes ``OUTPUT.md`` (printed too) and ``OUTPUT.json`` (per frame: label or error, time,
memory; per point and column: OVITO's label shares) with the command line at the top, and the
commit of the skcrystal that was measured.

To measure another checkout of skcrystal (e.g. an older commit, for a before/after pair), put it
first on the path; the report names the folder and commit it imported::

    git worktree add --detach /tmp/skc_old COMMIT
    PYTHONPATH=/tmp/skc_old python benchmarks/md.py md_data --output benchmarks/results/md_old

Results in ``benchmarks/results``: ``md_before.md`` (skcrystal at 1d574c2, the code of the day
this benchmark was written) and ``md_before_521d48c.md`` (the commit before the canonical-frame
fixes of that day: LinAlgError and MemoryError frames). Runtime on one core: about 11 minutes
for the full set (52 points, 520 frames), most of it starting a worker per point.
"""

import argparse
import json
import os
import queue
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
RMSD_CUTOFFS = (0.1, 0.15, 0.0)
SYSTEM_ORDER = ("Al", "Fe", "Mg", "Si", "Si-sc", "Si-bct141")
#: The classes each OVITO method has a template for (others: "n/a" in the table).
PTM_CLASSES = {"fcc", "bcc", "hex/rh", "diam", "sc"}
CNA_CLASSES = {"fcc", "bcc", "hex/rh", "diam"}  # diam: Identify Diamond
STARTUP_TIMEOUT = 600


# ----------------------------------------------------------------------------------------------
# The data


def load_points(data, systems=None):
    """Metadata of every (system, T) point of a data folder, in system and T order."""
    data = Path(data)
    index = data / "index.json"
    if index.exists():
        names = [p["name"] for p in json.loads(index.read_text())["points"]]
        metas = [json.loads((data / f"{name}.json").read_text()) for name in names]
    else:
        metas = [json.loads(p.read_text()) for p in sorted(data.glob("*.json"))]
        metas = [m for m in metas if "class_label" in m]
    if systems:
        metas = [m for m in metas if m["system"] in systems]
    order = {name: rank for rank, name in enumerate(SYSTEM_ORDER)}
    metas.sort(
        key=lambda m: (
            order.get(m["system"], len(order)),
            m["system"],
            m["intended_phase"] == "liquid",
            m["T_over_Tm"],
        )
    )
    for meta in metas:
        meta["path"] = str(data / meta["files"]["extxyz"])
    return metas


def chosen_frames(n_frames, per_point):
    """``per_point`` frame indices spread evenly over ``n_frames`` (all if None)."""
    if per_point is None or per_point >= n_frames:
        return list(range(n_frames))
    return sorted({round(float(x)) for x in np.linspace(0, n_frames - 1, per_point)})


def is_crystal(meta):
    return meta["phase"] == "solid"


# ----------------------------------------------------------------------------------------------
# skcrystal, in worker processes


def worker(args):
    """Classify frames ``args.frames`` of ``args.worker``, one JSON line per frame."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    import re
    import resource

    import ase.io
    import torch
    from ase.build import bulk

    import skcrystal
    from skcrystal import load_pretrained

    torch.set_num_threads(args.threads)
    model = load_pretrained()
    model.predict([bulk("Cu", "fcc", a=3.6, cubic=True).repeat(4)])  # warm-up
    frames = ase.io.read(args.worker, index=":")
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    vm = int(re.search(r"VmSize:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) * 1024
    limit = max(int(args.memory_limit_gb * 2**30), vm + 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    print(
        json.dumps(
            {
                "ready": True,
                "baseline_rss_mib": baseline / 1024,
                "vm_mib": vm / 2**20,
                "rlimit_as_mib": limit / 2**20,
                "skcrystal": str(Path(skcrystal.__file__).parent),
            }
        ),
        flush=True,
    )
    for index in (int(i) for i in args.frames.split(",")):
        started = time.perf_counter()
        result = {"frame": index}
        try:
            images = model.named_steps["fingerprint"].transform([frames[index]])
            classifier = model.named_steps["classifier"]
            result["label"] = str(classifier.predict(images)[0])
            result["nearest"] = str(
                classifier.classes_[classifier.predict_proba(images)[0].argmax()]
            )
        except Exception as error:  # noqa: BLE001 -- counts every failure, MemoryError included
            result["error"] = type(error).__name__
            cause = error.__cause__
            if cause is not None and not type(cause).__name__.startswith("_"):
                # skcrystal wraps unexpected errors in a StructureError: name the original too
                result["error"] = f"{type(error).__name__}({type(cause).__name__})"
            result["message"] = (
                str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
            )
        result["seconds"] = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result["peak_extra_mib"] = max(0, peak - baseline) / 1024
        print(json.dumps(result), flush=True)


def _reader(stream, lines):
    for line in stream:
        lines.put(line)
    lines.put(None)


def skcrystal_point(meta, indices, args):
    """Run the frames of one point in (fresh) workers; a list of per-frame results."""
    results, todo, info = [], list(indices), {}
    while todo:
        cmd = [
            sys.executable,
            str(HERE),
            "--worker",
            meta["path"],
            "--frames",
            ",".join(map(str, todo)),
            "--threads",
            str(args.threads),
            "--memory-limit-gb",
            str(args.memory_limit_gb),
        ]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
        )
        lines = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
        errors = []
        threading.Thread(target=errors.extend, args=(proc.stderr,), daemon=True).start()
        timeout = STARTUP_TIMEOUT
        while todo:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                proc.kill()
                proc.wait()
                results.append(
                    {
                        "frame": todo.pop(0),
                        "error": "Timeout",
                        "seconds": float(timeout),
                        "message": f"killed after {timeout} s",
                    }
                )
                break
            if line is None:  # the worker died
                code = proc.wait()
                if "ready" not in info:
                    raise RuntimeError(
                        f"worker failed to start (exit {code}):\n{''.join(errors)[-3000:]}"
                    )
                last = ("".join(errors).strip().splitlines() or [""])[-1][:300]
                results.append(
                    {"frame": todo.pop(0), "error": f"WorkerDied(exit {code})", "message": last}
                )
                break
            record = json.loads(line)
            if record.get("ready"):
                info.update(record)
                timeout = args.timeout
                continue
            todo.remove(record["frame"])
            results.append(record)
        else:
            proc.wait()
    return results, info


def summarise_skcrystal(meta, results):
    labels = [r.get("label") for r in results]
    errors = Counter(r["error"] for r in results if "error" in r)
    times = [r["seconds"] for r in results if "label" in r]
    summary = {
        "frames": len(results),
        "labels": dict(Counter(label for label in labels if label is not None)),
        "nearest_labels": dict(Counter(r["nearest"] for r in results if "nearest" in r)),
        "errors": dict(errors),
        "n_errors": sum(errors.values()),
        "seconds_per_frame_median": statistics.median(times) if times else None,
        "peak_extra_mib": max((r.get("peak_extra_mib", 0.0) for r in results), default=None),
    }
    summary["fraction_unknown"] = sum(label == "unknown" for label in labels) / len(results)
    if is_crystal(meta):
        summary["fraction_correct"] = sum(label == meta["class_label"] for label in labels) / len(
            results
        )
        nearest = [r.get("nearest", r.get("label")) for r in results]
        summary["fraction_nearest_correct"] = sum(n == meta["class_label"] for n in nearest) / len(
            results
        )
    return summary


# ----------------------------------------------------------------------------------------------
# OVITO


def ovito_modifiers(meta, rmsd_cutoffs):
    """``{column: (modifier, right structure type or None)}`` for one point; None where the
    method has no template for the point's class."""
    from ovito.modifiers import CommonNeighborAnalysisModifier as CNA
    from ovito.modifiers import IdentifyDiamondModifier as Diamond
    from ovito.modifiers import PolyhedralTemplateMatchingModifier as PTM

    label = meta["class_label"]
    right_ptm = {
        "fcc": PTM.Type.FCC,
        "bcc": PTM.Type.BCC,
        "hex/rh": PTM.Type.HCP,
        "diam": PTM.Type.CUBIC_DIAMOND,
        "sc": PTM.Type.SC,
    }
    columns = {}
    for cutoff in rmsd_cutoffs:
        ptm = PTM(rmsd_cutoff=cutoff)
        for kind in (PTM.Type.SC, PTM.Type.CUBIC_DIAMOND, PTM.Type.HEX_DIAMOND):
            ptm.structures[kind].enabled = True
        right = int(right_ptm[label]) if label in right_ptm else None
        columns[f"PTM {cutoff:g}" if cutoff else "PTM off"] = (ptm, right)
    if label == "diam":
        columns["a-CNA / IdDiamond"] = (Diamond(), int(Diamond.Type.CUBIC_DIAMOND))
    else:
        right_cna = {"fcc": CNA.Type.FCC, "bcc": CNA.Type.BCC, "hex/rh": CNA.Type.HCP}
        right = int(right_cna[label]) if label in right_cna else None
        columns["a-CNA / IdDiamond"] = (CNA(mode=CNA.Mode.AdaptiveCutoff), right)
    return columns


def ovito_point(meta, frames, rmsd_cutoffs):
    from ovito.io.ase import ase_to_ovito

    out = {}
    for column, (modifier, right) in ovito_modifiers(meta, rmsd_cutoffs).items():
        fractions, others, seconds, names = [], [], [], Counter()
        for atoms in frames:
            data = ase_to_ovito(atoms)
            started = time.perf_counter()
            data.apply(modifier)
            seconds.append(time.perf_counter() - started)
            types = np.asarray(data.particles["Structure Type"])
            fractions.append(None if right is None else float(np.mean(types == right)))
            others.append(float(np.mean(types == 0)))
            lookup = {t.id: t.name for t in data.particles["Structure Type"].types}
            values, counts = np.unique(types, return_counts=True)
            names.update({lookup.get(int(k), str(k)): int(v) for k, v in zip(values, counts)})
        total = sum(names.values())
        templated = right is not None
        out[column] = {
            "right_type": right,
            "fraction_right": float(np.mean(fractions)) if templated else None,
            "fraction_right_min": float(np.min(fractions)) if templated else None,
            "fraction_other": float(np.mean(others)),
            "types": {k: round(v / total, 4) for k, v in names.most_common()},
            "seconds_per_frame_median": statistics.median(seconds),
        }
    return out


# ----------------------------------------------------------------------------------------------
# Report


def ovito_cell(point, column):
    if not point.get("ovito"):
        return "-"
    result = point["ovito"][column]
    if result["fraction_right"] is None:  # no template: what it said instead
        top = next(iter(result["types"].items()), ("-", 0))
        return f"n/a ({top[0]} {100 * top[1]:.0f})"
    return percent(result["fraction_right"])


def percent(x):
    return "-" if x is None else f"{100 * x:.0f}"


def label_mix(labels, n):
    return ", ".join(
        f"{k} {100 * v / n:.0f}%" for k, v in sorted(labels.items(), key=lambda kv: -kv[1])
    )


def markdown(report):
    columns = report["ovito_columns"]
    about = (
        f"skcrystal {report['skcrystal_version']} (git {report['git']}, "
        f"`{report['skcrystal_path']}`), OVITO {report['ovito_version']}, "
        f"{report['threads']} thread(s), frames per point: {report['frames_per_point'] or 'all'}, "
        f"data: `{report['data']}`, {report['seconds']:.0f} s in all."
    )
    legend = (
        "Crystals: % of frames given the right class (skcrystal, the nearest class, as if the reject "
        "option were off), % of frames it calls unknown (its reject option), and % of atoms given "
        "the right structure type (OVITO, mean over frames). Errors: frames that raised, timed out or "
        "killed the worker (counted wrong). "
        "Peak MiB: extra resident memory of the worst frame (ru_maxrss after minus before, "
        "fresh worker per point). Liquids (and melted points): skcrystal's labels, % of frames; "
        "OVITO: % of atoms 'other'. n/a: the method has no template for the class (PTM: bct141; "
        "a-CNA: sc, bct141); in brackets its most frequent label, % of atoms."
    )
    lines = [f"`{report['command']}`", "", about, "", legend, ""]
    head = [
        "system",
        "class",
        "T/Tm",
        "T (K)",
        "N",
        "frames",
        "skcrystal % right",
        "% unknown",
        "errors",
        "s/frame",
        "peak MiB",
    ] + columns
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for point in report["points"]:
        sk = point["skcrystal"]
        errors = ", ".join(f"{k} {v}" for k, v in sk["errors"].items()) or "0"
        unknown = percent(sk.get("fraction_unknown"))
        if point["phase"] == "solid":
            right = percent(sk.get("fraction_nearest_correct", sk["fraction_correct"]))
            wrong = {
                k: v
                for k, v in sk.get("nearest_labels", sk["labels"]).items()
                if k != point["class_label"]
            }
            if wrong:
                right += f" ({label_mix(sk.get('nearest_labels', sk['labels']), sk['frames'])})"
            ovito = [ovito_cell(point, c) for c in columns]
        else:
            right = f"{point['phase']}: " + (label_mix(sk["labels"], sk["frames"]) or "no label")
            ovito = [
                f"other {percent(point['ovito'][c]['fraction_other'])}"
                if point.get("ovito")
                else "-"
                for c in columns
            ]
        seconds = (
            "-"
            if sk["seconds_per_frame_median"] is None
            else f"{sk['seconds_per_frame_median']:.2f}"
        )
        peak = "-" if sk["peak_extra_mib"] is None else f"{sk['peak_extra_mib']:.0f}"
        row = [
            point["system"],
            point["class_label"],
            f"{point['T_over_Tm']:g}",
            f"{point['T_K']:.0f}",
            str(point["n_atoms"]),
            str(sk["frames"]),
            right,
            unknown,
            errors,
            seconds,
            peak,
        ] + ovito
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", totals(report)]
    return "\n".join(lines) + "\n"


def totals(report):
    crystals = [p for p in report["points"] if p["phase"] == "solid"]
    frames = sum(p["skcrystal"]["frames"] for p in crystals)
    right = sum(
        p["skcrystal"].get("fraction_nearest_correct", p["skcrystal"]["fraction_correct"])
        * p["skcrystal"]["frames"]
        for p in crystals
    )
    rejected = sum(
        p["skcrystal"].get("fraction_unknown", 0) * p["skcrystal"]["frames"] for p in crystals
    )
    liquids = [p for p in report["points"] if p["phase"] == "liquid"]
    liquid_frames = sum(p["skcrystal"]["frames"] for p in liquids)
    liquid_unknown = sum(
        p["skcrystal"].get("fraction_unknown", 0) * p["skcrystal"]["frames"] for p in liquids
    )
    errors = sum(p["skcrystal"]["n_errors"] for p in report["points"])
    all_frames = sum(p["skcrystal"]["frames"] for p in report["points"])
    share = 100 * right / max(frames, 1)
    text = (
        f"Crystal frames: skcrystal's nearest class right on {right:.0f} of {frames} ({share:.1f} %), "
        f"called unknown: {rejected:.0f}; liquid frames called unknown: {liquid_unknown:.0f} of "
        f"{liquid_frames}; frames that failed (raised, timed out or killed): {errors} of {all_frames} "
        "(liquids included)."
    )
    for column in report["ovito_columns"]:
        values = [p["ovito"][column]["fraction_right"] for p in crystals if p.get("ovito")]
        values = [v for v in values if v is not None]
        if values:
            text += (
                f" {column}: {100 * np.mean(values):.1f} % of crystal atoms right (mean over the "
                f"{len(values)} points it has a template for)."
            )
    return text


def git_describe(package):
    """Commit of the checkout that ``package`` (the imported skcrystal folder) lives in, with
    "+dirty" when its skcrystal/ has uncommitted changes."""
    folder = Path(package).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "skcrystal"],
            check=False,
            cwd=folder,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", help="folder written by tools/make_md_data.py")
    parser.add_argument("--frames-per-point", type=int, default=None, help="default: all frames")
    parser.add_argument("--quick", action="store_true", help="2 frames per point, PTM at 0.1 only")
    parser.add_argument("--systems", default=None, help="comma-separated, e.g. Al,Fe")
    parser.add_argument(
        "--output",
        default=str(ROOT / "benchmarks" / "results" / "md"),
        help="writes OUTPUT.md and OUTPUT.json",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per frame")
    parser.add_argument("--memory-limit-gb", type=float, default=6.0, help="RLIMIT_AS of a worker")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-ovito", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--frames", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is None and args.data is None:
        parser.error("the data folder is required")
    if args.quick and args.frames_per_point is None:
        args.frames_per_point = 2
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker is not None:
        return worker(args)
    import ase.io

    import skcrystal

    command = "python benchmarks/md.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    systems = args.systems.split(",") if args.systems else None
    metas = load_points(args.data, systems)
    if not metas:
        sys.exit(f"no points in {args.data}")
    ovito_version = None
    if not args.no_ovito:
        try:
            import ovito

            ovito_version = ovito.version_string
        except ImportError:
            print(
                "OVITO not installed (pip install ovito, or the 'bench' extra): skipping it",
                file=sys.stderr,
            )
    cutoffs = (0.1,) if args.quick else RMSD_CUTOFFS
    report = {
        "command": command,
        "data": str(args.data),
        "skcrystal_version": skcrystal.__version__,
        "git": git_describe(Path(skcrystal.__file__).parent),
        "skcrystal_path": str(Path(skcrystal.__file__).parent),
        "ovito_version": ovito_version,
        "threads": args.threads,
        "frames_per_point": args.frames_per_point,
        "timeout_s": args.timeout,
        "memory_limit_gb": args.memory_limit_gb,
        "memory_measure": "ru_maxrss of a fresh worker per point after its frames minus after "
        "imports + model loading + warm-up (MiB)",
        "ovito_columns": []
        if ovito_version is None
        else [f"PTM {c:g}" if c else "PTM off" for c in cutoffs] + ["a-CNA / IdDiamond"],
        "points": [],
    }
    for meta in metas:
        frames = ase.io.read(meta["path"], index=":")
        indices = chosen_frames(len(frames), args.frames_per_point)
        t0 = time.perf_counter()
        results, info = skcrystal_point(meta, indices, args)
        point = {
            k: meta[k]
            for k in (
                "name",
                "system",
                "class_label",
                "phase",
                "T_over_Tm",
                "T_K",
                "Tm_K",
                "n_atoms",
                "potential",
            )
        }
        point["frame_indices"] = indices
        point["skcrystal"] = summarise_skcrystal(meta, results) | {
            "worker": info,
            "per_frame": results,
        }
        if ovito_version is not None:
            point["ovito"] = ovito_point(meta, [frames[i] for i in indices], cutoffs)
        report["points"].append(point)
        sk = point["skcrystal"]
        print(
            f"{meta['name']:28s} {sk['labels']} errors {sk['errors']} "
            f"{time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    report["seconds"] = time.perf_counter() - started
    table = markdown(report)
    print(table)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".md").write_text(table)
    output.with_suffix(".json").write_text(json.dumps(report, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
