"""onelora's engine: project model, image prep, tags, runs and (in torch modules) training.

Light modules (project, images, crops, tags, kohya, events, runs, wildcards) import no torch;
models, lora, data, train and sample do. Nothing here imports textual.
"""

__version__ = "0.1.0"


def offline_env() -> None:
    """Never reach the Hugging Face hub, and keep library chatter out of the output: runs report
    through their events.  Must run before huggingface_hub/transformers/diffusers are imported
    (docs/architecture.md: nothing may download at run time)."""
    import os

    for key, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"),
                       ("HF_HUB_DISABLE_PROGRESS_BARS", "1"), ("TRANSFORMERS_VERBOSITY", "error"),
                       ("DIFFUSERS_VERBOSITY", "error")):
        os.environ.setdefault(key, value)
