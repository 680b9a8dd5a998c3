"""Property calculations (lattice/EOS, elastic constants, phonons, NEB, interface energies)
run with any calculator factory: the validation suite runs each with the potential and with the
reference labeler."""
