"""Automated gradual pruning (Zhu & Gupta 2017), as a stepper for a training loop.

The schedule is Distiller's AutomatedGradualPruner: pruning happens at the steps
``t = start, start + frequency, ...`` with ``t < end``; at those steps each selected layer is
pruned by magnitude to

    s(t) = s_f + (s_i - s_f) · (1 - (t - start) / span)³,
    span = ((end - start - 1) // frequency) · frequency,

so the first pruning step reaches ``initial_sparsity`` and the last one (``start + span``)
reaches ``final_sparsity``. Between pruning steps and after the last one the masks stay as
they are (weights already pruned stay pruned: they rank lowest next time). "Step" is whatever
unit the loop counts: epochs in Distiller's schedules, or mini-batches.
"""
from __future__ import annotations

from sparsekit.prune import masks as M
from sparsekit.prune.apply import apply_masks, check_layers, compute_masks, layer_sparsity
from sparsekit.prune.select import select_layers


class AGP:
    """``agp = AGP(model, final_sparsity=0.9, end_step=30)``; call ``agp.step()`` once per
    step (or ``agp.step(t)``); it prunes when the schedule says so and returns the target
    sparsity in force.

    Remaining keyword arguments choose what to prune and how, as in ``sk.prune.magnitude``:
    structure ("element", "filter", "channel", "block", "vector"), scope, norm, block, vector,
    include, exclude, types.
    """

    def __init__(self, model, final_sparsity, *, initial_sparsity=0.0, start_step=0,
                 end_step, frequency=1, structure="element", scope="layer", norm="l1",
                 block=(4, 4), vector=8, include=None, exclude=None, types=None,
                 name="weight"):
        self.final_sparsity = M.check_level(final_sparsity, "final_sparsity")
        self.initial_sparsity = M.check_level(initial_sparsity, "initial_sparsity")
        if self.initial_sparsity >= self.final_sparsity:
            raise ValueError(f"initial_sparsity ({initial_sparsity}) must be below "
                             f"final_sparsity ({final_sparsity})")
        for label, v in (("start_step", start_step), ("end_step", end_step),
                         ("frequency", frequency)):
            if not M._is_int(v):
                raise TypeError(f"{label} must be an integer, got {v!r}")
        if frequency < 1:
            raise ValueError(f"frequency must be >= 1, got {frequency}")
        self.start, self.end, self.frequency = int(start_step), int(end_step), int(frequency)
        self.span = ((self.end - self.start - 1) // self.frequency) * self.frequency
        if self.span <= 0:
            raise ValueError(f"the schedule needs at least two pruning steps: start_step="
                             f"{start_step}, end_step={end_step}, frequency={frequency} "
                             "leave none between them")
        if M.check_structure(structure) == "nm":
            raise ValueError("N:M has one fixed level; AGP schedules magnitude levels")
        self.model, self.name = model, name
        self.layers = select_layers(model, include, exclude, types, name)
        self.options = dict(structure=structure, scope=scope, norm=norm, block=block,
                            vector=vector, name=name)
        compute_masks(self.layers[:0], sparsity=self.final_sparsity, **self.options)  # validate
        check_layers(self.layers, name)
        self.current_step = -1
        self.current_sparsity = 0.0

    def is_pruning_step(self, step: int) -> bool:
        return self.start <= step < self.end and (step - self.start) % self.frequency == 0

    def target(self, step: int) -> float:
        """The sparsity the schedule asks for at ``step`` (0 before the start, the final
        level after the last pruning step)."""
        if step < self.start:
            return 0.0
        t = min(step - self.start, self.span)
        t -= t % self.frequency
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * \
            (1.0 - t / self.span) ** 3

    def step(self, step: int | None = None) -> float:
        """Advance to ``step`` (default: the next one); prune if it is a pruning step.
        Returns the target sparsity now in force."""
        step = self.current_step + 1 if step is None else int(step)
        self.current_step = step
        if self.is_pruning_step(step):
            level = self.target(step)
            masks = compute_masks(self.layers, sparsity=level, **self.options)
            apply_masks(self.model, masks, self.name)
            self.current_sparsity = level
        return self.current_sparsity

    def sparsity(self) -> dict:
        """{layer: share of zero weights} now."""
        return layer_sparsity(self.model, [n for n, _ in self.layers], name=self.name)

    def schedule(self) -> list[tuple[int, float]]:
        """[(step, target sparsity)] of every pruning step."""
        return [(t, self.target(t)) for t in range(self.start, self.end, self.frequency)]
