"""Molecular-dynamics snapshots of real crystals and their melts, made with LAMMPS.

Runs the Debian ``lmp`` binary (package ``lammps``; one MPI rank, one OpenMP thread; the
input scripts are written into a temporary folder) and writes, per (system, temperature):

- ``<name>.lammpstrj.gz``: the LAMMPS text dump (``id type element x y z``, gzipped);
- ``<name>.extxyz.gz``: the same frames as multi-frame extended XYZ (gzipped; ASE reads it with
  ``ase.io.read(path, index=":")``; per-frame ``info``: step, time, temperature, energy, pressure,
  crystal order parameter);
- ``<name>.json``: metadata (system, class label in skcrystal's names, T, T/Tm, Tm and its
  source, potential, phase observed, atoms, frames, the type -> element map, checks);

and ``index.json`` listing them all with the settings and timings.

Systems, potentials (all shipped in ``/usr/share/lammps/potentials``) and melting points
-------------------------------------------------------------------------------------------

The melting point Tm of each *potential* (not of the real element) sets the temperatures.
Literature values are used where the potential's authors give one; every potential was also
checked here with a solid-liquid coexistence run (``--estimate-tm``, below; results in
``benchmarks/results/md_tm_estimates.json``).

==========  ======  =============  ==============================================  =========  =======
system      class   potential      literature Tm of this potential                 two-phase  Tm used
==========  ======  =============  ==============================================  =========  =======
Al          fcc     Al_mm.eam.fs   none found: Mendelev's file (2007-06-11, "v2_5    903 K     903 K
                                   _fcc"), its header cites no paper
Fe          bcc     Fe_mm.eam.fs   1772 K, Mendelev, Han, Srolovitz, Ackland,       1764 K    1772 K
                                   Sun, Asta, Phil. Mag. 83, 3977 (2003)
Mg          hex/rh  Mg_mm.eam.fs   914 K, Sun, Mendelev, Becker, Kudin et al.,       902 K     914 K
                                   Phys. Rev. B 73, 024116 (2006)
Si          diam    Si.sw          1691 +- 20 K, Broughton and Li, Phys. Rev. B     1696 K    1691 K
                                   35, 9120 (1987), for Stillinger and Weber,
                                   Phys. Rev. B 31, 5262 (1985)
Si-sc       sc      Si.sw          metastable phase, see below                        -       1691 K
Si-bct141   bct141  Si.sw          metastable beta-Sn phase, see below                -       1691 K
==========  ======  =============  ==============================================  =========  =======

Boxes (atoms): Al 10x10x10 fcc cells (4000), Fe 10x10x10 bcc (2000), Mg 14x8x9 orthohexagonal
hcp cells (a, sqrt(3) a, c; 4032), Si 8x8x8 diamond cells (4096), Si-sc 16x16x16 (4096),
Si-bct141 8x8x16 beta-Sn cells (4096). ``--small``: 4x4x4 fcc (256), 6x6x6 bcc (432), 6x4x4 hcp
(384), 4x4x4 diamond (512), 7x7x7 sc (343), 4x4x7 beta-Sn (448).

Notes on the choice: Al_mm.eam.fs has a short cutoff (6.5 A; Al_zhou.eam.alloy has 10.1 A and
costs about 3x more per step); Al99.eam.alloy (Mishin 1999) is not in the Debian package;
Al_jnp.eam (Jacobsen-Norskov-Puska) has no melting point we could source. The Mg file is the
Sun et al. (2006) potential (its header says so), not Mendelev's 2009 Mg potential.

The two-phase estimate (``--estimate-tm``): an elongated box (long axis z; 1536 to 3072 atoms) is
relaxed at 0 K, equilibrated as a crystal for 3 ps (NPT at the literature Tm or a guess), its
upper half melted for 3 ps (NVT at twice that temperature, the lower half held at it) and cooled
back for 2 ps, then the whole box runs 30 ps NPH (constant enthalpy, zero pressure, ``aniso``):
with both phases present, latent heat pulls the temperature to the melting point. Tm is the mean
temperature over the last 15 ps (standard deviation 13-28 K; the mean drifted by 8 to 25 K between
the first and the last 7.5 ps, toward the literature values); the crystal order parameter at the
end shows both phases survived. The Tm used is the literature value where there is one (all
within 1.5 % of the two-phase value) and the two-phase value for Al.

sc and bct
----------

No potential in the Debian package is for polonium (sc), indium (bct139) or tin (beta-Sn, bct141).
``--probe-unstable`` (``benchmarks/results/md_sc_bct_probes.json``) builds sc Al/Fe/Mg/Si,
bct139 (c/a = 1.2) Al/Fe/Mg and beta-Sn Si with the shipped potentials, relaxes the box at 0 K
and runs 2 ps NPT at 0.2 Tm:

- sc Al, Fe, Mg (EAM) fall apart within the 2 ps (order parameter 1 -> 0.004);
- bct139 is no minimum of the EAM metals: Al slides down the Bain path to fcc (c/a 1.2 -> 1.41),
  Fe relaxes to bcc already at 0 K (c/a 1.00), Mg shears into an orthorhombic cell;
- Stillinger-Weber Si keeps both sc (a = 2.612 A at 0 K, -4.062 eV/atom) and beta-Sn
  (a = 4.971 A, c = 2.787 A, c/a = 0.561, -4.137 eV/atom; diamond: -4.337 eV/atom) as
  metastable crystals at zero pressure. These two are included (systems "Si-sc" and
  "Si-bct141"), heated to 0.9 Tm only and without a liquid of their own (the liquid is diamond
  Si's). They have no melting point of their own that coexistence can measure: in the two-phase
  runs (sc at 1300 K, beta-Sn at 1400 K) the crystal half collapsed next to the liquid before
  NPH began. Their T/Tm is relative to diamond Si's 1691 K; the phase check of each point says
  whether the crystal survived its run.

Temperatures and runs
---------------------

T/Tm = 0.05, 0.2, 0.4, 0.6, 0.8, 0.9, 0.96, 1.0, 1.05 (at 1.05 superheated: a perfect periodic
crystal has no surface or defect to start melting from and survives far longer than these runs
below its superheating limit of about 1.2-1.3 Tm) and a liquid at 1.5 Tm, melted first at 2 Tm.

All runs: ``fix npt ... aniso 0 0`` (zero pressure, the three box lengths independent, so a
cubic box breathes and turns slightly orthorhombic), Nose-Hoover thermostat (Tdamp 0.1 ps) and
barostat (Pdamp 0.5 ps), timestep 1 fs. The solid temperatures are run as a heating chain:
the box is first relaxed at 0 K (``box/relax aniso``), velocities are drawn at 2 T (seeded),
each later temperature starts from the last state of the one below, its box pre-scaled by the
thermal expansion extrapolated from the two previous points and its velocities scaled to
2 T_new - T_old (equipartition in the harmonic limit), then equilibrates ``--equil-ps`` and
writes ``--frames`` frames ``--spacing-ps`` apart. The liquid starts from the last solid state,
melts for ``--melt-ps`` at 2 Tm, then runs at 1.5 Tm like a solid point with a longer
equilibration. The run lengths are set so that the four main systems take about 15 minutes on
one core of this project's machine (about 2 us per atom and step for the EAM metals). Measured
(LAMMPS CPU time, one core): Al 234 s, Fe 92 s, Mg 232 s, Si 232 s (790 s, 13 min), and the
metastable Si-sc 372 s and Si-bct141 347 s (in sc Si, 18 neighbours inside the SW cutoff make
three-body terms 4x dearer per atom): 1509 s, 25 min, for all six (1607 s wall).

Each production run is checked: the crystal order parameter of every frame,
``S = < |sum_j exp(2 pi i K . s_j)|^2 > / N^2`` over the strongest low-index reflections K of the
starting lattice (s_j: fractional coordinates in the current box, so NPT's affine breathing does
not matter), is ~0.3-0.9 in a crystal and ~1/N in a liquid; and the mean square displacement over
the production run (< 1 A^2 in a crystal at these times, several A^2 in a liquid). A point whose
frames are not all crystalline is written with ``phase`` "liquid" or "mixed" (and
``"melted": true``), never "solid".

Usage
-----

    python tools/make_md_data.py --subset tests/data/md   # full set into md_data/ (25 min) and
                                                          # the shipped subset (how both were made)
    python tools/make_md_data.py --systems Al,Fe,Mg,Si    # the four main systems only (13 min)
    python tools/make_md_data.py --small                  # ~250-500 atoms into md_data_small/
    python tools/make_md_data.py --estimate-tm            # the two-phase melting points
    python tools/make_md_data.py --probe-unstable         # the sc / bct probes

The subset (``--subset``, 2.2 MB for 52 points) holds the last frame of each point, positions
rounded to 4 decimals, gzipped extxyz, with the point's metadata; ``index.json`` lists it.
``--systems`` reruns some systems only: the index of the folder (and of the subset) keeps the
other systems' points.

Deterministic for a given ``--seed``, LAMMPS build and machine (one MPI rank; LAMMPS's ``opt``
styles where they exist): a second run of Fe gave byte-identical dumps and extxyz files.
"""

import argparse
import gzip
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

POTENTIALS = Path("/usr/share/lammps/potentials")
FRACTIONS = (0.05, 0.2, 0.4, 0.6, 0.8, 0.9, 0.96, 1.0, 1.05)
LIQUID_FRACTION = 1.5
METASTABLE_FRACTIONS = (0.05, 0.2, 0.4, 0.6, 0.8, 0.9)
MELT_FRACTION = 2.0

# Conventional-cell bases (fractional coordinates).
_FCC = [(0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)]
BASES = {
    "fcc": _FCC,
    "bcc": [(0, 0, 0), (0.5, 0.5, 0.5)],
    "diamond": _FCC + [(x + 0.25, y + 0.25, z + 0.25) for x, y, z in _FCC],
    # hcp in its orthohexagonal cell (a, sqrt(3) a, c), 4 atoms.
    "hcp": [(0, 0, 0), (0.5, 0.5, 0), (0.5, 5 / 6, 0.5), (0, 1 / 3, 0.5)],
    "sc": [(0, 0, 0)],
    "bct139": [(0, 0, 0), (0.5, 0.5, 0.5)],
    # beta-Sn (A5, I4_1/amd), conventional cell, origin choice 1.
    "bct141": [(0, 0, 0), (0.5, 0.5, 0.5), (0, 0.5, 0.25), (0.5, 0, 0.75)],
}


@dataclass
class System:
    name: str
    element: str
    label: str  # skcrystal's class name
    lattice: str  # key of BASES
    a: float  # starting lattice constant (relaxed at 0 K before use)
    b_over_a: float
    c_over_a: float
    mass: float
    pair_style: str
    potential: str
    citation: str
    tm: float  # melting point used, K
    tm_source: str
    reps: tuple
    small_reps: tuple
    tm_reps: tuple  # elongated box for the two-phase estimate
    tm_literature: float | None = None
    fractions: tuple = FRACTIONS  # T/Tm of the crystal points
    liquid: bool = True  # also the melt at 2 Tm and the liquid at 1.5 Tm

    @property
    def pair_coeff(self):
        return f"pair_coeff * * {POTENTIALS / self.potential} {self.element}"


# Melting points: literature values where the potential's authors give one, and the two-phase
# estimates of this script (``--estimate-tm``, run on this project's machine; see the
# docstring). Al has no literature value for this file, so its two-phase estimate is used.
#: Two-phase estimates (K), benchmarks/results/md_tm_estimates.json: mean T over the last 15 ps
#: of 30 ps NPH. The metastable SW phases lost their crystal half before coexistence started.
TWO_PHASE = {"Al": 903.4, "Fe": 1763.7, "Mg": 901.5, "Si": 1696.4, "Si-sc": None, "Si-bct141": None}
#: Starting temperature of the two-phase run where no literature value exists (K).
TM_GUESS = {"Al": 930.0, "Si-sc": 1300.0, "Si-bct141": 1400.0}

SYSTEMS = {
    "Al": System(
        "Al", "Al", "fcc", "fcc", 4.05, 1.0, 1.0, 26.9815385, "eam/fs", "Al_mm.eam.fs",
        "Mendelev (file dated 2007-06-11, header 'v2_5_fcc', citation not given)",
        tm=903.0, tm_source="two-phase coexistence (NPH) run of this script, --estimate-tm",
        reps=(10, 10, 10), small_reps=(4, 4, 4), tm_reps=(6, 6, 18),
    ),
    "Fe": System(
        "Fe", "Fe", "bcc", "bcc", 2.855, 1.0, 1.0, 55.845, "eam/fs", "Fe_mm.eam.fs",
        "Mendelev, Han, Srolovitz, Ackland, Sun and Asta, Phil. Mag. 83, 3977 (2003)",
        tm=1772.0, tm_source="Mendelev et al., Phil. Mag. 83, 3977 (2003)",
        reps=(10, 10, 10), small_reps=(6, 6, 6), tm_reps=(8, 8, 24), tm_literature=1772.0,
    ),
    "Mg": System(
        "Mg", "Mg", "hex/rh", "hcp", 3.18, 3 ** 0.5, 1.625, 24.305, "eam/fs", "Mg_mm.eam.fs",
        "Sun, Mendelev, Becker, Kudin, Haxhimali, Asta, Hoyt, Karma and Srolovitz, "
        "Phys. Rev. B 73, 024116 (2006)",
        tm=914.0, tm_source="Sun et al., Phys. Rev. B 73, 024116 (2006)",
        reps=(14, 8, 9), small_reps=(6, 4, 4), tm_reps=(8, 5, 16), tm_literature=914.0,
    ),
    "Si": System(
        "Si", "Si", "diam", "diamond", 5.431, 1.0, 1.0, 28.0855, "sw", "Si.sw",
        "Stillinger and Weber, Phys. Rev. B 31, 5262 (1985)",
        tm=1691.0, tm_source="Broughton and Li, Phys. Rev. B 35, 9120 (1987)",
        reps=(8, 8, 8), small_reps=(4, 4, 4), tm_reps=(4, 4, 12), tm_literature=1691.0,
    ),
    # Metastable crystals of the Stillinger-Weber potential (see the docstring).
    "Si-sc": System(
        "Si-sc", "Si", "sc", "sc", 2.61, 1.0, 1.0, 28.0855, "sw", "Si.sw",
        "Stillinger and Weber, Phys. Rev. B 31, 5262 (1985)",
        tm=1691.0, tm_source="diamond Si under SW (Broughton and Li 1987); see the docstring",
        reps=(16, 16, 16), small_reps=(7, 7, 7), tm_reps=(10, 10, 30),
        fractions=METASTABLE_FRACTIONS, liquid=False,
    ),
    "Si-bct141": System(
        "Si-bct141", "Si", "bct141", "bct141", 4.97, 1.0, 0.561, 28.0855, "sw", "Si.sw",
        "Stillinger and Weber, Phys. Rev. B 31, 5262 (1985)",
        tm=1691.0, tm_source="diamond Si under SW (Broughton and Li 1987); see the docstring",
        reps=(8, 8, 16), small_reps=(4, 4, 7), tm_reps=(5, 5, 27),
        fractions=METASTABLE_FRACTIONS, liquid=False,
    ),
}


# ----------------------------------------------------------------------------------------------
# LAMMPS plumbing


def lmp_binary():
    path = shutil.which("lmp") or shutil.which("lmp_serial")
    if path is None:
        sys.exit("make_md_data: no LAMMPS binary 'lmp' on PATH (Debian: apt-get install lammps)")
    return path


def lammps_version():
    out = subprocess.run([lmp_binary(), "-h"], check=False, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Large-scale Atomic/Molecular Massively Parallel Simulator"):
            return "LAMMPS " + line.split(" - ", 1)[1].strip() + f" ({lmp_binary()})"
    return "unknown"


def children_cpu_seconds():
    """CPU time (user + system) of the finished child processes (the LAMMPS runs) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_lammps(script, folder, name="in.lammps"):
    """Run ``script`` in ``folder`` with one rank and one thread; return the log's text."""
    folder = Path(folder)
    (folder / name).write_text(script)
    log = folder / (name + ".log")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [lmp_binary(), "-sf", "opt", "-nocite", "-in", name, "-log", log.name, "-screen", "none"]
    proc = subprocess.run(cmd, check=False, cwd=folder, env=env, capture_output=True, text=True)
    text = log.read_text() if log.exists() else ""
    if proc.returncode != 0 or "ERROR" in text:
        tail = "\n".join((text or proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"LAMMPS failed in {folder}/{name}:\n{tail}")
    return text


def thermo_blocks(log_text):
    """Every thermo table of a LAMMPS log as ``{column: array}``."""
    blocks, header, rows = [], None, []
    for line in log_text.splitlines():
        words = line.split()
        if words and words[0] == "Step":
            header, rows = words, []
        elif header is not None and line.startswith("Loop time"):
            blocks.append({key: np.array([r[i] for r in rows]) for i, key in enumerate(header)})
            header = None
        elif header is not None and len(words) == len(header):
            try:
                rows.append([float(w) for w in words])
            except ValueError:
                pass
    return blocks


def printed(log_text, tag):
    """Numbers of the last ``print "TAG ..."`` line of a log."""
    values = None
    for line in log_text.splitlines():
        if line.startswith(tag + " "):
            values = [float(w) for w in line.split()[1:]]
    return values


def header(system, *, reps=None, data=None, lattice=None):
    """The common head of an input script: a new lattice box (``lattice``: a LAMMPS lattice
    command, default the system's) or a data file."""
    lines = ["units metal", "atom_style atomic", "boundary p p p"]
    if data is not None:
        lines.append(f"read_data {data}")
    else:
        lines += [lattice or lattice_command(system, system.lattice),
                  f"region box block 0 {reps[0]} 0 {reps[1]} 0 {reps[2]}",
                  "create_box 1 box", "create_atoms 1 box"]
    lines += [
        f"mass 1 {system.mass}",
        f"pair_style {system.pair_style}",
        system.pair_coeff,
        "neighbor 1.0 bin",
        "neigh_modify every 1 delay 0 check yes",
        "timestep 0.001",
        "thermo_style custom step time temp pe press pxx pyy pzz lx ly lz vol",
        "thermo_modify norm no flush yes",
    ]
    return "\n".join(lines) + "\n"


def lattice_command(system, kind, a=None, b_over_a=None, c_over_a=None):
    a = a or system.a
    b_over_a = b_over_a or system.b_over_a
    c_over_a = c_over_a or system.c_over_a
    if kind in ("fcc", "bcc", "diamond", "sc") and b_over_a == c_over_a == 1.0:
        return f"lattice {kind} {a}"
    basis = " ".join(f"basis {x:.10f} {y:.10f} {z:.10f}" for x, y, z in BASES[kind])
    return f"lattice custom {a} a1 1 0 0 a2 0 {b_over_a:.10f} 0 a3 0 0 {c_over_a:.10f} {basis}"


RELAX = """
fix relax all box/relax aniso 0.0 vmax 0.001
min_style cg
minimize 0.0 1.0e-8 2000 20000
unfix relax
print "BOX0 $(lx:%.8f) $(ly:%.8f) $(lz:%.8f) $(pe:%.8f)"
"""


# ----------------------------------------------------------------------------------------------
# Crystal order parameter


def reflections(kind, reps):
    """Integer vectors K (in units of the supercell's reciprocal vectors) of the strongest
    reflections of the lattice with Miller indices in [-2, 2]: |F|^2 = n_basis^2."""
    basis = np.array(BASES[kind], dtype=float)
    grid = np.array([(h, k, l) for h in range(-2, 3) for k in range(-2, 3) for l in range(-2, 3)
                     if (h, k, l) != (0, 0, 0)])
    amplitude = np.abs(np.exp(2j * np.pi * grid @ basis.T).sum(axis=1)) ** 2 / len(basis) ** 2
    return grid[amplitude > 0.999] * np.asarray(reps)


def order_parameter(atoms, kind, reps):
    """Mean ``|sum exp(2 pi i K.s)|^2 / N^2`` over the strongest reflections K."""
    scaled = np.linalg.solve(atoms.cell.array.T, atoms.positions.T).T
    ks = reflections(kind, reps)
    phases = np.exp(2j * np.pi * scaled @ ks.T)
    return float(np.mean(np.abs(phases.sum(axis=0)) ** 2) / len(atoms) ** 2)


# ----------------------------------------------------------------------------------------------
# Frames


def read_dump(path, element):
    """Frames of a LAMMPS text dump as clean ASE Atoms (origin at 0, wrapped)."""
    import ase.io
    from ase import Atoms

    frames = []
    for raw in ase.io.read(path, index=":", format="lammps-dump-text"):
        symbols = raw.get_chemical_symbols()
        if set(symbols) != {element}:
            raise RuntimeError(f"{path}: element column read as {sorted(set(symbols))}")
        atoms = Atoms(symbols, positions=raw.positions - raw.get_celldisp().ravel(),
                      cell=raw.cell.array, pbc=True)
        atoms.wrap()
        frames.append(atoms)
    return frames


def gzip_bytes(data):
    """gzip with a fixed header (no name, mtime 0): same input, same bytes."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as out:
        out.write(data)
    return buffer.getvalue()


def extxyz_bytes(frames, decimals=None):
    import ase.io

    out = io.StringIO()
    for atoms in frames:
        if decimals is not None:
            atoms = atoms.copy()
            atoms.positions = np.round(atoms.positions, decimals)
        ase.io.write(out, atoms, format="extxyz")
    return out.getvalue().encode()


# ----------------------------------------------------------------------------------------------
# The heating chain


@dataclass
class Settings:
    equil_ps: float = 1.0
    liquid_equil_ps: float = 1.5
    melt_ps: float = 2.0
    frames: int = 10
    spacing_ps: float = 0.2
    tdamp_ps: float = 0.1
    pdamp_ps: float = 0.5
    seed: int = 2018
    small: bool = False

    def steps(self, ps):
        return round(ps * 1000)


def stage_script(system, settings, *, t_target, t_previous, data_in, data_out, dump, scale=None,
                 reps=None, relax=False, equil_ps, frames=True):
    """One temperature: (relax,) scale, equilibrate, write frames, save the state."""
    lines = [header(system, reps=reps, data=data_in)]
    if relax:
        lines.append(RELAX)
        lines.append(f"velocity all create {2 * t_target:.4f} {settings.seed} mom yes rot yes dist gaussian")
    else:
        if scale is not None:
            sx, sy, sz = scale
            lines.append(f"change_box all x scale {sx:.8f} y scale {sy:.8f} z scale {sz:.8f} remap")
        start = max(2 * t_target - t_previous, 0.5 * t_target)
        lines.append(f"velocity all scale {start:.4f}")
    nvt = f"temp {t_target:.4f} {t_target:.4f} {settings.tdamp_ps}"
    lines.append(f"fix md all npt {nvt} aniso 0.0 0.0 {settings.pdamp_ps}")
    lines.append("thermo 100")
    lines.append(f"run {settings.steps(equil_ps)}")
    if frames:
        every = settings.steps(settings.spacing_ps)
        lines += [
            "reset_timestep 0",
            "compute msd all msd com yes",
            "thermo_style custom step time temp pe press pxx pyy pzz lx ly lz vol c_msd[4]",
            f"thermo {every}",
            f"dump frames all custom {every} {dump} id type element x y z",
            f"dump_modify frames element {system.element} sort id format float %.6f",
            f"run {every * (settings.frames - 1)}",
            "undump frames",
        ]
    lines.append(f"write_data {data_out}")
    return "\n".join(lines) + "\n"


def point_name(system, fraction, phase):
    tag = "liquid_" if phase == "liquid" else ""
    return f"{system.name}_{system.label.replace('/', '')}_{tag}{fraction:.2f}Tm"


def analyse_point(system, settings, reps, log_text, frames, *, fraction, intended):
    """Per-frame info and the phase checks of one production run."""
    thermo = thermo_blocks(log_text)[-1]
    n = len(frames[0])
    orders = [order_parameter(atoms, system.lattice, reps) for atoms in frames]
    if len(thermo["Step"]) != len(frames):
        raise RuntimeError(f"{len(frames)} frames but {len(thermo['Step'])} thermo rows")
    for index, atoms in enumerate(frames):
        atoms.info.update(
            system=system.name, crystal_class=system.label, frame=index,
            step=int(thermo["Step"][index]), time_ps=round(float(thermo["Time"][index]), 4),
            temperature_K=round(float(thermo["Temp"][index]), 2),
            pe_eV_per_atom=round(float(thermo["PotEng"][index]) / n, 6),
            pressure_bar=round(float(thermo["Press"][index]), 1),
            T_target_K=round(fraction * system.tm, 2), T_over_Tm=fraction,
            order_parameter=round(orders[index], 5),
        )
    msd = float(thermo["c_msd[4]"][-1])
    crystalline = bool(min(orders) > 0.1 and msd < 1.0)
    glassy = bool(max(orders) < 0.02)
    if intended == "liquid":
        phase = "liquid" if glassy else ("mixed" if not crystalline else "solid")
    else:
        phase = "solid" if crystalline else ("liquid" if glassy else "mixed")
    lengths = np.stack([thermo["Lx"], thermo["Ly"], thermo["Lz"]], axis=1)
    checks = {
        "order_parameter_per_frame": [round(o, 5) for o in orders],
        "order_parameter_min": round(min(orders), 5),
        "msd_end_A2": round(msd, 4),
        "temperature_mean_K": round(float(thermo["Temp"].mean()), 2),
        "pe_mean_eV_per_atom": round(float(thermo["PotEng"].mean()) / n, 6),
        "pressure_mean_bar": round(float(thermo["Press"].mean()), 1),
        "box_mean_A": [round(float(x), 5) for x in lengths.mean(axis=0)],
        "box_aspect_mean": [round(float(x), 6) for x in (lengths / lengths[:, :1]).mean(axis=0)],
        "volume_per_atom_A3": round(float(thermo["Volume"].mean()) / n, 5),
    }
    return phase, checks, lengths.mean(axis=0)


def run_system(system, settings, output, work, command, subset=None):
    """The heating chain and the liquid of one system; returns the metadata entries."""
    reps = system.small_reps if settings.small else system.reps
    folder = Path(work) / system.name
    folder.mkdir(parents=True, exist_ok=True)
    entries, history = [], []  # history: (T, mean box lengths)
    data_in, t_previous = None, None
    plan = [(f, "solid") for f in system.fractions]
    if system.liquid:
        plan += [(MELT_FRACTION, "melt"), (LIQUID_FRACTION, "liquid")]
    for index, (fraction, intended) in enumerate(plan):
        t_target = fraction * system.tm
        if intended != "liquid":
            started, cpu_started = time.perf_counter(), children_cpu_seconds()
        scale = None
        if data_in is not None and intended == "solid":
            scale = extrapolated_scale(history, t_target)
        dump = f"frames_{index:02d}.lammpstrj"
        script = stage_script(
            system, settings, t_target=t_target, t_previous=t_previous or 0.0, data_in=data_in,
            data_out=f"state_{index:02d}.data", dump=dump, scale=scale, reps=reps,
            relax=data_in is None,
            equil_ps={"solid": settings.equil_ps, "melt": settings.melt_ps,
                      "liquid": settings.liquid_equil_ps}[intended],
            frames=intended != "melt",
        )
        log = run_lammps(script, folder, name=f"in_{index:02d}.lammps")
        if data_in is None:
            box0 = printed(log, "BOX0")
            history.append((0.0, np.array(box0[:3])))
        data_in, t_previous = f"state_{index:02d}.data", t_target
        if intended == "melt":
            continue
        frames = read_dump(folder / dump, system.element)
        phase, checks, mean_box = analyse_point(
            system, settings, reps, log, frames, fraction=fraction, intended=intended)
        if intended == "solid":
            history.append((t_target, mean_box))
        seconds = time.perf_counter() - started
        name = point_name(system, fraction, intended)
        dump_bytes = gzip_bytes((folder / dump).read_bytes())
        xyz_bytes = gzip_bytes(extxyz_bytes(frames))
        (output / f"{name}.lammpstrj.gz").write_bytes(dump_bytes)
        (output / f"{name}.extxyz.gz").write_bytes(xyz_bytes)
        meta = {
            "name": name,
            "system": system.name,
            "element": system.element,
            "class_label": system.label,
            "lattice": system.lattice,
            "phase": phase,
            "intended_phase": intended,
            "melted": bool(intended == "solid" and phase != "solid"),
            "superheated": bool(intended == "solid" and fraction > 1.0 - 1e-9 and phase == "solid"),
            "T_K": round(t_target, 2),
            "T_over_Tm": fraction,
            "Tm_K": system.tm,
            "Tm_source": system.tm_source,
            "potential": system.potential,
            "pair_style": system.pair_style,
            "potential_citation": system.citation,
            "n_atoms": len(frames[0]),
            "supercell": list(reps),
            "frames": len(frames),
            "frame_times_ps": [a.info["time_ps"] for a in frames],
            "ensemble": f"NPT aniso, P = 0, Tdamp {settings.tdamp_ps} ps, Pdamp {settings.pdamp_ps} ps",
            "timestep_fs": 1.0,
            "equilibration_ps": {"solid": settings.equil_ps, "liquid": settings.liquid_equil_ps}[intended],
            "history": ("heating chain from a 0 K relaxed lattice" if intended == "solid"
                        else f"melted {settings.melt_ps} ps at {MELT_FRACTION} Tm from the last solid state"),
            "frame_spacing_ps": settings.spacing_ps,
            "seed": settings.seed,
            "type_map": {"1": system.element},
            "files": {"extxyz": f"{name}.extxyz.gz", "lammps_dump": f"{name}.lammpstrj.gz"},
            "checks": checks,
            "seconds": round(seconds, 1),
            "lammps_cpu_seconds": round(children_cpu_seconds() - cpu_started, 1),
            "command": command,
        }
        (output / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")
        if subset is not None:
            write_subset_point(subset, meta, frames)
        entries.append(meta)
        print(f"  {name:28s} N={meta['n_atoms']:5d} T={t_target:7.1f} K  phase={phase:6s} "
              f"S_min={checks['order_parameter_min']:.3f} msd={checks['msd_end_A2']:.3f} A^2  "
              f"{seconds:5.1f} s ({meta['lammps_cpu_seconds']:.1f} s CPU)", flush=True)
    return entries


def extrapolated_scale(history, t_target):
    """Box scale factors from the thermal expansion of the last two points."""
    (t0, l0), (t1, l1) = history[-2:] if len(history) >= 2 else (history[-1], history[-1])
    if t1 == t0:
        return None
    predicted = l1 + (l1 - l0) / (t1 - t0) * (t_target - t1)
    # The scale is applied to the current (last) box, whose mean is l1.
    return tuple(np.clip(predicted / l1, 0.97, 1.03))


# ----------------------------------------------------------------------------------------------
# The shipped subset


SUBSET_FRAMES = 1
SUBSET_DECIMALS = 4


def write_subset_point(subset, meta, frames):
    """The last frame(s) of a point, positions rounded, gzipped extxyz + metadata."""
    subset.mkdir(parents=True, exist_ok=True)
    chosen = frames[-SUBSET_FRAMES:]
    name = meta["name"]
    (subset / f"{name}.extxyz.gz").write_bytes(gzip_bytes(extxyz_bytes(chosen, SUBSET_DECIMALS)))
    small = {k: v for k, v in meta.items() if k not in ("files", "command")}
    small["frames"] = len(chosen)
    small["frames_of_full_run"] = meta["frames"]
    small["frame_times_ps"] = meta["frame_times_ps"][-SUBSET_FRAMES:]
    small["positions_rounded_decimals"] = SUBSET_DECIMALS
    small["files"] = {"extxyz": f"{name}.extxyz.gz"}
    (subset / f"{name}.json").write_text(json.dumps(small, indent=1) + "\n")


# ----------------------------------------------------------------------------------------------
# Two-phase melting points


def estimate_tm(system, settings, work, guess, nph_ps=30.0):
    """Solid-liquid coexistence at constant enthalpy and zero pressure; see the docstring."""
    folder = Path(work) / f"tm_{system.name}"
    folder.mkdir(parents=True, exist_ok=True)
    reps = system.tm_reps
    script = header(system, reps=reps) + RELAX + f"""
velocity all create {2 * guess:.3f} {settings.seed} mom yes rot yes dist gaussian
fix eq all npt temp {guess:.3f} {guess:.3f} 0.1 aniso 0.0 0.0 0.5
thermo 500
run 3000
unfix eq
variable zmid equal "zlo + 0.5 * lz"
region upper block INF INF INF INF ${{zmid}} INF units box
group upper region upper
group lower subtract all upper
fix hot upper nvt temp {2 * guess:.3f} {2 * guess:.3f} 0.1
fix cold lower nvt temp {guess:.3f} {guess:.3f} 0.1
run 3000
unfix hot
fix hot upper nvt temp {guess:.3f} {guess:.3f} 0.1
run 2000
unfix hot
unfix cold
write_dump all custom start.lammpstrj id type element x y z modify element {system.element}
fix nph all nph aniso 0.0 0.0 1.0
thermo 100
run {settings.steps(nph_ps)}
write_dump all custom end.lammpstrj id type element x y z modify element {system.element}
"""
    started = time.perf_counter()
    log = run_lammps(script, folder)
    thermo = thermo_blocks(log)[-1]
    half = len(thermo["Temp"]) // 2
    temps = thermo["Temp"][half:]
    crystal = read_dump(folder / "start.lammpstrj", system.element)[0]
    end = read_dump(folder / "end.lammpstrj", system.element)[0]
    # The crystal half alone gives 1/4 of a whole crystal's S (half the atoms, amplitude^2).
    s_end = order_parameter(end, system.lattice, reps)
    result = {
        "system": system.name,
        "potential": system.potential,
        "guess_K": guess,
        "n_atoms": len(end),
        "supercell": list(reps),
        "nph_ps": nph_ps,
        "Tm_K": round(float(temps.mean()), 1),
        "T_std_K": round(float(temps.std()), 1),
        "T_drift_K": round(float(temps[len(temps) // 2:].mean() - temps[: len(temps) // 2].mean()), 1),
        "order_parameter_half_melted_start": round(order_parameter(crystal, system.lattice, reps), 4),
        "order_parameter_end": round(s_end, 4),
        "both_phases_at_end": bool(0.01 < s_end < 0.6),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return result


# ----------------------------------------------------------------------------------------------
# sc / bct probes


PROBES = [
    ("Al", "sc", 2.70, 1.0), ("Fe", "sc", 2.30, 1.0), ("Mg", "sc", 2.85, 1.0), ("Si", "sc", 2.55, 1.0),
    ("Al", "bct139", 3.80, 1.2), ("Fe", "bct139", 2.70, 1.2), ("Mg", "bct139", 3.80, 1.2),
    ("Si", "bct141", 4.80, 0.55),
]


def probe_unstable(settings, work):
    """Can a shipped potential hold sc or bct? 0 K box relaxation, then 2 ps NPT at 0.2 Tm."""
    results = []
    for name, kind, a, c_over_a in PROBES:
        system = SYSTEMS[name]
        n_basis = len(BASES[kind])
        n = max(2, round((400 / n_basis / c_over_a) ** (1 / 3)))
        reps = (n, n, max(2, round(n / c_over_a)))
        folder = Path(work) / f"probe_{name}_{kind}"
        folder.mkdir(parents=True, exist_ok=True)
        t = 0.2 * system.tm
        lattice = lattice_command(system, kind, a=a, b_over_a=1.0, c_over_a=c_over_a)
        script = header(system, reps=reps, lattice=lattice) + RELAX + f"""
write_dump all custom relaxed.lammpstrj id type element x y z modify element {system.element}
velocity all create {2 * t:.3f} {settings.seed} mom yes rot yes dist gaussian
fix md all npt temp {t:.3f} {t:.3f} 0.1 aniso 0.0 0.0 0.5
thermo 500
run 2000
write_dump all custom end.lammpstrj id type element x y z modify element {system.element}
"""
        log = run_lammps(script, folder)
        box0 = printed(log, "BOX0")
        relaxed = read_dump(folder / "relaxed.lammpstrj", system.element)[0]
        end = read_dump(folder / "end.lammpstrj", system.element)[0]
        lengths = np.diag(end.cell.array) / np.array(reps)
        results.append({
            "system": name, "lattice": kind, "n_atoms": len(end), "T_K": round(t, 1),
            "relaxed_cell_A": [round(x / r, 4) for x, r in zip(box0[:3], reps)],
            "relaxed_pe_eV_per_atom": round(box0[3] / len(end), 4),
            "order_relaxed": round(order_parameter(relaxed, kind, reps), 4),
            "order_after_2ps": round(order_parameter(end, kind, reps), 4),
            "cell_after_2ps_A": [round(float(x), 4) for x in lengths],
        })
        print(f"  {name} {kind:7s} relaxed cell {results[-1]['relaxed_cell_A']} "
              f"S relaxed {results[-1]['order_relaxed']:.3f} "
              f"-> after 2 ps {results[-1]['order_after_2ps']:.3f}",
              flush=True)
    return results


# ----------------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=None,
                        help="folder of the full set (default md_data/, md_data_small/ with --small)")
    parser.add_argument("--subset", type=Path, default=None,
                        help="also write the shipped test subset (last frame of each point) here")
    parser.add_argument("--small", action="store_true", help="boxes of about 250-500 atoms")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated (default: all: "
                        + ", ".join(SYSTEMS) + ")")
    parser.add_argument("--seed", type=int, default=2018)
    parser.add_argument("--frames", type=int, default=10, help="frames per temperature")
    parser.add_argument("--spacing-ps", type=float, default=0.2, help="time between frames")
    parser.add_argument("--equil-ps", type=float, default=1.0, help="equilibration per solid T")
    parser.add_argument("--liquid-equil-ps", type=float, default=1.5)
    parser.add_argument("--melt-ps", type=float, default=2.0, help="time at 2 Tm before the liquid")
    parser.add_argument("--estimate-tm", action="store_true",
                        help="run the two-phase melting-point estimates instead")
    parser.add_argument("--nph-ps", type=float, default=30.0, help="NPH time of --estimate-tm")
    parser.add_argument("--probe-unstable", action="store_true", help="run the sc/bct probes instead")
    parser.add_argument("--keep-work", type=Path, default=None, help="keep LAMMPS inputs/logs here")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    command = "python tools/make_md_data.py " + " ".join(sys.argv[1:] if argv is None else argv)
    settings = Settings(equil_ps=args.equil_ps, liquid_equil_ps=args.liquid_equil_ps,
                        melt_ps=args.melt_ps, frames=args.frames, spacing_ps=args.spacing_ps,
                        seed=args.seed, small=args.small)
    names = [n.strip() for n in args.systems.split(",") if n.strip()]
    output = args.output or Path("md_data_small" if args.small else "md_data")
    output.mkdir(parents=True, exist_ok=True)
    work_context = (tempfile.TemporaryDirectory(prefix="make_md_data_") if args.keep_work is None
                    else _Keep(args.keep_work))
    started, cpu_started = time.perf_counter(), children_cpu_seconds()
    with work_context as work:
        if args.estimate_tm:
            results = []
            for name in names:
                system = SYSTEMS[name]
                guess = TM_GUESS.get(name) or system.tm_literature or system.tm
                results.append(estimate_tm(system, settings, work, guess, nph_ps=args.nph_ps))
                print(json.dumps(results[-1]), flush=True)
            report = {"command": command, "lammps": lammps_version(), "results": results}
            (output / "tm_estimates.json").write_text(json.dumps(report, indent=1) + "\n")
            return
        if args.probe_unstable:
            results = probe_unstable(settings, work)
            report = {"command": command, "lammps": lammps_version(), "results": results}
            (output / "sc_bct_probes.json").write_text(json.dumps(report, indent=1) + "\n")
            return
        entries = []
        for name in names:
            print(f"{name}: {SYSTEMS[name].potential}, Tm = {SYSTEMS[name].tm} K", flush=True)
            entries += run_system(SYSTEMS[name], settings, output, work, command, subset=args.subset)
    seconds = time.perf_counter() - started
    cpu = children_cpu_seconds() - cpu_started
    run = {
        "command": command,
        "systems": names,
        "lammps": lammps_version(),
        "settings": settings.__dict__,
        "seconds": round(seconds, 1),
        "lammps_cpu_seconds": round(cpu, 1),
    }
    points = [{k: e[k] for k in ("name", "system", "class_label", "phase", "melted", "T_K",
                                 "T_over_Tm", "Tm_K", "n_atoms", "frames", "files")} for e in entries]
    write_index(output / "index.json", run, points)
    if args.subset is not None:
        points = [dict(p, files={"extxyz": p["files"]["extxyz"]}, frames=SUBSET_FRAMES) for p in points]
        note = (f"last {SUBSET_FRAMES} frame(s) of each point of the full set, positions rounded to "
                f"{SUBSET_DECIMALS} decimals")
        write_index(args.subset / "index.json", run, points, note=note)
    print(f"{len(entries)} points in {seconds:.0f} s ({cpu:.0f} s LAMMPS CPU) -> {output}")


def write_index(path, run, points, note=None):
    """Write (or update: the points of systems not run now are kept) a folder's index."""
    index = json.loads(path.read_text()) if path.exists() else {"runs": [], "points": []}
    systems = set(run["systems"])
    index["runs"] = [r for r in index.get("runs", []) if not systems.issuperset(r["systems"])] + [run]
    kept = [p for p in index["points"] if p["system"] not in systems]
    order = list(SYSTEMS)
    index["points"] = sorted(kept + points, key=lambda p: (order.index(p["system"]) if p["system"] in order
                                                           else len(order), p["name"]))
    if note:
        index["note"] = note
    path.write_text(json.dumps(index, indent=1) + "\n")


class _Keep:
    def __init__(self, path):
        self.path = Path(path)

    def __enter__(self):
        self.path.mkdir(parents=True, exist_ok=True)
        return str(self.path)

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    main()
