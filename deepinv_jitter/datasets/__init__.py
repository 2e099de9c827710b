"""Datasets: synthetic and SEG-Y seismic sections, embedded and fastMRI MRI slices."""
