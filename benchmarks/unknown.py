"""Unknown structures: the novelty scores compared, and the reject option of a model measured.

In-class test sets (never seen in training; the training crystals are made with seed 0):

* crystals of ``make_prototype_dataset`` (``random_state`` 2018) at the defect levels of Table 1
  (pristine; vacancies; Gaussian displacements) and with correlated thermal phonons;
* molecular-dynamics frames of ``tools/make_md_data.py`` (``--md``), solid points only.

Out-of-class sets, in two halves with nothing in common. The *validation* half chooses the
score; the *test* half, with other prototype families, other seeds and the MD liquids, is
reported:

* crystals of the AFLOW prototypes of other space groups (``skcrystal.outliers``), split by
  family (space group);
* random dense packings (packing fractions 0.5 to 0.64) and Kob-Andersen glasses;
* amorphised crystals: Gaussian displacements at Lindemann ratios 0.3 to 0.5;
* liquids (MD frames at 1.5 Tm, and superheated points that melted): test only.

The prototypes of a class's space group that are not a class prototype (rock salt, CsCl,
fluorite, ...) are reported but not gated.

Each score (``CrystalClassifier(novelty=...)`` and the Monte-Carlo-dropout mutual information)
is fitted on the penultimate features of a fresh novelty sample of the recipe
(``skcrystal.pretrained.novelty_sample``, ``--n-fit`` crystals per class, ``random_state`` 7:
the recipe's defects, and Debye phonons at Lindemann ratios 0.1 to 0.15), its threshold cross-fitted over the whole
sample (``fit_novelty(..., cv=NOVELTY_FOLDS)``) at the model's ``acceptance``. The model's own
fitted score (the recipe's novelty sample, ``random_state`` 1) is the row "shipped".

    python benchmarks/unknown.py [--model DIR] [--md md_data] [--n-per-class 20] [--json F] [--plot F.png]
"""

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.metrics import roc_auc_score, roc_curve

from skcrystal import load_pretrained, read_frames
from skcrystal._novelty import SCORES
from skcrystal.datasets import make_prototype_dataset
from skcrystal.defects import Displacements, ThermalDisplacements, Vacancies
from skcrystal.outliers import (
    class_group_prototypes,
    other_prototypes,
    quenched_glass,
    random_packing,
)
from skcrystal.pretrained import NOVELTY_FOLDS, novelty_sample

VACANCIES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
SIGMAS = (0.02, 0.04, 0.06, 0.08, 0.1)
LINDEMANN = (0.05, 0.1, 0.15)
AMORPHOUS = (0.3, 0.4, 0.5)
PACKINGS = (0.5, 0.55, 0.6, 0.64)
#: In-class rows gated by issue #12 (false rejects at most 1 %), and MD up to this T / Tm (2 %).
GATED = (
    {"pristine"}
    | {f"vac. {v:.0%}" for v in VACANCIES if v <= 0.4}
    | {f"sigma {s:g} A" for s in SIGMAS if s <= 0.06}
)
GATED_MD = 0.9
MC_PASSES = 30
#: Seed of the novelty sample the scores are fitted on here (the shipped model's is 1).
FIT_SEED = 7


def in_class(n_per_class, seed):
    """``{row: (structures, labels)}`` of the defective test crystals."""
    structures, labels = make_prototype_dataset(n_per_class, random_state=seed)
    rows = {"pristine": structures}
    rows |= {
        f"vac. {v:.0%}": Vacancies(v, random_state=seed).transform(structures) for v in VACANCIES
    }
    rows |= {
        f"sigma {s:g} A": Displacements(s, random_state=seed).transform(structures) for s in SIGMAS
    }
    rows |= {
        f"thermal L={r:g}": ThermalDisplacements(lindemann=r, random_state=seed).transform(
            structures
        )
        for r in LINDEMANN
    }
    return {row: (items, labels) for row, items in rows.items()}


def md_frames(folder):
    """``(solid, liquid)``: ``{point name: (frames, label, T/Tm)}`` of an MD data folder.

    Points whose phase is "mixed" (metastable Si-sc and Si-bct141 at 0.9 Tm, transforming
    during the run) are neither.
    """
    solid, liquid = {}, {}
    for path in sorted(Path(folder).glob("*.json")):
        meta = json.loads(path.read_text())
        if "class_label" not in meta:
            continue
        if meta["phase"] not in ("solid", "liquid"):  # a metastable crystal caught transforming
            continue
        frames = list(read_frames(Path(folder) / meta["files"]["extxyz"]))
        target = solid if meta["phase"] == "solid" else liquid
        target[meta["name"]] = (frames, meta["class_label"], meta["T_over_Tm"])
    return solid, liquid


def out_of_class(n, seed, md_liquid):
    """``{half: {group: structures}}``; the validation and test halves share no family or seed."""
    crystals, _ = make_prototype_dataset(max(1, n // 7), random_state=seed + 1)
    halves = {}
    for half, offset in (("validation", 0), ("test", 1000)):
        groups = {"other prototypes": other_prototypes(half)[0]}
        groups["random packing"] = [
            random_packing(
                256, PACKINGS[i % len(PACKINGS)], element="Cu", random_state=seed + offset + i
            )
            for i in range(n)
        ]
        groups["glass"] = Parallel(n_jobs=-1)(
            delayed(quenched_glass)(256, random_state=seed + offset + i) for i in range(n)
        )
        share = crystals[offset // 1000 :: 2]
        groups["amorphised crystal"] = [
            s
            for r in AMORPHOUS
            for s in Displacements(lindemann=r, random_state=seed + offset).transform(share)
        ]
        halves[half] = groups
    if md_liquid:
        halves["test"]["liquid (MD)"] = [f for frames, _, _ in md_liquid.values() for f in frames]
    return halves


def fingerprint_all(fingerprint, sets):
    """``{key: images}`` for ``(key, structures)`` pairs, and ``{key: count}`` of those refused.

    A structure the fingerprint refuses (atoms on top of each other, after Gaussian
    displacements at a Lindemann ratio of 0.5) is left out of its set and counted.
    """
    flat, keys = [], []
    for key, items in sets:
        keys.append((key, len(items)))
        flat += list(items)
    results = list(fingerprint.clusters_or_errors(flat))
    good = [not isinstance(r, Exception) for r in results]
    images = fingerprint.render([r for r, ok in zip(results, good) if ok])
    out, refused, start, taken = {}, {}, 0, 0
    for key, count in keys:
        mask = np.array(good[start : start + count], dtype=bool)
        out[key] = images[taken : taken + int(mask.sum())]
        out[key, "kept"] = mask
        refused[key] = int(count - mask.sum())
        start += count
        taken += int(mask.sum())
    return out, refused


def scorers(classifier, fit_images, fit_labels, random_state, mutual_information=True):
    """``{name: (score function, offset)}``: every score fitted on the fit sample, and the model's own."""
    result = {}
    if hasattr(classifier, "novelty_"):
        result["shipped"] = (classifier.score_samples, classifier.offset_)
    for name in SCORES:
        net = copy.deepcopy(classifier).set_params(novelty=name)
        net.fit_novelty(fit_images, fit_labels, cv=NOVELTY_FOLDS)
        result[name] = (net.score_samples, net.offset_)
    if not mutual_information:
        return result

    def information(images):
        return -classifier.predict_uncertainty(
            images, n_passes=MC_PASSES, random_state=random_state
        ).mutual_information

    # It needs no fitting: the threshold rests on every crystal of the sample.
    result["mutual_information"] = (
        information,
        float(np.quantile(information(fit_images), 1 - classifier.acceptance, method="lower")),
    )
    return result


def auroc_fpr(inside, outside):
    """AUROC (in-class positive) and the share of outside accepted where 95 % of inside is."""
    y = np.r_[np.ones(len(inside)), np.zeros(len(outside))]
    s = np.r_[inside, outside]
    fpr, tpr, _ = roc_curve(y, s)
    return float(roc_auc_score(y, s)), float(fpr[np.searchsorted(tpr, 0.95)])


def prepare(args, fingerprint):
    """Images of every set and what the report needs of their structures (cached in ``--cache``)."""
    import joblib

    if args.cache and Path(args.cache).exists():
        return joblib.load(args.cache)
    timings = {}
    start = time.perf_counter()
    fit_structures, fit_labels = novelty_sample(args.n_fit, FIT_SEED, n_jobs=args.jobs)
    tests = in_class(args.n_per_class, 2018)
    solid, liquid = md_frames(args.md) if args.md else ({}, {})
    outside = out_of_class(args.n_outside, 3, liquid)
    superstructures, super_names, super_classes = class_group_prototypes()
    timings["structures_s"] = time.perf_counter() - start

    sets = [("fit", fit_structures)]
    sets += [(("in", row), items) for row, (items, _) in tests.items()]
    sets += [(("md", name), frames) for name, (frames, _, _) in solid.items()]
    sets += [
        (("out", half, group), items)
        for half, groups in outside.items()
        for group, items in groups.items()
    ]
    sets += [("superstructures", superstructures)]
    start = time.perf_counter()
    images, refused = fingerprint_all(fingerprint, sets)
    timings["fingerprints_s"] = time.perf_counter() - start
    data = {
        "images": images,
        "refused": refused,
        "fit_labels": fit_labels,
        "tests": {row: labels for row, (_, labels) in tests.items()},
        "solid": {name: (label, ratio) for name, (_, label, ratio) in solid.items()},
        "outside": {half: list(groups) for half, groups in outside.items()},
        "superstructures": (super_names, super_classes),
        "timings": timings,
    }
    if args.cache:
        joblib.dump(data, args.cache)
    return data


def run(args):
    model = load_pretrained(args.model)
    fingerprint = model.named_steps["fingerprint"].set_params(n_jobs=args.jobs)
    classifier = model.named_steps["classifier"]
    data = prepare(args, fingerprint)
    images, refused, fit_labels = data["images"], data["refused"], data["fit_labels"]
    tests, solid, outside = data["tests"], data["solid"], data["outside"]
    super_names, super_classes = data["superstructures"]
    timings = dict(data["timings"])
    start = time.perf_counter()
    scores = scorers(
        classifier, images["fit"], fit_labels, args.seed, not args.no_mutual_information
    )
    timings["fit_scores_s"] = time.perf_counter() - start
    report = {
        "timings": timings,
        "scores": {},
        "args": vars(args),
        "refused": {
            " / ".join(map(str, k)) if isinstance(k, tuple) else k: v
            for k, v in refused.items()
            if v
        },
    }
    start = time.perf_counter()
    for name, (score, offset) in scores.items():
        entry = {"offset": offset, "in": {}, "md": {}, "out": {}}
        inside_all = []
        for row, labels in tests.items():
            values = score(images[("in", row)])
            predicted = classifier.classes_[
                classifier.predict_proba(images[("in", row)]).argmax(axis=1)
            ]
            correct = predicted == labels[images[("in", row), "kept"]]
            entry["in"][row] = {
                "false_reject": float(np.mean(values < offset)),
                "accuracy_accepted": float(np.mean(correct[values >= offset]))
                if np.any(values >= offset)
                else None,
                "accuracy": float(np.mean(correct)),
                "values": values.tolist(),
                "correct": correct.tolist(),
            }
            inside_all.append(values)
        for point, (label, ratio) in solid.items():
            values = score(images[("md", point)])
            predicted = classifier.classes_[
                classifier.predict_proba(images[("md", point)]).argmax(axis=1)
            ]
            entry["md"][point] = {
                "T_over_Tm": ratio,
                "false_reject": float(np.mean(values < offset)),
                "accuracy": float(np.mean(predicted == label)),
                "values": values.tolist(),
                "correct": (predicted == label).tolist(),
            }
            inside_all.append(values)
        inside_all = np.concatenate(inside_all)
        for half, groups in outside.items():
            entry["out"][half] = {}
            for group in groups:
                values = score(images[("out", half, group)])
                auroc, fpr = auroc_fpr(inside_all, values)
                entry["out"][half][group] = {
                    "unknown": float(np.mean(values < offset)),
                    "auroc": auroc,
                    "fpr95": fpr,
                    "n": len(values),
                    "values": values.tolist(),
                }
            pooled = np.concatenate([score(images[("out", half, g)]) for g in groups])
            auroc, fpr = auroc_fpr(inside_all, pooled)
            entry["out"][half]["all"] = {
                "unknown": float(np.mean(pooled < offset)),
                "auroc": auroc,
                "fpr95": fpr,
                "n": len(pooled),
            }
        values = score(images["superstructures"])
        predicted = classifier.classes_[
            classifier.predict_proba(images["superstructures"]).argmax(axis=1)
        ]
        entry["superstructures"] = [
            {
                "name": n,
                "space_group_class": c,
                "nearest": str(p),
                "unknown": bool(v < offset),
                "score": float(v),
            }
            for n, c, p, v in zip(super_names, super_classes, predicted, values)
        ]
        report["scores"][name] = entry
    timings["evaluate_s"] = time.perf_counter() - start
    return report


def markdown(report):
    lines = [
        "## Scores: AUROC / FPR at 95 % TPR / unknown rate at the threshold, all out-of-class groups",
        "",
    ]
    lines += [
        "| score | validation AUROC | validation FPR95 | test AUROC | test FPR95 | test unknown | gated false rejects (max) | MD <= 0.9 Tm false rejects (max) |"
    ]
    lines += ["|---|---|---|---|---|---|---|---|"]
    for name, entry in report["scores"].items():
        v, t = entry["out"]["validation"]["all"], entry["out"]["test"]["all"]
        gated = max(entry["in"][row]["false_reject"] for row in entry["in"] if row in GATED)
        md = [e["false_reject"] for e in entry["md"].values() if e["T_over_Tm"] <= GATED_MD]
        lines.append(
            f"| {name} | {v['auroc']:.3f} | {v['fpr95']:.1%} | {t['auroc']:.3f} | {t['fpr95']:.1%} | "
            f"{t['unknown']:.1%} | {gated:.1%} | {max(md):.1%} |"
            if md
            else f"| {name} | {v['auroc']:.3f} | {v['fpr95']:.1%} | {t['auroc']:.3f} | {t['fpr95']:.1%} | "
            f"{t['unknown']:.1%} | {gated:.1%} | - |"
        )
    for name, entry in report["scores"].items():
        lines += ["", f"## {name} (threshold {entry['offset']:.4g})", ""]
        lines += [
            "| out-of-class group | half | n | unknown | AUROC | FPR95 |",
            "|---|---|---|---|---|---|",
        ]
        for half, groups in entry["out"].items():
            for group, g in groups.items():
                lines.append(
                    f"| {group} | {half} | {g['n']} | {g['unknown']:.1%} | {g['auroc']:.3f} | {g['fpr95']:.1%} |"
                )
        lines += [
            "",
            "| in-class row | false rejects | accuracy (all) | accuracy (accepted) |",
            "|---|---|---|---|",
        ]
        for row, r in entry["in"].items():
            accepted = "-" if r["accuracy_accepted"] is None else f"{r['accuracy_accepted']:.1%}"
            lines.append(
                f"| {row}{' (gated)' if row in GATED else ''} | {r['false_reject']:.1%} | {r['accuracy']:.1%} | {accepted} |"
            )
        if entry["md"]:
            lines += ["", "| MD point | T/Tm | false rejects | accuracy |", "|---|---|---|---|"]
            for point, r in entry["md"].items():
                lines.append(
                    f"| {point} | {r['T_over_Tm']:.2f} | {r['false_reject']:.1%} | {r['accuracy']:.1%} |"
                )
        unknown = [s for s in entry["superstructures"] if s["unknown"]]
        lines += [
            "",
            f"Class-space-group prototypes (not gated): {len(unknown)} of {len(entry['superstructures'])} unknown.",
        ]
    return "\n".join(lines)


def plot(report, path, name):
    """Risk-coverage curves on the test half: in-class test crystals and MD frames, and the
    out-of-class test structures. Risk: share of the accepted that are out-of-class or get a
    wrong class; coverage: share of the in-class accepted. The threshold sweeps the score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6), layout="constrained")
    top = 0.0
    for score, entry in report["scores"].items():
        inside = np.concatenate(
            [r["values"] for r in entry["in"].values()]
            + [r["values"] for r in entry["md"].values()]
        )
        correct = np.concatenate(
            [r["correct"] for r in entry["in"].values()]
            + [r["correct"] for r in entry["md"].values()]
        )
        groups = [g for key, g in entry["out"]["test"].items() if key != "all"]
        outside = np.concatenate([g["values"] for g in groups])
        values = np.r_[inside, outside]
        good = np.r_[correct, np.zeros(len(outside), bool)]
        order = np.argsort(-values, kind="stable")
        accepted = np.arange(1, len(order) + 1)
        risk = np.cumsum(~good[order]) / accepted
        coverage = np.cumsum(np.r_[np.ones(len(inside)), np.zeros(len(outside))][order]) / len(
            inside
        )
        ax.plot(coverage, 100 * risk, label=score, lw=2.5 if score == name else 1)
        top = max(top, 100 * risk[coverage >= 0.8].max())
    ax.set_xlabel("coverage: share of in-class test structures accepted")
    ax.set_ylabel("risk: % of accepted that are wrong")
    ax.set_xlim(0.8, 1.0)
    ax.set_ylim(0, 1.1 * top)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    parser.add_argument(
        "--md", default=None, help="folder of tools/make_md_data.py (solid and liquid points)"
    )
    parser.add_argument(
        "--n-per-class", type=int, default=20, help="in-class test crystals per class and row"
    )
    parser.add_argument(
        "--n-fit", type=int, default=150, help="recipe crystals per class to fit the scores on"
    )
    parser.add_argument(
        "--n-outside",
        type=int,
        default=20,
        help="packings, glasses and amorphised crystals per half",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the dropout masks")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", default=None)
    parser.add_argument("--plot", default=None)
    parser.add_argument(
        "--cache", default=None, help="joblib file of the images: written once, then read"
    )
    parser.add_argument(
        "--no-mutual-information",
        action="store_true",
        help="skip the Monte-Carlo-dropout score (slow)",
    )
    args = parser.parse_args(argv)
    report = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(report))
    if args.plot:
        plot(report, args.plot, "shipped")
    print(markdown(report))
    print(json.dumps(report["timings"]))


if __name__ == "__main__":
    main()
