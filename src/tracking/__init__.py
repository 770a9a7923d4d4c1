"""Everything Aim: the repository and its index, the Lightning logger, saved views and the UI."""
