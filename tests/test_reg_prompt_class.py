"""The regularization prompt starts with the project's class word as a tag (a "girl" project
drew reg images of "1woman"): `onelora new --class boy` writes 1boy, an old project still
holding the fixed 1woman default gets its class's prompt on load, a class change on the Tags
screen carries an untouched default along, and a prompt the user wrote is never replaced."""

from __future__ import annotations

import tomllib

import pytest

from engine import crops as ec
from engine import project as pj
from engine import reg
from engine.cli import main
from tui.app import OneloraApp

SIZE = (80, 24)
TAIL = "solo, clothes, __expression__, __camera__, {indoors|outdoors}"


def _stored_prompt(root) -> str:
    return tomllib.loads((root / "project.toml").read_text())["reg"]["prompt"]


@pytest.mark.parametrize("cls, tag", [("girl", "1girl"), ("boy", "1boy"), ("woman", "1woman"),
                                      ("man", "1man"), ("other", "1other"), ("cat", "cat")])
def test_new_project_reg_prompt_starts_with_the_class_tag(tmp_path, small_image, cls, tag):
    root = tmp_path / "proj"
    assert main(["new", str(small_image), str(root), "--trigger", "zq_tester",
                 "--class", cls]) == 0
    assert _stored_prompt(root) == f"{tag}, {TAIL}"


def test_default_reg_settings_match_the_default_class():
    assert pj.RegSettings().prompt == reg.default_prompt(pj.Project().class_name)
    assert reg.class_tag(" Girl ") == "1girl"


def test_an_old_project_with_the_fixed_1woman_default_gets_its_class_prompt(project):
    text = project.path.read_text().replace(f"1girl, {TAIL}", f"1woman, {TAIL}")
    project.path.write_text(text)
    assert _stored_prompt(project.root).startswith("1woman, ")
    assert pj.load(project.root).reg.prompt == f"1girl, {TAIL}"


def test_a_prompt_the_user_wrote_is_kept_on_load_and_on_a_class_change(project):
    project.reg.prompt = "1woman, red dress, {indoors|outdoors}"
    pj.save(project)
    loaded = pj.load(project.root)
    assert loaded.reg.prompt == "1woman, red dress, {indoors|outdoors}"
    loaded.class_name = "boy"
    assert reg.follow_class(loaded, "girl") is False
    assert loaded.reg.prompt == "1woman, red dress, {indoors|outdoors}"


async def _class_to_boy_on_the_tags_screen(project) -> list[str]:
    """Open the Tags screen, type the class word boy (c), save; the notices shown."""
    app = OneloraApp(project.root)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("c", *["backspace"] * 8, *"boy", "enter")
        await pilot.pause()
        assert app.flush_project()
        return [n.message for n in app._notifications]


async def test_class_change_on_the_tags_screen_carries_the_default_reg_prompt(project):
    ec.auto_crops(project)
    shown = await _class_to_boy_on_the_tags_screen(project)
    assert pj.load(project.root).class_name == "boy"
    assert _stored_prompt(project.root) == f"1boy, {TAIL}"
    assert any("reg prompt follows: 1boy" in m for m in shown)


async def test_class_change_on_the_tags_screen_keeps_an_edited_reg_prompt(project):
    ec.auto_crops(project)
    project.reg.prompt = "1girl, school uniform, {indoors|outdoors}"
    pj.save(project)
    await _class_to_boy_on_the_tags_screen(project)
    assert pj.load(project.root).class_name == "boy"
    assert _stored_prompt(project.root) == "1girl, school uniform, {indoors|outdoors}"
