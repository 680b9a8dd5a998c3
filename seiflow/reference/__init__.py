"""Reference electronic-structure methods (through ASE)."""
