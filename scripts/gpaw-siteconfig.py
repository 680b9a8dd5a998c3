# GPAW build configuration used by scripts/setup.sh (serial build: seiflow parallelises over
# structures, one process per label). Debian's libxc-dev and libopenblas-dev provide the libraries.
mpi = False
compiler = 'g++'
libraries = ['xc', 'openblas']
