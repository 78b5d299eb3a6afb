"""A CLI command and the TUI saving the same project.toml: neither overwrites the other, and
keys this onelora does not know survive every save (issue 10's "the user's work is never lost",
for the CLI side and for settings written by a newer onelora or by hand)."""

from __future__ import annotations

import threading
import tomllib

from engine import crops as ec
from engine import project as pj
from engine import tags as tg
from engine.store import ProjectStore

FUTURE = '\n[future]\nsetting = "from a newer onelora"\n\n[train.future_table]\nx = 1\n'


def on_disk(project) -> dict:
    return tomllib.loads(project.path.read_text())


def test_a_slow_cli_command_saving_after_a_tui_edit_keeps_the_tui_edit(project):
    ec.auto_crops(project)
    cli = pj.load(project.root)  # `onelora caption` reads the project, then runs the tagger...
    tui = ProjectStore(project.root)  # ...while the TUI (another process) edits and saves
    edited = tui.load()
    edited.train.epochs = 3
    tg.edit_tag(edited, "add", "red_ribbon", edited.crop("face"))
    assert tui.save(edited).wrote
    tg.edit_tag(cli, "add", "smile", None)  # the CLI's captions land afterwards
    pj.save(cli)
    data = on_disk(project)
    assert data["train"]["epochs"] == 3
    face = next(c for c in data["crops"]["items"] if c["name"] == "face")
    assert {"red_ribbon", "smile"} <= {t["tag"] for t in face["tags"]}


def test_keys_this_onelora_does_not_know_survive_a_tui_save_and_a_merge(project):
    with project.path.open("a") as f:
        f.write(FUTURE)
    tui = ProjectStore(project.root)
    edited = tui.load()
    edited.train.epochs = 4
    assert tui.save(edited).wrote
    data = on_disk(project)
    assert data["future"] == {"setting": "from a newer onelora"}
    assert data["train"]["future_table"] == {"x": 1} and data["train"]["epochs"] == 4

    other = pj.load(project.root)  # another program changes a known key meanwhile
    other.train.network_dim = 8
    pj.save(other)
    edited.train.seed = 7
    report = tui.save(edited)
    assert report.merged
    data = on_disk(project)
    assert data["future"] == {"setting": "from a newer onelora"}
    assert (data["train"]["network_dim"], data["train"]["seed"]) == (8, 7)


def test_an_unknown_key_added_by_hand_while_the_tui_is_open_is_kept(project):
    tui = ProjectStore(project.root)
    edited = tui.load()
    with project.path.open("a") as f:  # the user adds a note with an editor
        f.write('\n[notes]\ntext = "try rank 32 next"\n')
    edited.train.epochs = 6
    tui.save(edited)
    data = on_disk(project)
    assert data["notes"] == {"text": "try rank 32 next"} and data["train"]["epochs"] == 6


def test_two_programs_saving_at_the_same_time_lose_no_edit(project):
    """Each 'program' is its own store (its own base and lock), as two processes would be;
    the folder lock makes their read-merge-write turns whole."""
    ec.auto_crops(project)
    names = [c.name for c in project.crops.items][:2]
    errors: list[BaseException] = []

    def program(crop: str) -> None:
        try:
            store = ProjectStore(project.root)
            mine = store.load()
            for i in range(15):
                tg.edit_tag(mine, "add", f"{crop}_tag_{i}", mine.crop(crop))
                store.save(mine)
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=program, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    data = on_disk(project)
    for crop in names:
        tags = {t["tag"] for c in data["crops"]["items"] if c["name"] == crop
                for t in c["tags"]}
        assert {f"{crop}_tag_{i}" for i in range(15)} <= tags
