"""Settings of the grow step (round two), kept apart from engine/project.py for its size."""

from __future__ import annotations

from dataclasses import dataclass

from engine.settings import opt

MAX_SEED = 2 ** 63 - 1


@dataclass
class GrowSettings:
    """Round two: new views of the character drawn with the first LoRA, kept by hand, retrained.

    Which candidates were kept or discarded is a decision, so it lives here (like
    ``reg.removed``); what made each candidate (prompt, seed, weight, strength, source crop) is
    in its PNG text chunks under ``grow/candidates/``."""

    lora: str = ""
    """LoRA file to draw with (relative to the project or absolute); empty = the picked one
    (output/<name>.safetensors), unless ``epoch`` names a run's epoch."""
    run: str = ""
    """Training run whose ``epoch`` to use; empty = samples.picked_run (only with epoch > 0)."""
    epoch: int = opt(0, min=0)
    """Epoch of ``run`` to draw with (0 = use ``lora`` / the picked LoRA)."""
    weight: float = opt(0.7, min=0.0, max=2.0)
    """LoRA weight while drawing candidates."""
    strength: float = opt(0.55, min=0.0, max=1.0)
    """img2img strength: 0 returns the crop, 1 ignores it."""
    txt2img_count: int = opt(8, min=0, max=10000)
    """Candidates drawn from prompts alone, per grow run."""
    img2img_count: int = opt(8, min=0, max=10000)
    """Candidates drawn from the training crops (and flipped crops), per grow run."""
    flip: bool = True
    """img2img also starts from the mirrored crops (every second img2img candidate)."""
    seed: int = opt(777, min=0, max=MAX_SEED)
    """Seed for prompt expansion and drawing; candidate N uses seed + N."""
    prompt: str = "__grow_view__, __grow_pose__, __grow_expression__, __grow_framing__"
    """txt2img prompt after the trigger, class and kept outfit tags ({a|b}, __wildcard__ files)."""
    img2img_prompt: str = "__grow_view__, __grow_expression__"
    """img2img prompt after the trigger, class and kept outfit tags: a new view or expression."""
    negative: str = "lowres, bad anatomy, bad hands, worst quality, low quality, multiple views"
    """Negative prompt."""
    steps: int = opt(25, min=1, max=200)
    """Sampling steps (img2img runs about strength × steps of them)."""
    cfg: float = opt(7.0, min=0.0, max=30.0)
    """Classifier-free guidance scale."""
    width: int = opt(512, min=64, max=2048)
    """txt2img width; img2img keeps the crop's aspect with its long side at max(width, height)."""
    height: int = opt(512, min=64, max=2048)
    """txt2img height."""
    sampler: str = opt("euler_a", choices=("euler_a", "euler", "dpmpp_2m", "ddim"))
    """Sampler."""
    repeats: int = opt(2, min=1, max=1000)
    """Repeats of the kept candidates' folder (lower than the crops' train.repeats)."""
    kept: list[int] = opt(factory=list)
    """Candidate numbers kept: they join the dataset as their own folder."""
    discarded: list[int] = opt(factory=list)
    """Candidate numbers discarded: never in the dataset, never drawn again."""
