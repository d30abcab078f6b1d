"""quantpick: pick the right GGUF quant of a Hugging Face repo for your machine."""

__version__ = "0.1.0"
