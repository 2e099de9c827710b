"""Out-of-distribution edits applied to test batches, one per task.

Each edit is a pure function of a batch ``x`` (and a seed or ``torch.Generator``) that returns a new
tensor; the input is never modified in place.
"""

# --- seismic: a flat segment of fixed amplitude (seismic issue) -----------------------------------


# --- MRI: a small bright lesion (MRI issue) -------------------------------------------------------
