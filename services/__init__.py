"""The shell that runs gridflow's processors: settings, runtimes, storage, CLI, metrics."""
