"""Build the compiled core. Metadata lives in pyproject.toml; this file only
lists the extension and its compiler flags."""
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class build_ext_openmp(build_ext):
    """Compile with OpenMP when the compiler accepts it, serially otherwise.

    FASTCONV_DISABLE_OPENMP=1 forces the serial build (used to test it).
    FASTCONV_OPT_FLAGS replaces -O3 (scripts/sanitize.sh builds at -O0,
    which compiles the instrumented kernels several times faster).
    """

    def finalize_options(self):
        super().finalize_options()
        # The four extensions compile independently: one per core (pip and
        # python -m build give no -j of their own).
        if not self.parallel:
            self.parallel = os.cpu_count() or 1

    def build_extensions(self):
        want = os.environ.get("FASTCONV_DISABLE_OPENMP", "0") != "1"
        openmp = want and self.compiler.compiler_type == "unix" and self._accepts("-fopenmp")
        for ext in self.extensions:
            ext.extra_compile_args += os.environ.get("FASTCONV_OPT_FLAGS", "-O3").split()
            if openmp:
                ext.extra_compile_args.append("-fopenmp")
                ext.extra_link_args.append("-fopenmp")
            ext.define_macros.append(("FASTCONV_OPENMP", "1" if openmp else "0"))
        super().build_extensions()

    def _accepts(self, flag):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "probe.c")
            with open(src, "w") as f:
                f.write("#include <omp.h>\nint main(void){return omp_get_max_threads() < 0;}\n")
            try:
                objs = self.compiler.compile([src], output_dir=tmp, extra_postargs=[flag])
                self.compiler.link_executable(objs, os.path.join(tmp, "probe"), extra_postargs=[flag])
            except Exception:
                return False
        return True


extensions = [
    Extension(
        "fastconv.backends._cython",
        ["fastconv/backends/_cython.pyx"],
        include_dirs=[numpy.get_include(), "fastconv/backends"],
        depends=["fastconv/backends/_corr_kernels.h", "fastconv/backends/_simd.h", "fastconv/backends/row.template.c",
                 "fastconv/backends/vector.template.c", "fastconv/backends/border.template.c"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    ),
    Extension(
        "fastconv.backends._winograd",
        ["fastconv/backends/_winograd.pyx"],
        include_dirs=[numpy.get_include(), "fastconv/backends"],
        depends=["fastconv/backends/_winograd_kernels.h", "fastconv/backends/winograd.template.c",
                 "fastconv/backends/winograd_drivers.template.c"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    ),
    Extension(
        "fastconv.backends._banded",
        ["fastconv/backends/_banded.pyx"],
        include_dirs=[numpy.get_include(), "fastconv/backends"],
        depends=["fastconv/backends/_banded_kernels.h", "fastconv/backends/banded.template.c",
                 "fastconv/backends/_corr_kernels.h", "fastconv/backends/_simd.h", "fastconv/backends/row.template.c",
                 "fastconv/backends/vector.template.c", "fastconv/backends/border.template.c"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    ),
    Extension(
        "fastconv.backends._direct",
        ["fastconv/backends/_direct.pyx"],
        include_dirs=[numpy.get_include(), "fastconv/backends"],
        depends=["fastconv/backends/_direct_kernels.h", "fastconv/backends/_simd.h",
                 "fastconv/backends/direct.template.c", "fastconv/backends/vector.template.c",
                 "fastconv/backends/_wgrad_kernels.h", "fastconv/backends/wgrad.template.c"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    ),
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True, "initializedcheck": False},
    ),
    cmdclass={"build_ext": build_ext_openmp},
    zip_safe=False,
)
