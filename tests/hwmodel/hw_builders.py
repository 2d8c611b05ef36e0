"""Builders shared by the hwmodel tests (imported by name: pytest puts this folder on
sys.path): a small three-level machine whose numbers are easy to check by hand, and layers
matching a preset's native MAC type."""

from hwmodel import Compute, Hardware, Layer, MemoryLevel, Sparsity
from hwmodel.hardware import OPERANDS


def make_hw(glb=1 << 20, rf=4096, support="none", gated=None, efficiency=None, static_w=0.0,
            dram_bw=16.0, glb_bw=256.0, rf_bw=4096.0, macs=16, link=0.0):
    sparsity = Sparsity(support, gated, efficiency or dict.fromkeys(
        ("unstructured", "block", "vector"), 1.0))
    compute = Compute(macs_per_cycle=macs, clock_hz=1e9,
                      mac_energy_pj={"fp32": 4.6, "int8": 0.23}, sparsity=sparsity)
    memory = (MemoryLevel("dram", None, dram_bw, 160.0, 170.0, OPERANDS),
              MemoryLevel("glb", glb, glb_bw, 10.0, 12.0, OPERANDS, link_pj_per_byte=link),
              MemoryLevel("rf", rf, rf_bw, 1.0, 1.5, OPERANDS))
    return Hardware("tiny", compute, memory, static_power_w=static_w)


def native_layer(hw, name, M, K, N, **kw):
    """A Layer whose kind and widths match the hardware's native MAC type."""
    t = hw.compute.native_type
    kind = "int" if t.startswith("int") else "fp"
    bits = int(t[len(kind):])
    return Layer(name, M, K, N, value_bits=bits, activation_bits=bits, kind=kind, **kw)

