"""Runtime: background workers, how they are run, and the operational facts they report."""
