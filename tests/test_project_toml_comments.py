"""A hand-edited project.toml keeps the user's comments and layout through every save.

Users annotate ``project.toml`` (and their presets) by hand; a save from the TUI or a CLI
command must change only the lines of the values that changed (engine/toml_edit.py), and the
file must still say exactly what the store merged."""

from __future__ import annotations

import difflib
import json
import re
import tomllib

import tomli_w

from engine import crops as ec
from engine import project as pj
from engine import tags as tg
from engine.cli import main
from engine.store import ProjectStore
from engine.toml_edit import dumps_onto, same

HEADER = "# Ribbon girl LoRA: my notes on top of the file\n# (edited by hand, keep them)\n\n"
NOTES = """
# my own table: onelora must keep it
[notes]
todo = "retrain with 8 epochs"  # after the con
ratio = 0.5
count = 3
done = false
colours = ["red", "blue"]
where = { shelf = 2, box = "b" }

[notes.deeper]
when = 2024-05-27
"""


def _value(v) -> str:
    return "[]" if v == [] else json.dumps(v).replace(",", ", ").replace(",  ", ", ")


def _crop_tables(crops: list[dict]) -> str:
    """The crops written by hand as ``[[crops.items]]`` tables, with comments."""
    out = "\n# the crops, one table each\n"
    for c in crops:
        out += "[[crops.items]]\n"
        for k, v in c.items():
            line = f"{k} = {_value(v)}"
            if c["name"] == "face" and k == "name":
                line += "  # my favourite crop"
            if c["name"] == "face" and k == "tags":
                line = "# tags: the tagger fills these\n" + line
            out += line + "\n"
        out += "\n"
    return out


def _in_section(text: str, section: str, key: str, edit) -> str:
    """``text`` with the line ``key = ...`` of ``[section]`` replaced by ``edit(line)``."""
    start = text.index(f"\n[{section}]\n")
    m = re.compile(rf"^{re.escape(key)} = .*$", re.M).search(text, start)
    return text[:m.start()] + edit(m.group(0)) + text[m.end():]


def hand_edit(project) -> str:
    """What a user makes of a fresh project.toml: a top comment, comments on keys and tables,
    blank lines, a value spelt their way, crops as tables and a ``[notes]`` table."""
    text = project.path.read_text()
    data = tomllib.loads(text)
    crops_start = text.index("\n[crops]\n")
    crops_end = text.index("\n[tags]\n")
    crops = ("\n[crops]\n"
             f"figure_box = {_value(data['crops']['figure_box'])}\n"
             f"face_box = {_value(data['crops']['face_box'])}  # I moved it by hand\n"
             + _crop_tables(data["crops"]["items"]))
    text = HEADER + text[:crops_start] + crops.rstrip("\n") + "\n" + text[crops_end:]
    text = text.replace('trigger = "zq_tester"\n', 'trigger = "zq_tester"  # the word I type\n')
    text = text.replace("\n[train]\n", "\n# training, tuned by hand\n[train]\n")
    text = _in_section(text, "train", "epochs", lambda line: line + "  # fewer overfits")
    text = _in_section(text, "train", "learning_rate",
                       lambda line: "learning_rate = 1e-3  # the guide says so")
    text = _in_section(text, "train", "seed", lambda line: "\n# fixed, so runs compare\n" + line)
    text = _in_section(text, "prep", "upscale_to", lambda line: line + "\n")  # a blank line
    text += NOTES
    project.path.write_text(text)
    assert tomllib.loads(text)["train"]["learning_rate"] == 0.001
    return text


def removed_and_added(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines of ``before`` that are not in ``after`` byte for byte (in order), and the
    new ones."""
    diff = list(difflib.ndiff(before.splitlines(keepends=True), after.splitlines(keepends=True)))
    return ([d[2:] for d in diff if d.startswith("- ")],
            [d[2:] for d in diff if d.startswith("+ ")])


def comments(text: str) -> list[str]:
    """Every comment, in order (the text from ``#``: the value before it may change)."""
    return [line[line.index("#"):] for line in text.splitlines() if "#" in line]


def strictly(project) -> dict:
    return tomllib.loads(project.path.read_text())


def test_saving_tags_and_settings_from_the_tui_keeps_every_comment_and_untouched_line(project):
    ec.auto_crops(project)
    before = hand_edit(project)
    tui = ProjectStore(project.root)
    edited = tui.load()
    tg.edit_tag(edited, "add", "red_ribbon", edited.crop("face"))
    edited.train.epochs = 3
    assert tui.save(edited).wrote
    after = project.path.read_text()
    removed, added = removed_and_added(before, after)
    assert removed == ["tags = []\n", "epochs = 10  # fewer overfits\n"]
    assert "epochs = 3  # fewer overfits\n" in added
    assert comments(after) == comments(before)
    assert after.startswith(HEADER) and after.endswith(NOTES)
    data = strictly(project)
    face = next(c for c in data["crops"]["items"] if c["name"] == "face")
    assert [t["tag"] for t in face["tags"]] == ["red_ribbon"]
    assert data["train"]["epochs"] == 3
    assert "learning_rate = 1e-3  # the guide says so\n" in after  # the user's spelling
    assert same(data, pj.file_dict(edited))  # exactly what the store saved


def test_a_cli_tag_command_keeps_the_hand_edited_comments(project):
    ec.auto_crops(project)
    before = hand_edit(project)
    assert main(["tag", str(project.root), "face", "--add", "blue_bow"]) == 0
    after = project.path.read_text()
    removed, _ = removed_and_added(before, after)
    assert removed == ["tags = []\n"]
    assert comments(after) == comments(before)
    face = next(c for c in strictly(project)["crops"]["items"] if c["name"] == "face")
    assert [t["tag"] for t in face["tags"]] == ["blue_bow"]


def test_the_cli_caption_command_keeps_comments_and_the_notes_table(project):
    ec.auto_crops(project)
    before = hand_edit(project)
    assert main(["caption", str(project.root), "--tags", "1girl, red_ribbon, smile"]) == 0
    after = project.path.read_text()
    assert comments(after) == comments(before)
    removed, _ = removed_and_added(before, after)
    assert set(removed) <= {"tags = []\n", "image_tags = []\n"}
    data = strictly(project)
    assert data["tags"]["image_tags"] == ["1girl", "red_ribbon", "smile"]
    assert data["notes"] == tomllib.loads(NOTES)["notes"]
    assert same(data, pj.file_dict(pj.load(project.root)))


def test_a_tui_save_merging_a_cli_edit_writes_exactly_the_merged_project_and_keeps_comments(
        project):
    ec.auto_crops(project)
    before = hand_edit(project)
    tui = ProjectStore(project.root)
    edited = tui.load()
    assert main(["tag", str(project.root), "face", "--add", "blue_bow"]) == 0  # meanwhile
    edited.train.network_dim = 8
    ec.remove_crop(edited, "bangs", save=False)
    report = tui.save(edited)
    assert report.wrote and report.merged
    after = project.path.read_text()
    assert comments(after) == comments(before)
    data = strictly(project)
    assert same(data, pj.file_dict(edited))  # the merged project, nothing more or less
    assert [c["name"] for c in data["crops"]["items"]] == [
        c.name for c in edited.crops.items]
    assert "bangs" not in [c["name"] for c in data["crops"]["items"]]
    assert 'name = "bangs"\n' not in after  # its whole table went
    assert data["train"]["network_dim"] == 8
    face = next(c for c in data["crops"]["items"] if c["name"] == "face")
    assert [t["tag"] for t in face["tags"]] == ["blue_bow"]
    # the face crop's comments stay with the face crop
    assert 'name = "face"  # my favourite crop\n' in after
    assert after.index("# tags: the tagger fills these") > after.index('name = "face"')


def test_a_setting_written_as_a_whole_number_is_saved_as_the_float_it_is(project):
    text = project.path.read_text()
    text = _in_section(text, "train", "network_alpha", lambda line: "network_alpha = 16  # int")
    project.path.write_text(text)
    assert isinstance(tomllib.loads(text)["train"]["network_alpha"], int)
    edited = pj.load(project.root)
    edited.train.epochs = 4
    pj.save(edited)
    after = project.path.read_text()
    assert "network_alpha = 16.0  # int\n" in after
    assert isinstance(strictly(project)["train"]["network_alpha"], float)


def test_a_new_project_file_still_reads_like_before(project):
    assert project.path.read_text() == pj.dumps(project)
    assert same(strictly(project), pj.file_dict(project))


# ---------------------------------------------------------------------------------------
# The editing itself (engine/toml_edit.py)
# ---------------------------------------------------------------------------------------

TYPES = """# every kind of value
a_float = 1.5  # f
an_int = 7
a_bool = true
a_string = 'literal'
an_array = [1, 2, 3]  # a
mixed = [[1, 2], ["x"]]
inline = { k = 1, inner = { deep = [1.0, 2.0] } }
when = 1979-05-27T07:32:00Z

[table]
# inside
x = 1

[table.nested]
y = "why"  # y

[[things]]
name = "one"  # first

[[things]]
name = "two"
"""


def test_every_type_round_trips_with_its_type_when_nothing_changes():
    data = tomllib.loads(TYPES)
    assert dumps_onto(TYPES, data) == TYPES


def test_changed_added_and_removed_values_keep_the_other_lines():
    data = tomllib.loads(TYPES)
    data["an_int"] = 2.0  # the type changes: written as a float
    data["a_bool"] = False
    data["inline"]["inner"]["deep"] = [3.0]
    data["table"]["nested"]["z"] = {"q": True}
    del data["an_array"]
    data["things"].insert(1, {"name": "between", "n": 5})
    data["new"] = [1, 2]
    out = dumps_onto(TYPES, data)
    assert same(tomllib.loads(out), data)
    assert isinstance(tomllib.loads(out)["an_int"], float)
    removed, added = removed_and_added(TYPES, out)
    assert removed == ["an_int = 7\n", "a_bool = true\n", "an_array = [1, 2, 3]  # a\n",
                       "inline = { k = 1, inner = { deep = [1.0, 2.0] } }\n"]
    assert "an_int = 2.0\n" in added and "a_bool = false\n" in added
    assert comments(out) == [c for c in comments(TYPES) if "# a" not in c]
    assert out.index('name = "between"') < out.index('name = "two"')


def test_tags_added_to_a_commented_array_keep_its_comments():
    text = 'tags = [\n    "smile",  # sure\n    "bow",\n]\n'
    out = dumps_onto(text, {"tags": ["smile", "bow", "hat"]})
    assert out == 'tags = [\n    "smile",  # sure\n    "bow",\n    "hat",\n]\n'
    out = dumps_onto(text, {"tags": ["smile"]})
    assert "# sure" in out and '"bow"' not in out
    assert tomllib.loads(out) == {"tags": ["smile"]}


def test_a_layout_tomlkit_cannot_edit_still_gets_exactly_the_content():
    data = {"a": {"b": 1}, "c": [{"x": 1}, {"x": 2}]}
    out = dumps_onto("not = [valid toml", data)
    assert same(tomllib.loads(out), data)
    assert same(tomllib.loads(dumps_onto("", data)), data)
    assert dumps_onto(None, data) == tomli_w.dumps(data)  # a new file reads as before


def test_saving_a_preset_over_a_hand_edited_one_keeps_its_comments(project):
    from tui.widgets.train_dialogs import load_preset, save_preset

    path = save_preset(project, "mine")
    text = path.read_text()
    text = "# my preset for small drawings\n" + _in_section(
        "\n" + text, "train", "epochs", lambda line: line + "  # enough")[1:]
    path.write_text(text)
    project.train.epochs = 12
    assert save_preset(project, "mine") == path
    after = path.read_text()
    assert after.startswith("# my preset for small drawings\n")
    assert "epochs = 12  # enough\n" in after
    removed, _ = removed_and_added(text, after)
    assert removed == ["epochs = 10  # enough\n"]
    project.train.epochs = 1
    load_preset(project, "mine")
    assert project.train.epochs == 12


def test_later_tui_saves_edit_the_kept_document_like_a_fresh_read_would(project):
    """The store keeps the document it wrote (no re-parse per save): each later save must give
    the same text as editing the file read afresh."""
    ec.auto_crops(project)
    before = hand_edit(project)
    tui = ProjectStore(project.root)
    edited = tui.load()
    edits = [lambda p: tg.edit_tag(p, "add", "red_ribbon", p.crop("face")),
             lambda p: tg.edit_tag(p, "add", "hat", None),
             lambda p: setattr(p.train, "epochs", 7),
             lambda p: tg.edit_tag(p, "remove", "red_ribbon", p.crop("face")),
             lambda p: ec.remove_crop(p, "bangs", save=False)]
    for edit in edits:
        text = project.path.read_text()
        edit(edited)
        assert tui.save(edited).wrote
        after = project.path.read_text()
        assert after == dumps_onto(text, pj.file_dict(edited))
        assert comments(after) == comments(before)
        assert same(strictly(project), pj.file_dict(edited))


def test_a_key_added_to_an_inline_table_keeps_it_inline_with_its_comment():
    text = '[notes]\nwhere = { shelf = 2 }  # the drawing\nafter = 1\n'
    out = dumps_onto(text, {"notes": {"where": {"shelf": 2, "box": "b"}, "after": 1}})
    assert out == '[notes]\nwhere = { shelf = 2, box = "b" }  # the drawing\nafter = 1\n'
