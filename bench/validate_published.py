"""Our hwmodel against published Timeloop / Sparseloop reference outputs, side by side.

    python bench/validate_published.py     # prints the tables, writes bench/results/validation.md

It runs in well under a second (analytical models only; no benchmark timing).

Sources (all in the GitHub repository Accelergy-Project/timeloop-accelergy-exercises, read
through the project's code store; the commit of each stored file is given beside its figures):

1. ``exercises/timeloop/00-model-conv1d-1level``: a 1-D convolution (R = 3, P = 16: 48 MACs) on
   one 8-bit MAC fed by one 64-word register file, with a fixed mapping (P16 outer, R3 inner).
   Reference: ``ref-output/timeloop-model.stats.txt`` and ``ref-output/ERT.yaml``.
2. ``baseline_designs/example_designs/eyeriss_like``: AlexNet layer 1 (C 3, M 96, R = S 11,
   P = Q 55, stride 4: 105,415,200 MACs) on a 14 x 12 PE Eyeriss-like design. Reference:
   ``example_AlexNet_layer1_outputs/timeloop-mapper.stats.txt`` (the mapping Timeloop's mapper
   found, and the Accelergy energies it used).
3. ``workspace/example_designs/example_designs/sparseloop/01.2.{1,2,3}-*-dot-product``: the
   dot product Z = sum_k A_k B_k, K = 16, A 25 % dense (fixed_structured): 01.2.1 dense, 01.2.2
   A uncompressed with B and Z gated on A, 01.2.3 A in CP with B and Z skipped on A.
   Reference: ``ref_outputs/default_problem/timeloop-mapper.stats.txt`` and
   ``parsed-processed-input.yaml``.

Our descriptions of their hardware are the YAML files in bench/published/, each number with its
source beside it. The two lists below are copied into validation.md beside the tables.

Assumptions made in the mapping
-------------------------------
- Timeloop reports cycles, not seconds: every description gets a 1 GHz clock (Sparseloop's own
  global_cycle_seconds is 1 ns); static power is 0 W, since the references count dynamic energy
  (Sparseloop's leakage, 0.01-0.03 pJ, is left out).
- Energies per access are copied from the references' Accelergy tables (ERT or the SPECS of the
  stats), per word of the level, and given to us per byte ("0.42 pJ/8b").
- Exercise 00: conv1d as our GEMM is M = 1 output channel, K = R = 3, N = P = 16; the true input
  tensor is P + R - 1 = 18 words (input_bytes = 18). The register file is our outermost level
  (nothing lies outside it in their architecture, and Timeloop counts no fills). Its ports (3
  reads + 1 write per cycle) are ours: theirs sets no limit.
- Exercise 00: partial sums are 8 bits wide (accumulator_bits: 8): their Outputs sit in the
  8-bit-word buffer.
- Eyeriss-like: AlexNet layer 1 as our GEMM is M = 96, K = C*R*S = 363, N = P*Q = 3025, input
  tensor 3 x 227 x 227 words; 16-bit values, activations and partial sums.
- Eyeriss-like: each per-PE scratchpad (ifmap 12, weights 192, psum 16 words) is one of our
  levels with 168 times its capacity and ports; the global buffer holds inputs and outputs only
  (weights bypass it, as in their stats); DummyBuffer holds nothing and is left out; DRAM has an
  unlimited port in theirs, a 1e9 B/cycle one in ours.
- Eyeriss-like: the PE array is 12 rows x 14 columns with K on the rows and M on the columns,
  the spatial choice of their mapping (S on Spatial-Y, M on Spatial-X).
- Eyeriss-like, 'their reuse': we replay their mapping's traffic as our reuse factors: weights
  cross into weights_spad 55 times (their DRAM loop Q55 lies outside the weights' residence),
  inputs cross into shared_glb and ifmap_spad 412005 / 154587 = 2.67 times (their DRAM input
  reads; the glb->spad multicast read once), partial sums leave psum_spad 3 times (glb reads
  580800 = 2 x 290400 spills).
- Sparseloop: A is our weight W (1 x 16), B our input X (16 x 1), Z our output (1 x 1); 8-bit
  words, 8-bit partial sums (Z in the 8-bit Buffer), one MAC at 0.315 pJ (5.04 pJ / 16).
- Sparseloop 01.2.2 (gating): A stays uncompressed (16 payload bytes, no metadata); the MACs the
  datapath lets through are stated by hand: stored_macs = effective_macs = 4 with compute = gate
  (see the limits: a U-rank format cannot say it). Gated MACs and reads draw no energy
  (gated_energy_fraction 0), as in their stats.
- Sparseloop 01.2.3 (skipping): A in the format bench/published/sparseloop_A_cp.yaml, a CP rank
  over K with 4-bit coordinates and a fixed 4 entries (their density is fixed_structured 0.25:
  exactly 4 nonzeros, and Sparseloop stores no fibre length), priced from
  hwmodel.formats.footprint on an A with 4 nonzeros.

What our description cannot say
-------------------------------
- Mapping: theirs is fixed (exercise 00, the Sparseloop examples) or found by Timeloop's
  random-search mapper under per-PE capacities (eyeriss_like); ours is searched per level over
  whole-GEMM tiles, each level on its own, against summed capacities: an optimistic bound. Their
  exact loop nest (e.g. Q55 outside the weights at DRAM) is not expressible; only the traffic it
  causes can be replayed as reuse factors.
- Energy tables: theirs come from Accelergy plug-ins per action and argument (address and data
  deltas, idle, mac_random vs mac_reused vs mac_gated, leakage per cycle); ours is one read and
  one write energy per byte per level and one energy per MAC type, typed in.
- First accumulation: Timeloop does not read a partial sum before its first update (exercise 00:
  32 reads for 48 updates); we read one per MAC (48), so our output reads exceed theirs by
  exactly M x N per pass of partial sums through the level.
- Output fills: Timeloop counts 'fills' of Outputs at the global buffer (290400 in
  eyeriss_like); we do not bring outputs in before their first partial sum.
- Instances and multicast between levels: Timeloop counts per-instance fills of the 132 used PEs
  (ifmap_spad fills 4944060 words); our levels have no instance count, and a tile crossing into
  a level is counted once (412005). Our spatial_fanout only applies to the per-MAC reads at the
  innermost level.
- Convolution dimensions: our GEMM view flattens C*R*S into K and P*Q into N, so the PE array's
  ceilings are taken on K = 363 over 12 rows (363/372) rather than on S = 11 over 12 rows
  (11/12) as in their mapping; utilisation differs accordingly.
- Utilisation: ours is issued MAC slots over the array's slots while computing (gated MACs keep
  their slots, memory stalls excluded); Timeloop's is actual computes over cycles x instances.
  The table prints both definitions computed from our figures.
- Metadata storage: Sparseloop's regfile_metadata prices metadata at its own storage's energy
  (0.19 pJ per 4-bit read, beside 0.58 pJ per 8-bit data read); a level of ours has one read
  energy per byte, so A's 16 metadata bits cost 2 bytes x 0.58 pJ. A separate weight_metadata
  level would need to sit inside the outermost one, which a one-level design does not have.
- Gating with an uncompressed operand: a U rank stores every coordinate, so a hwmodel.formats
  spec 'U-U' gives stored_macs = 16 and our gate mode (which gates MACs outside the stored set
  and MACs on zero activations) would gate none; the 4 MACs let through are stated by hand.
  Modelling A as the activations instead (activation_density 0.25) would gate too, but would
  read A 4 times, not 16: the condition operand's own reads are not modelled.
- Block-granular access energy: Timeloop's DRAM and global buffer (block-size 4) charge whole
  4-word vector accesses, so eyeriss_like's 412005 DRAM input reads cost 103002 blocks = 412008
  words (384 pJ more than ours under the same traffic); our word_bits rounds only lone per-MAC
  accesses up to whole words, tile transfers are priced per byte.
- Spatial utilisation of operands across PEs (Timeloop's 'utilized instances', multicast
  factors, link transfers) and address generation have no counterpart in our model.
"""

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import hwmodel
from hwmodel import LevelMapping, Mapping
from hwmodel import formats as hf

HERE = Path(__file__).resolve().parent
PUBLISHED = HERE / "published"
OUTPUT = HERE / "results" / "validation.md"
REPO = "Accelergy-Project/timeloop-accelergy-exercises"

# ------------------------------------------------------------------ their figures (verbatim)

EX00 = {  # exercises/timeloop/00-model-conv1d-1level/ref-output/timeloop-model.stats.txt @0d5bb488
    "source": "exercises/timeloop/00-model-conv1d-1level/ref-output/timeloop-model.stats.txt",
    "commit": "0d5bb4886e07a28e01ec2428a9a281e050d41255",
    "macs": 48, "cycles": 48, "utilisation": 1.00,
    "accesses": {"weights": 48, "inputs": 48, "output_reads": 32, "output_updates": 48},
    "energy_pj": {"MAC": 28.94, "weights": 20.16, "inputs": 20.16, "outputs": 33.60},
    "total_pj": 102.86,
}

EYERISS = {  # baseline_designs/example_designs/eyeriss_like/example_AlexNet_layer1_outputs/
    "source": "baseline_designs/example_designs/eyeriss_like/example_AlexNet_layer1_outputs/"
              "timeloop-mapper.stats.txt",
    "commit": "7252362fc514af7e5bb5442e1d66c0bc522999cc",
    "macs": 105415200, "cycles": 798600, "utilisation": 0.79, "utilised_pes": 132,
    # accesses in 16-bit words, summed over instances: (reads, writes incl. fills and updates)
    "accesses": {"DRAM": (1916640 + 412005, 290400),
                 "shared_glb": (412005 + 580800, 412005 + 871200 + 290400),
                 "ifmap_spad": (798600 * 132, 37455 * 132),
                 "weights_spad": (798600 * 132, 14520 * 132),
                 "psum_spad": (774400 * 132, 798600 * 132 + 72600 * 132)},
    "dram_words": {"weights": 1916640, "inputs": 412005, "outputs": 290400},
    "energy_pj": {"MAC": 231913440.00, "psum_spad": 54522019.20,
                  "weights_spad": 170228298.24, "ifmap_spad": 26155144.62,
                  "shared_glb": 15494515.65 + 32763654.00,
                  "DRAM": 245329920.00 + 52737024.00 + 37171200.00},
    "total_pj": 866315215.71, "pj_per_mac": 8.22,
}

SPARSELOOP_DIR = "workspace/example_designs/example_designs/sparseloop/"
SPARSELOOP = {  # <dir>/ref_outputs/default_problem/timeloop-mapper.stats.txt
    "01.2.1-DUDU": {"commit": "09545d3fea96e0d553ffb66a1dec865c538c8e1b", "mode": "dense",
                    "cycles": 16, "utilisation": 1.00, "computes": 16,
                    "reads": {"A": 16, "A_metadata": 0, "B": 16, "Z": 15}, "Z_updates": 16,
                    "energy_pj": {"MAC": 5.04, "A": 31.33, "B": 31.33, "Z": 59.55}},
    "01.2.2-SUDU": {"commit": "f2320f38d0a22e4f58c6c3f294581d55bd232af7", "mode": "gate",
                    "cycles": 16, "utilisation": 0.25, "computes": 4,
                    "reads": {"A": 16, "A_metadata": 0, "B": 4, "Z": 3}, "Z_updates": 4,
                    "energy_pj": {"MAC": 1.26, "A": 31.33, "B": 7.83, "Z": 13.42}},
    "01.2.3-SCDU": {"commit": "f2320f38d0a22e4f58c6c3f294581d55bd232af7", "mode": "skip",
                    "cycles": 4, "utilisation": 1.00, "computes": 4,
                    # A: 4 data words of 8 bits and 4 metadata words of 4 bits
                    "reads": {"A": 4, "A_metadata": 4, "B": 4, "Z": 3}, "Z_updates": 4,
                    "energy_pj": {"MAC": 1.26, "A": 3.10, "B": 2.33, "Z": 3.79}},
}


def _bullets(title):
    """The bullets of the docstring section called ``title``, each joined into one line."""
    if __doc__ is None:
        raise RuntimeError("run without python -OO: the assumptions live in the docstring")
    section = __doc__.split(title + "\n" + "-" * len(title) + "\n", 1)[1].split("\n\n", 1)[0]
    return [" ".join(item.split()) for item in ("\n" + section).split("\n- ")[1:]]


ASSUMPTIONS = _bullets("Assumptions made in the mapping")
LIMITS = _bullets("What our description cannot say")


@dataclass(frozen=True)
class Row:
    """One compared quantity: ``ours`` and ``theirs`` (None where one side has no figure)."""

    case: str
    quantity: str
    ours: float | None
    theirs: float | None
    note: str = ""

    @property
    def ratio(self):
        if self.ours is None or not self.theirs:
            return None
        return self.ours / self.theirs


# ------------------------------------------------------------------ our side

def hardware(name):
    return hwmodel.Hardware.from_yaml(PUBLISHED / name)


def searched_cost(hw, layer):
    """Our searched mapping (energy objective) and its cost; a one-level design has no
    on-chip level to map, so its mapping is empty."""
    mapping = hwmodel.best_mapping(hw, layer, "energy")
    return hwmodel.evaluate(hw, layer, mapping)


def ex00_layer():
    return hwmodel.Layer("conv1d", M=1, K=3, N=16, value_bits=8, activation_bits=8,
                         kind="int", input_bytes=18)


def run_ex00():
    """Exercise 00 on our description of it: (hardware, layer, LayerCost)."""
    hw = hardware("timeloop_ex00_1level.yaml")
    layer = ex00_layer()
    return hw, layer, searched_cost(hw, layer)


def alexnet1_layer():
    return hwmodel.Layer("alexnet-conv1", M=96, K=3 * 11 * 11, N=55 * 55, value_bits=16,
                         activation_bits=16, kind="int", input_bytes=3 * 227 * 227 * 2)


def their_reuse_mapping(hw):
    """Their mapping's traffic as our reuse factors (see ASSUMPTIONS)."""
    inputs = EYERISS["dram_words"]["inputs"] / (3 * 227 * 227)
    reuse = {"shared_glb": (1.0, inputs, 1.0), "ifmap_spad": (1.0, inputs, 1.0),
             "weights_spad": (EYERISS["dram_words"]["weights"] / (96 * 363), 1.0, 1.0),
             "psum_spad": (1.0, 1.0, 3.0)}
    return Mapping(tuple(LevelMapping(level.name, (0, 0, 0), "replayed", reuse[level.name])
                         for level in hw.memory[1:]))


def run_eyeriss():
    """AlexNet conv1 on the eyeriss_like description: (hardware, layer, searched cost, cost
    under their reuse)."""
    hw = hardware("eyeriss_like_alexnet1.yaml")
    layer = alexnet1_layer()
    return hw, layer, searched_cost(hw, layer), hwmodel.evaluate(hw, layer,
                                                                their_reuse_mapping(hw))


def sparse_a():
    """Operand A of the Sparseloop examples: 4 nonzeros out of 16 (fixed_structured 0.25)."""
    a = np.zeros((1, 16))
    a[0, [1, 6, 9, 14]] = 1.0
    return a


def sparseloop_layer(case):
    """The dot product as our Layer for one of the three designs."""
    base = dict(M=1, K=16, N=1, value_bits=8, activation_bits=8, kind="int")
    if case == "01.2.1-DUDU":
        return hwmodel.Layer(case, **base)
    if case == "01.2.2-SUDU":
        return hwmodel.Layer(case, **base, effective_macs=4, stored_macs=4,
                             structure="unstructured", compute="gate")
    spec = hf.load(PUBLISHED / "sparseloop_A_cp.yaml")
    a = sparse_a()
    return hwmodel.Layer(case, **base, weight_format=spec, structure="unstructured",
                         footprint=hf.footprint(spec, a != 0, value_bits=8),
                         row_nnz=(a != 0).sum(axis=1))


def run_sparseloop(case):
    """One Sparseloop design: (hardware, layer, LayerCost)."""
    name = ("sparseloop_dot_regfile_metadata.yaml" if case == "01.2.3-SCDU"
            else "sparseloop_dot_regfile.yaml")
    hw = hardware(name)
    layer = sparseloop_layer(case)
    return hw, layer, searched_cost(hw, layer)


# ------------------------------------------------------------------ side by side

def timeloop_utilisation(hw, cost):
    """Timeloop's definition: actual (executed) MACs over cycles x peak MACs per cycle."""
    return cost.executed_macs / (cost.cycles * hw.compute.macs_per_cycle)


def _pj(joules):
    return joules * 1e12


def rows_ex00():
    hw, _, c = run_ex00()
    ref, case = EX00, "timeloop ex00 conv1d"
    r, w, e = c.reads_bytes["Buffer"], c.writes_bytes["Buffer"], c.memory_energy_j["Buffer"]
    ours_total = r["weights"] + r["inputs"] + r["outputs"] + w["outputs"]
    return [
        Row(case, "MACs", c.executed_macs, ref["macs"]),
        Row(case, "cycles", c.cycles, ref["cycles"]),
        Row(case, "utilisation", c.utilisation, ref["utilisation"],
            f"Timeloop's definition: {timeloop_utilisation(hw, c):.2f}"),
        Row(case, "Buffer weight reads", r["weights"], ref["accesses"]["weights"]),
        Row(case, "Buffer input reads", r["inputs"], ref["accesses"]["inputs"]),
        Row(case, "Buffer output reads", r["outputs"], ref["accesses"]["output_reads"],
            "ours reads each partial sum before its first update (+M*N = 16)"),
        Row(case, "Buffer output updates", w["outputs"], ref["accesses"]["output_updates"]),
        Row(case, "Buffer accesses", ours_total, sum(ref["accesses"].values())),
        Row(case, "MAC energy pJ", _pj(c.mac_energy_j), ref["energy_pj"]["MAC"]),
        Row(case, "Buffer weights energy pJ", _pj(e["weights"]), ref["energy_pj"]["weights"]),
        Row(case, "Buffer inputs energy pJ", _pj(e["inputs"]), ref["energy_pj"]["inputs"]),
        Row(case, "Buffer outputs energy pJ", _pj(e["outputs"]), ref["energy_pj"]["outputs"]),
        Row(case, "total energy pJ", _pj(c.energy_j), ref["total_pj"]),
    ]


def rows_eyeriss():
    hw, layer, searched, replayed = run_eyeriss()
    ref = EYERISS
    rows = []
    for label, c in (("searched", searched), ("their reuse", replayed)):
        case = f"eyeriss_like AlexNet conv1 ({label})"
        word = 2.0
        rows += [
            Row(case, "MACs", c.executed_macs, ref["macs"]),
            Row(case, "cycles", c.cycles, ref["cycles"],
                f"compute {c.compute_cycles:.0f} + fill {c.fill_cycles:.0f} + drain "
                f"{c.drain_cycles:.0f}"),
            Row(case, "utilisation", c.utilisation, ref["utilisation"],
                f"Timeloop's definition: {timeloop_utilisation(hw, c):.3f}; theirs "
                f"{ref['utilised_pes']}/168 PEs"),
        ]
        for level in ref["accesses"]:
            reads = sum(c.reads_bytes[level].values()) / word
            writes = sum(c.writes_bytes[level].values()) / word
            their_r, their_w = ref["accesses"][level]
            rows.append(Row(case, f"{level} reads (words)", reads, their_r))
            rows.append(Row(case, f"{level} writes+fills (words)", writes, their_w))
        rows.append(Row(case, "MAC energy uJ", c.mac_energy_j * 1e6,
                        ref["energy_pj"]["MAC"] * 1e-6))
        for level in ref["accesses"]:
            note = "theirs: whole 4-word blocks" if level == "DRAM" else ""
            rows.append(Row(case, f"{level} energy uJ", c.energy_by_level[level] * 1e6,
                            ref["energy_pj"][level] * 1e-6, note))
        rows += [
            Row(case, "total energy uJ", c.energy_j * 1e6, ref["total_pj"] * 1e-6),
            Row(case, "energy per MAC pJ", _pj(c.energy_j) / layer.dense_macs,
                ref["pj_per_mac"]),
            Row(case, "DRAM share of energy", c.energy_by_level["DRAM"] / c.energy_j,
                ref["energy_pj"]["DRAM"] / ref["total_pj"]),
        ]
    return rows


def rows_sparseloop():
    rows = []
    for case, ref in SPARSELOOP.items():
        hw, _, c = run_sparseloop(case)
        label = f"sparseloop {case} ({ref['mode']})"
        r, w, e = c.reads_bytes["Buffer"], c.writes_bytes["Buffer"], c.memory_energy_j["Buffer"]
        meta_bits = r["weight_metadata"] * 8
        rows += [
            Row(label, "MACs executed", c.executed_macs, ref["computes"]),
            Row(label, "cycles", c.cycles, ref["cycles"]),
            Row(label, "utilisation", c.utilisation, ref["utilisation"],
                f"Timeloop's definition: {timeloop_utilisation(hw, c):.2f}"),
            Row(label, "A reads", r["weights"], ref["reads"]["A"]),
            Row(label, "A metadata bits read", meta_bits, ref["reads"]["A_metadata"] * 4,
                "theirs: 4-bit metadata words"),
            Row(label, "B reads", r["inputs"], ref["reads"]["B"]),
            Row(label, "Z reads", r["outputs"], ref["reads"]["Z"],
                "ours reads Z before its first update (+1)"),
            Row(label, "Z updates", w["outputs"], ref["Z_updates"]),
            Row(label, "MAC energy pJ", _pj(c.mac_energy_j), ref["energy_pj"]["MAC"]),
            Row(label, "A energy pJ", _pj(e["weights"] + e["weight_metadata"]),
                ref["energy_pj"]["A"], "payload + metadata"),
            Row(label, "B energy pJ", _pj(e["inputs"]), ref["energy_pj"]["B"]),
            Row(label, "Z energy pJ", _pj(e["outputs"]), ref["energy_pj"]["Z"]),
            Row(label, "total energy pJ", _pj(c.energy_j), sum(ref["energy_pj"].values())),
        ]
    return rows


def all_rows():
    return rows_ex00() + rows_eyeriss() + rows_sparseloop()


# ------------------------------------------------------------------ output

def _fmt(value):
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.4g}" if abs(value) < 1 else f"{value:,.2f}"


def _cells(row):
    ratio = row.ratio
    return [row.quantity, _fmt(row.ours), _fmt(row.theirs),
            "-" if ratio is None else f"{ratio:.3f}", row.note]


HEADER = ["quantity", "ours", "theirs", "ours/theirs", "note"]


def text_table(rows):
    """A plain-text table per case (for the terminal)."""
    out = []
    for case in dict.fromkeys(r.case for r in rows):
        cells = [_cells(r) for r in rows if r.case == case]
        widths = [max(len(x) for x in col) for col in zip(HEADER, *cells)]
        line = lambda cs: "  ".join(c.ljust(w) if i in (0, 4) else c.rjust(w)
                                    for i, (c, w) in enumerate(zip(cs, widths))).rstrip()
        out += [case, line(HEADER), line(["-" * w for w in widths])]
        out += [line(c) for c in cells] + [""]
    return "\n".join(out)


def markdown(rows):
    """validation.md: sources, the tables, the mapping assumptions and the limits."""
    out = ["# hwmodel against published Timeloop / Sparseloop outputs", "",
           "Generated by `python bench/validate_published.py` (analytical models only). "
           f"Reference outputs from the GitHub repository `{REPO}`:", "",
           f"- exercise 00: `{EX00['source']}` (commit {EX00['commit'][:10]}) and "
           "`ref-output/ERT.yaml`;",
           f"- eyeriss_like: `{EYERISS['source']}` (commit {EYERISS['commit'][:10]});"]
    out += [f"- sparseloop {case}: `{SPARSELOOP_DIR}{case}-dot-product/ref_outputs/"
            f"default_problem/timeloop-mapper.stats.txt` (commit {ref['commit'][:10]})"
            + (";" if i < len(SPARSELOOP) - 1 else ".")
            for i, (case, ref) in enumerate(SPARSELOOP.items())]
    out += ["", "Our descriptions: `bench/published/*.yaml` (each number with its source).", ""]
    for case in dict.fromkeys(r.case for r in rows):
        out += [f"## {case}", "", "| " + " | ".join(HEADER) + " |",
                "|" + "|".join(["---", "--:", "--:", "--:", "---"]) + "|"]
        out += ["| " + " | ".join(_cells(r)) + " |" for r in rows if r.case == case]
        out.append("")
    out += ["## Assumptions made in the mapping", ""] + [f"- {a}" for a in ASSUMPTIONS]
    out += ["", "## What our description cannot say", ""] + [f"- {x}" for x in LIMITS]
    return "\n".join(out) + "\n"


def main():
    rows = all_rows()
    print(text_table(rows))
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(markdown(rows), encoding="utf-8")
    print(f"wrote {OUTPUT}")
    bad = [r for r in rows if r.ours is not None and not math.isfinite(r.ours)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
