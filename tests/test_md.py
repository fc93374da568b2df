"""Real molecular dynamics: LAMMPS snapshots shipped in tests/data/md (tools/make_md_data.py).

EAM Al (fcc), Fe (bcc), Mg (hcp) and Stillinger-Weber Si (diamond, and the metastable simple
cubic and beta-tin lattices) under NPT from 0.05 Tm to 1.05 Tm (superheated), and their melts.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from skcrystal import load_pretrained, read_frames

DATA = Path(__file__).parent / "data" / "md"
META = [
    json.loads(path.read_text())
    for path in sorted(DATA.glob("*.json"))
    if path.name != "index.json"
]
SOLIDS = [m for m in META if m["phase"] == "solid" and not m["melted"]]
LIQUIDS = [m for m in META if m["phase"] == "liquid"]


def _frames(meta):
    return list(read_frames(DATA / f"{meta['name']}.extxyz.gz"))


@pytest.fixture(scope="module")
def model():
    return load_pretrained()


def test_the_shipped_subset_covers_every_temperature_up_to_superheating():
    temperatures = {m["system"]: set() for m in SOLIDS}
    for m in SOLIDS:
        temperatures[m["system"]].add(m["T_over_Tm"])
    for system in ("Al", "Fe", "Mg", "Si"):
        assert {0.05, 0.4, 0.8, 1.0, 1.05} <= temperatures[system], system
    assert {m["system"] for m in LIQUIDS} >= {"Al", "Fe", "Mg", "Si"}


@pytest.mark.parametrize("meta", SOLIDS, ids=[m["name"] for m in SOLIDS])
def test_every_solid_frame_gets_its_class(meta, model):
    # The network's class (the nearest one); how many frames the reject option calls unknown
    # is tested in test_pretrained and measured by benchmarks/unknown.py.
    frames = _frames(meta)
    assert len(frames) == meta["frames"]
    nearest = model.classes_[model.predict_proba(frames).argmax(axis=1)]
    assert nearest.tolist() == [meta["class_label"]] * len(frames)


@pytest.mark.parametrize("meta", LIQUIDS, ids=[m["name"] for m in LIQUIDS])
def test_liquid_frames_are_fingerprinted_and_unknown(meta, model):
    frames = _frames(meta)
    images = model.named_steps["fingerprint"].transform(frames)
    assert images.shape == (len(frames), 3, 64, 64)
    assert np.isfinite(images).all()
    assert model.named_steps["classifier"].predict(images).tolist() == ["unknown"] * len(frames)


def test_the_hot_frame_one_region_missed_is_bcc(model, monkeypatch):
    # Frame 0 of superheated bcc Fe at 1.05 Tm (md_data, not the shipped last frame): the one
    # sphere carved from its middle looked body-centred tetragonal (bct139, p = 0.81). The
    # sum of the patterns of its eight regions is bcc, and in distribution.
    [frame] = read_frames(DATA / "Fe_bcc_1.05Tm_frame0.extxyz.gz")
    [cluster] = model.named_steps["fingerprint"].clusters([frame])
    assert cluster.regions is not None and len(np.unique(cluster.regions)) == 8
    assert model.predict([frame]).tolist() == ["bcc"]
    from skcrystal import _cluster

    monkeypatch.setattr(_cluster, "REGIONS_PER_AXIS", 1)
    nearest = model.classes_[model.predict_proba([frame]).argmax(axis=1)]
    assert nearest.tolist() == ["bct139"]
