"""Itemised byte counts of a compressed matrix: what its kernel reads, nothing hidden."""
import numbers
from dataclasses import asdict, dataclass

VALUE_BITS = (8, 16, 32, 64)
INDEX_BITS = (8, 16, 32, 64)


@dataclass(frozen=True)
class Storage:
    """Bytes of each part of a format. ``total`` is their sum."""

    format: str
    values: int
    indices: int
    pointers: int
    bitmap: int
    value_bits: int
    index_bits: int

    @property
    def metadata(self) -> int:
        """Everything that is not a value: indices + pointers + bitmap."""
        return self.indices + self.pointers + self.bitmap

    @property
    def total(self) -> int:
        return self.values + self.metadata

    def to_dict(self) -> dict:
        return {**asdict(self), "metadata": self.metadata, "total": self.total}

    def __str__(self) -> str:
        return (f"{self.format} storage ({self.value_bits}-bit values, {self.index_bits}-bit "
                f"indices): values {self.values:,} B + indices {self.indices:,} B + pointers "
                f"{self.pointers:,} B + bitmap {self.bitmap:,} B = {self.total:,} B")


def bits_needed(max_value: int) -> int:
    """Smallest width in INDEX_BITS that holds the unsigned integer ``max_value``."""
    for bits in INDEX_BITS:
        if max_value < (1 << bits):
            return bits
    raise ValueError(f"{max_value} does not fit in 64 bits")


def check_value_bits(value_bits: int) -> int:
    if not _is_int(value_bits) or value_bits not in VALUE_BITS:
        raise ValueError(f"value_bits must be one of {VALUE_BITS}, got {value_bits!r}")
    return int(value_bits)


def check_index_bits(index_bits: int | None, max_index: int) -> int:
    """Validate an index width against the largest index it must hold (None: the smallest)."""
    needed = bits_needed(max_index)
    if index_bits is None:
        return needed
    if not _is_int(index_bits) or index_bits not in INDEX_BITS:
        raise ValueError(f"index_bits must be one of {INDEX_BITS}, got {index_bits!r}")
    if index_bits < needed:
        raise ValueError(f"index_bits={index_bits} cannot hold index {max_index}; "
                         f"at least {needed} bits are needed")
    return int(index_bits)


def _is_int(bits) -> bool:
    """An integer that is not a bool (32.0 or True is no bit width)."""
    return isinstance(bits, numbers.Integral) and not isinstance(bits, bool)
