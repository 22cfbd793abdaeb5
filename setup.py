"""Build glue that pyproject.toml cannot express: the directory mapping and the native extension.

codec/ is installed as `rcodec`, entropy/ as `rcodec.entropy`, plugins/ as `rcodec.plugins` (one sub-package per
built-in plugin), and csrc/ is compiled into `rcodec._native`.
"""

from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

ROOT = Path(__file__).parent
PACKAGE_DIRS = {"rcodec": "codec", "rcodec.entropy": "entropy", "rcodec.plugins": "plugins"}


def discover_packages() -> list[str]:
    packages = []
    for name, folder in PACKAGE_DIRS.items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            relative = init.parent.relative_to(ROOT / folder)
            packages.append(".".join([name, *relative.parts]))
    return packages


native = Pybind11Extension(
    "rcodec._native",
    sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc").glob("*.cpp")),
    include_dirs=["csrc"],
    cxx_std=17,
    extra_compile_args=["-O3"],
)

# A plugin may carry its own native kernel: the lossless codec's LPC synthesis loop.
lossless_lpc = Pybind11Extension(
    "rcodec.plugins.lossless._lpc", ["plugins/lossless/lpc.cpp"], cxx_std=17, extra_compile_args=["-O3"]
)

# The context-mixing lossless image coder (its own threads; integer arithmetic only).
lossless_cmimage = Pybind11Extension(
    "rcodec.plugins.lossless._cmimage", ["plugins/lossless/cm_image.cpp"], cxx_std=17, extra_compile_args=["-O3"]
)

# The exact HCLT conditionals: no fused multiply-add, so every sum is the same IEEE result on every machine.
pc_kernel = Pybind11Extension(
    "rcodec.entropy.pc._kernel", ["entropy/pc/kernel.cpp"], cxx_std=17, extra_compile_args=["-O3", "-ffp-contract=off"]
)

# Exact JPEG recompression: the JPEG parser/re-encoder and the coefficient context model.
jpeg_kernel = Pybind11Extension(
    "rcodec.plugins.jpeg._jpegcm",
    ["plugins/jpeg/format.cpp", "plugins/jpeg/model.cpp", "plugins/jpeg/module.cpp"],
    include_dirs=["plugins/jpeg"],
    cxx_std=17,
    extra_compile_args=["-O3"],
)

setup(
    packages=discover_packages(),
    package_dir=PACKAGE_DIRS,
    ext_modules=[native, lossless_lpc, lossless_cmimage, pc_kernel, jpeg_kernel],
    cmdclass={"build_ext": build_ext},
)
