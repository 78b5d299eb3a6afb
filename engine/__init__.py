"""onelora's engine: project model, image prep, tags, runs and (in torch modules) training.

Light modules (project, images, crops, tags, kohya, events, runs, wildcards) import no torch;
models, lora, data, train and sample do. Nothing here imports textual.
"""

__version__ = "0.1.0"
