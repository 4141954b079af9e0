"""SimpleTIR on verl: multi-turn tool-integrated reasoning RL with void-turn filtering."""

__version__ = "0.1.0"
