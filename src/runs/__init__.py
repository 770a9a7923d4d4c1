"""The run lifecycle: a run folder from start to finish, its files, tracking, loading it back."""
