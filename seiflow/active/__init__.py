"""Active learning (Scheme 1 of Li et al., Mater. Horiz. 2025): sampling, exploration with the
extrapolation grade, selection."""
