"""The TIR loop: the turn protocol, the agent loop verl runs, the code runner and the per-trajectory record."""
