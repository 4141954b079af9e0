"""Development tools: the tiny TIR model of the CPU recipe and the run report that prints and plots a run."""
