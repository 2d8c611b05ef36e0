from setuptools import find_packages, setup

EXTRAS = {
    "test": ["pytest>=8", "hypothesis>=6.100"],
    "bench": ["pytest-benchmark>=4", "threadpoolctl>=3", "onnx>=1.16", "onnxruntime>=1.18"],
    "distributed": ["dask[distributed]>=2024.1"],   # hwmodel.sweep on a Dask cluster
    "dataframe": ["pandas>=2"],                     # .to_dataframe() of every result
}
EXTRAS["all"] = sorted({req for reqs in EXTRAS.values() for req in reqs})

setup(
    name="sparsekit",
    version="0.1.0",
    description="Compressed sparse weight formats, fast Numba CPU kernels and an "
    "analytical memory-hierarchy model for pruned PyTorch models.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # The top-level kernels/ folder installs as sparsekit.kernels: a top-level package named
    # `kernels` would collide with Hugging Face's, which transformers imports.
    packages=find_packages(include=["sparsekit", "sparsekit.*", "hwmodel", "hwmodel.*"])
    + ["sparsekit.kernels"],
    package_dir={"sparsekit.kernels": "kernels"},
    package_data={"hwmodel": ["presets/*.yaml"]},
    install_requires=[
        "numpy>=1.26,<3",
        "scipy>=1.11,<2",
        "numba>=0.59,<1",
        "pyyaml>=6,<7",
        "torch>=2.2,<3",
        "tqdm>=4.60,<5",
        "matplotlib>=3.7,<4",   # the main job's report draws its pictures
    ],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["sparsekit = sparsekit.cli:main"]},
)
