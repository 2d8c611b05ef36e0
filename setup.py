from setuptools import find_packages, setup

setup(
    name="sparsekit",
    version="0.1.0",
    description="Compressed sparse weight formats, fast Numba CPU kernels and an "
    "analytical memory-hierarchy model for pruned PyTorch models.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["sparsekit", "sparsekit.*", "kernels", "kernels.*",
                                    "hwmodel", "hwmodel.*"]),
    package_data={"hwmodel": ["presets/*.yaml"]},
    install_requires=[
        "numpy>=1.26,<3",
        "scipy>=1.11,<2",
        "numba>=0.59,<1",
        "pyyaml>=6,<7",
        "torch>=2.2,<3",
        "tqdm>=4.60,<5",
    ],
    extras_require={
        "test": ["pytest>=8", "hypothesis>=6.100"],
        "bench": ["pytest-benchmark>=4", "matplotlib>=3.7", "threadpoolctl>=3",
                  "onnx>=1.16", "onnxruntime>=1.18"],
    },
    entry_points={"console_scripts": ["sparsekit = sparsekit.cli:main"]},
)
