"""The training settings form: every setting, grouped, validated as it is typed.

Fields come from the engine's dataclasses (engine.project.TrainSettings and SampleSettings):
their type decides the editor (a text line, or a value that cycles with space/←/→ for
booleans and choices), their docstring is the help line, their metadata the allowed values.
A list of strings (the sample prompts) is a multi-line editor, one entry per line — a prompt
keeps its commas.  A value is checked with engine.project.set_setting as it is typed; a bad
value keeps the old one in the project and shows the message beside the field, and
:meth:`SettingsForm.problems` (which blocks starting a run) lists it.  The fields follow the
keys rule of tui.keys: the form opens with the form itself focused (not a field), Tab moves
between fields (wrapping) and selects the value so typing replaces it, Escape leaves a field.
Cross-field rules (bucket sizes around the resolution, 12/1/12 block weights, ...) come from
engine.project.validate.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
import typing

from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Input, Label, Static, TextArea

from engine import project as pj
from engine.errors import UserError
from tui.keys import FieldScroll

# Group → settings keys ("section.field").  Any TrainSettings field not listed here lands in
# "Other", so a setting added to the engine is never missing from the form.
GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("Network", ("train.output_name", "train.model", "train.network_dim", "train.network_alpha",
                 "train.conv_dim", "train.conv_alpha", "train.train_text_encoder")),
    ("Learning rates & schedule", (
        "train.epochs", "train.max_steps", "train.save_every_n_epochs", "train.learning_rate",
        "train.unet_lr", "train.text_encoder_lr", "train.optimizer", "train.weight_decay",
        "train.max_grad_norm", "train.lr_scheduler", "train.lr_warmup_steps",
        "train.lr_scheduler_num_cycles", "train.noise_offset", "train.min_snr_gamma",
        "train.seed", "train.nonfinite_patience", "train.nonfinite_lr_factor",
        "train.nonfinite_max_rollbacks")),
    ("Block weights", ("train.block_weight_preset", "train.down_lr_weight",
                       "train.mid_lr_weight", "train.up_lr_weight")),
    ("Data & buckets", (
        "train.repeats", "train.batch_size", "train.resolution", "train.enable_bucket",
        "train.min_bucket_reso", "train.max_bucket_reso", "train.bucket_reso_steps",
        "train.clip_skip", "train.keep_tokens", "train.shuffle_caption",
        "train.caption_dropout_rate", "train.caption_tag_dropout_rate")),
    ("Augmentation", ("train.color_aug", "train.flip_aug")),
    ("Precision & memory", ("train.mixed_precision", "train.save_precision",
                            "train.cache_latents", "train.gradient_checkpointing",
                            "train.compile")),
    ("Samples", ("train.sample_every_n_epochs", "samples.prompts", "samples.weights",
                 "samples.seeds", "samples.steps", "samples.cfg", "samples.width",
                 "samples.height", "samples.negative", "samples.sampler")),
]

# Names offered as completions for the block-weight preset (kohya / LBW names).
BLOCK_PRESETS = ["none", "seed", "ALL", "INS", "IND", "INALL", "MIDD", "OUTD", "OUTS", "OUTALL",
                 "sine", "cosine", "linear", "reverse_linear", "zeros"]
SECTIONS = {"train": pj.TrainSettings, "samples": pj.SampleSettings}


def all_groups() -> list[tuple[str, tuple[str, ...]]]:
    """GROUPS plus an "Other" group for train fields no group names."""
    listed = {k for _, keys in GROUPS for k in keys}
    other = tuple(f"train.{f.name}" for f in dataclasses.fields(pj.TrainSettings)
                  if f"train.{f.name}" not in listed)
    return GROUPS + ([("Other", other)] if other else [])


def field_info(key: str) -> tuple[type, dataclasses.Field, Any]:
    section, name = key.split(".", 1)
    cls = SECTIONS[section]
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    return cls, f, pj.type_hints(cls)[name]


def is_line_list(key: str) -> bool:
    """A list of strings (prompts): edited one entry per line, never split on commas."""
    tp = field_info(key)[2]
    return typing.get_origin(tp) is list and typing.get_args(tp) == (str,)


def lines_of(text: str) -> list[str]:
    """The entries of a one-per-line editor: each non-blank line, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def value_text(value: Any) -> str:
    """How a value is shown in a one-line editor (lists of numbers comma separated)."""
    if isinstance(value, list):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def cuda_gpu_visible() -> bool:
    """Whether an NVIDIA GPU looks usable here, found without importing torch (the TUI must
    start fast): the driver lists a GPU in /proc, or a device node exists (containers), or
    nvidia-smi and WSL's GPU bridge are present.  CUDA_VISIBLE_DEVICES="" / "-1" hides all."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    try:
        if gpus.is_dir() and any(gpus.iterdir()):
            return True
    except OSError:
        pass
    # device nodes: NVIDIA in containers, WSL's GPU bridge, ROCm (torch.cuda on AMD)
    if any(Path(p).exists() for p in ("/dev/nvidia0", "/dev/dxg", "/dev/kfd")):
        return True
    return False


def optimizer_note(optimizer: str, gpu: bool | None = None) -> str:
    """A warning for an optimizer this machine cannot run ("" when it can)."""
    if optimizer != "AdamW8bit":
        return ""
    gpu = cuda_gpu_visible() if gpu is None else gpu
    if not gpu:
        return "⚠ no CUDA GPU: use AdamW"
    if importlib.util.find_spec("bitsandbytes") is None:
        return "⚠ no bitsandbytes: use AdamW"
    return ""


def optimizer_warning(note: str) -> str:
    """The long form of :func:`optimizer_note`, for the form's status line and notifications."""
    why = ("no CUDA GPU is visible here" if "GPU" in note
           else "bitsandbytes is not installed")
    return (f"⚠ optimizer AdamW8bit needs a CUDA GPU and bitsandbytes, and {why}: a run would "
            "fail. Set optimizer to AdamW (space/←/→ on the field).")


def _dom_id(key: str) -> str:
    return key.replace(".", "--")


class CycleField(Static, can_focus=True):
    """A value chosen from a short list (booleans, choices): space/enter/→ next, ← previous."""

    BINDINGS = [Binding("space,enter,right", "cycle(1)", "next value", show=False,
                        id="setting-next-value"),
                Binding("left", "cycle(-1)", "previous value", show=False,
                        id="setting-previous-value")]
    DEFAULT_CSS = """
    CycleField { width: 26; height: 1; padding: 0 1; background: $boost; }
    CycleField:focus { background: $accent 40%; text-style: bold; }
    """

    class Changed(Message):
        def __init__(self, field: "CycleField", value: Any) -> None:
            super().__init__()
            self.field = field
            self.value = value

    def __init__(self, options: list[Any], value: Any, *, id: str) -> None:
        super().__init__(id=id)
        self.options = options
        self.value = value

    def _label(self) -> str:
        if isinstance(self.value, bool):
            return "[x] yes" if self.value else "[ ] no"
        return f"‹ {self.value} ›"

    def on_mount(self) -> None:
        self.update(Text(self._label()))

    def set_value(self, value: Any) -> None:
        self.value = value
        self.update(Text(self._label()))

    def action_cycle(self, delta: int) -> None:
        i = self.options.index(self.value) if self.value in self.options else 0
        self.set_value(self.options[(i + delta) % len(self.options)])
        self.post_message(self.Changed(self, self.value))


class SettingsForm(Vertical):
    """All training settings of ``project`` (edited in place), grouped, with validation."""

    DEFAULT_CSS = """
    SettingsForm { height: 1fr; }
    SettingsForm #form-status { height: auto; max-height: 5; padding: 0 1; color: $success; }
    SettingsForm #form-status.-bad { color: $text; background: $error; }
    SettingsForm #form-status.-warn { color: $text; background: $warning 40%; }
    SettingsForm #form-scroll { height: 1fr; }
    SettingsForm .rows { layout: grid; grid-size: 3; grid-columns: 26 26 1fr; grid-rows: 1;
                         height: auto; }
    SettingsForm .tall-row { height: auto; }
    SettingsForm .tall-row .err { width: 1fr; }
    SettingsForm #form-scroll:focus { background-tint: $foreground 3%; }
    SettingsForm TextArea { width: 26; height: 5; border: none; padding: 0 1; }
    SettingsForm TextArea:focus { border: none; background: $accent 30%; }
    SettingsForm TextArea.-invalid { background: $error 40%; }
    SettingsForm .group { height: 1; text-style: bold; color: $accent; padding: 0 1;
                          width: 1fr; }
    SettingsForm .name { width: 26; padding: 0 1; }
    SettingsForm Input { width: 26; height: 1; border: none; padding: 0 1; }
    SettingsForm Input:focus { border: none; background: $accent 30%; }
    /* Textual's Input draws a tall border when -invalid: on a one-row field that hides the
       text, so a bad value is shown by colour only. */
    SettingsForm Input.-invalid, SettingsForm Input.-invalid:focus { border: none;
                                                                    background: $error 40%; }
    SettingsForm .err { width: 1fr; color: $error; padding: 0 1; text-wrap: nowrap;
                        text-overflow: ellipsis; }
    SettingsForm .tall-row .err { text-wrap: wrap; }
    SettingsForm .err.-note { color: $warning; text-style: bold; }
    SettingsForm #form-help { height: 3; padding: 0 1; color: $text-muted;
                              border-top: solid $panel; }
    """

    class Changed(Message):
        """A valid value was applied to the project.  ``ok``: the project can be saved (no
        combination of values is refused; a field whose text is refused was never applied,
        so it does not hold the others back)."""

        def __init__(self, key: str, ok: bool) -> None:
            super().__init__()
            self.key = key
            self.ok = ok

    def __init__(self, project: pj.Project, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.project = project
        self.errors: dict[str, str] = {}
        self.cross_error = ""
        self.gpu = cuda_gpu_visible()
        """Whether a CUDA GPU is visible (checked once, without torch)."""

    # --- building ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="form-status")
        with FieldScroll(id="form-scroll"):
            for title, keys in all_groups():
                yield Label(f"── {title} ──", classes="group")
                # rows of one line share a grid; a multi-line editor gets a row of its own
                run: list[str] = []
                for key in [*keys, ""]:
                    if key and not is_line_list(key):
                        run.append(key)
                        continue
                    if run:
                        with Grid(classes="rows"):
                            for k in run:
                                yield from self._row(k)
                        run = []
                    if key:
                        with Horizontal(classes="tall-row"):
                            yield from self._row(key)
        yield Static("", id="form-help")

    def _row(self, key: str) -> ComposeResult:
        _, f, tp = field_info(key)
        value = self._get(key)
        yield Label(key.split(".", 1)[1], classes="name")
        editor: Widget
        if tp is bool:
            editor = CycleField([True, False], value, id=_dom_id(key))
        elif f.metadata.get("choices"):
            editor = CycleField(list(f.metadata["choices"]), value, id=_dom_id(key))
        elif is_line_list(key):
            editor = TextArea("\n".join(value), id=_dom_id(key), soft_wrap=True,
                              show_line_numbers=False)
        else:
            suggester = (SuggestFromList(BLOCK_PRESETS, case_sensitive=False)
                         if key == "train.block_weight_preset" else None)
            # select_on_focus: entering the field by Tab selects it, so typing replaces it
            editor = Input(value_text(value), id=_dom_id(key), suggester=suggester)
        editor.tooltip = self.help_for(key)
        yield editor
        note = self.note_for(key)
        yield Static(note, classes="err -note" if note else "err", id=f"err-{_dom_id(key)}")

    def on_mount(self) -> None:
        self._check_cross()

    def note_for(self, key: str) -> str:
        """A warning shown beside a valid value this machine cannot use ("" if none)."""
        if key == "train.optimizer":
            return optimizer_note(self.project.train.optimizer, self.gpu)
        return ""

    # --- values --------------------------------------------------------------------------

    def _get(self, key: str) -> Any:
        section, name = key.split(".", 1)
        return getattr(getattr(self.project, section), name)

    @staticmethod
    def help_for(key: str) -> str:
        section, name = key.split(".", 1)
        return pj.field_help(SECTIONS[section]).get(name, "")

    def apply(self, key: str, raw: Any) -> bool:
        """Check ``raw`` for ``key`` and put it into the project; False (and a message beside
        the field) when it is not allowed."""
        section, name = key.split(".", 1)
        target = SimpleNamespace(**{section: getattr(self.project, section)})
        try:
            pj.set_setting(target, key, raw)  # type: ignore[arg-type]
        except UserError as e:
            self.errors[key] = str(e)
            self._show_error(key, self.side_text(str(e), key))
            self._update_status()
            self._show_help(key)
            return False
        self.errors.pop(key, None)
        self._show_error(key, "")
        self._check_cross()
        self._show_help(key)
        return True

    @staticmethod
    def _short(message: str, key: str) -> str:
        """Drop the 'train.x = value' prefix: the message sits beside the field already."""
        for sep, lead in ((" is not allowed: ", ""), (" is not allowed ", "not allowed "),
                          (" is too ", "too ")):
            if sep in message:
                return lead + message.split(sep, 1)[1]
        return message

    @classmethod
    def side_text(cls, message: str, key: str) -> str:
        """The refusal as the slot beside the field shows it: 24 columns at 80, so the
        range's limit is said first and briefly ("too small (min 1)"); the help line under
        the form gives the whole message while the field has focus."""
        short = cls._short(message, key)
        for word, limit in (("small", "minimum"), ("large", "maximum")):
            lead = f"too {word}: the {limit} is "
            if short.startswith(lead):
                return f"too {word} ({limit[:3]} {short[len(lead):]})"
        if short.startswith("not allowed (") and "): " in short:  # "(it contains '/'): use …"
            why, _, rest = short[len("not allowed ("):].partition("): ")
            return f"{why}: {rest}"
        return short

    def _show_error(self, key: str, message: str) -> None:
        note = "" if message else self.note_for(key)
        try:
            slot = self.query_one(f"#err-{_dom_id(key)}", Static)
            editor = self.query_one(f"#{_dom_id(key)}")
        except Exception:
            return
        slot.update(Text(message or note))
        slot.set_class(bool(note), "-note")
        editor.set_class(bool(message), "-invalid")

    def _check_cross(self) -> None:
        try:
            pj.validate(self.project)
            self.cross_error = ""
        except UserError as e:
            self.cross_error = str(e)
        self._update_status()

    def problems(self) -> list[str]:
        """Everything that stops a run from starting, in form order."""
        out = [f"{k}: {self._short(self.errors[k], k)}" for _, keys in all_groups()
               for k in keys if k in self.errors]
        if self.cross_error:
            out.append(self.cross_error)
        return out

    def _update_status(self) -> None:
        try:
            status = self.query_one("#form-status", Static)
        except Exception:
            return
        problems = self.problems()
        status.set_class(bool(problems), "-bad")
        status.set_class(False, "-warn")
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            status.update(Text(f"✗ cannot start: {problems[0]}{more}"))
        else:
            note = self.note_for("train.optimizer")
            if note:
                status.set_class(True, "-warn")
                status.update(Text(optimizer_warning(note)))
                return
            status.update("✓ valid · ctrl+g start run · ctrl+s/ctrl+l save/load preset · "
                          "ctrl+o dashboard")

    def reload(self) -> None:
        """Show the project's current values again (after loading a preset)."""
        self.errors.clear()
        for _, keys in all_groups():
            for key in keys:
                value = self._get(key)
                try:
                    editor = self.query_one(f"#{_dom_id(key)}")
                except Exception:
                    continue
                if isinstance(editor, CycleField):
                    editor.set_value(value)
                elif isinstance(editor, TextArea):
                    with editor.prevent(TextArea.Changed):
                        editor.text = "\n".join(value)
                elif isinstance(editor, Input):
                    with editor.prevent(Input.Changed):
                        editor.value = value_text(value)
                self._show_error(key, "")
        self._check_cross()

    # --- events --------------------------------------------------------------------------

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id is None:
            return
        key = event.input.id.replace("--", ".", 1)
        if key not in self.errors and event.value == value_text(self._get(key)):
            return  # an Input reports its first value when mounted: nothing changed, no save
        if self.apply(key, event.value):
            self.post_message(self.Changed(key, not self.cross_error))

    @on(TextArea.Changed)
    def _lines_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        area = event.text_area
        if area.id is None or "--" not in area.id:
            return
        key = area.id.replace("--", ".", 1)
        entries = lines_of(area.text)
        if key not in self.errors and entries == self._get(key):
            return
        if self.apply(key, entries):
            self.post_message(self.Changed(key, not self.cross_error))

    @on(CycleField.Changed)
    def _cycle_changed(self, event: CycleField.Changed) -> None:
        event.stop()
        key = (event.field.id or "").replace("--", ".", 1)
        if self.apply(key, event.value):
            self.post_message(self.Changed(key, not self.cross_error))

    def on_descendant_focus(self, event: Any) -> None:
        widget = event.widget if hasattr(event, "widget") else None
        if widget is None or widget.id is None or "--" not in widget.id:
            return
        self._show_help(widget.id.replace("--", ".", 1))

    def _show_help(self, key: str) -> None:
        """The help line under the form: the focused field's docstring, or while its text is
        refused the whole refusal (the slot beside the field is one short row)."""
        focused = self.screen.focused if self.is_attached else None
        if focused is None or focused.id != _dom_id(key):
            return
        try:
            help_line = self.query_one("#form-help", Static)
        except Exception:
            return
        name = key.split(".", 1)[1]
        if key in self.errors:
            help_line.update(Text(f"✗ {name}: {self._short(self.errors[key], key)}",
                                  style="bold"))
        else:
            help_line.update(Text(f"{name}: {self.help_for(key)}"))
