"""Reports of the main job: what the command line writes besides the terminal tables.

- ``outputs``   output paths checked before the work; one JSON layout for every command
- ``meta``      versions and the machine, recorded in every output
- ``measure``   whole-model, per-sparsity and per-layer times on this machine
- ``plots``     the pictures (speedup vs sparsity, energy breakdown, roofline, per-layer latency)
- ``markdown``  report.md;  ``folder``  the demo's report folder (report.md and the PNGs)
"""
