"""Builds seiflow's compiled MTP evaluator (seiflow/potentials/mtp/_mtpkernel.c).

Everything else is in pyproject.toml. The extension is optional: if it does not compile, the
install still succeeds and seiflow's MTP falls back to motep's engine (with a warning). OpenMP
(-fopenmp) is used when the compiler accepts it, else the kernel runs serial. The source is C
that also compiles as C++ (scripts/setup.sh sets CC=g++ for GPAW).
"""

from __future__ import annotations

import os
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNEL = "seiflow.potentials.mtp._mtpkernel"


def _accepts(compiler, flags: list[str]) -> bool:
    """Whether ``compiler`` compiles and links a tiny OpenMP program with ``flags``."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp.c")
        with open(src, "w") as f:
            f.write("#include <omp.h>\nint main(void){return omp_get_max_threads() < 0;}\n")
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(objs, os.path.join(tmp, "omp"), extra_postargs=flags)
        except Exception:  # noqa: BLE001 - any failure means: no OpenMP
            return False
    return True


class BuildExt(build_ext):
    def build_extensions(self):
        omp = ["-fopenmp"] if _accepts(self.compiler, ["-fopenmp"]) else []
        for ext in self.extensions:
            ext.extra_compile_args = ["-O3", *omp]
            ext.extra_link_args = [*omp]
        super().build_extensions()


setup(
    ext_modules=[Extension(KERNEL, sources=["seiflow/potentials/mtp/_mtpkernel.c"],
                           depends=["seiflow/potentials/mtp/_mtptrain.h",
                                    "seiflow/potentials/mtp/_mtpmd.h"],
                           optional=True)],
    cmdclass={"build_ext": BuildExt},
)
