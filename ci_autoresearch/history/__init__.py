"""Git as the checkpoint: notes, resume state, convergence, recovery after a kill."""
