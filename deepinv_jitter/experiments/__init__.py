"""The application on top of the library: tasks, presets, the experiment runner, checkpoints and
reports (see the package layout in the user guide)."""
