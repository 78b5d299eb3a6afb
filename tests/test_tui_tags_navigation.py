"""Tags screen navigation, from a new-user walk at 80×24 (caption each crop, prune the traits):
which crop a key acts on when the selected crop is removed elsewhere, the frequency view's
keys, which list has the focus, the trigger/class fields, and a footer that fits."""

from __future__ import annotations

from engine import crops as ec
from engine import project as pj
from engine import tags as tg
from engine.cli import main as cli
from tui.app import OneloraApp
from tui.widgets.tag_checklist import FrequencyList, TagChecklist
from tui_journey import SIZE, on_disk, settle

TAGS = ["1girl", "long_hair", "smile", "dress", "hair_bow"]


def tag_states(root) -> dict[str, dict[str, bool]]:
    """crop → tag → kept, as project.toml holds them."""
    return {c["name"]: {t["tag"]: t["kept"] for t in c.get("tags", [])}
            for c in on_disk(root)["crops"]["items"]}


def notes(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


def footer_text(app) -> str:
    """The footer row as a user sees it: the keys whose cells lie inside the 80 columns (the
    palette key is docked on the right and covers what runs under it)."""
    from textual.widgets._footer import FooterKey

    footer = app.screen.query_one("Footer")
    right = footer.region.right
    for key in footer.query(FooterKey).filter(".-command-palette"):
        right = min(right, key.region.x)
    shown = []
    for key in footer.query(FooterKey).exclude(".-command-palette"):
        region = key.region
        if region.width and region.right <= right:
            shown.append(f"{key.key_display} {key.description}".strip())
    return " ".join(shown)


async def to_crop_list(pilot) -> None:
    """Tab to the crop list unless it has the focus already (like a user looking at it)."""
    if pilot.app.focused is not pilot.app.screen.query_one("#crop-list"):
        await pilot.press("tab")
    assert pilot.app.focused is pilot.app.screen.query_one("#crop-list")


def tagged_project(project) -> pj.Project:
    ec.auto_crops(project)
    tg.tag_crops(project, TAGS)
    pj.save(project)
    return project


async def test_a_crop_removed_in_another_shell_moves_to_its_neighbour_and_no_key_acts_unseen(
        project):
    tagged_project(project)
    names = [c.name for c in project.crops.items]
    app = OneloraApp(project.root, start_mode="tags")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        await to_crop_list(pilot)
        await pilot.press("end")  # the last crop
        assert screen.crop_name == names[-1]
        before = tag_states(project.root)
        assert cli(["crops", str(project.root), "--remove", names[-1]]) == 0
        await pilot.pause(1.3)  # the TUI picks up the changed project.toml
        assert screen.crop_name == names[-2]  # the neighbour, not the first crop
        assert any(names[-1] in n and names[-2] in n for n in notes(app))
        await pilot.press("tab", "space")  # a reflex: into the tags, toggle the first one
        await pilot.pause()
        app.flush_project()
        after = tag_states(project.root)
        assert after == {n: t for n, t in before.items() if n != names[-1]}  # nothing changed
        tag = screen.query_one(TagChecklist).highlighted_tag()
        await pilot.press("space")  # now seen: it acts on the crop shown
        await pilot.pause()
        app.flush_project()
        after = tag_states(project.root)
        assert after[names[-2]][tag] != before[names[-2]][tag]
        assert all(after[n] == before[n] for n in names[:-2])
        await pilot.press("q")


async def test_a_crop_removed_on_the_crops_screen_leaves_the_tags_list_at_its_neighbour(project):
    tagged_project(project)
    names = [c.name for c in project.crops.items]
    app = OneloraApp(project.root, start_mode="tags")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        tags = app.screen
        await to_crop_list(pilot)
        await pilot.press("down", "down")
        assert tags.crop_name == names[2]
        await pilot.press("1")
        await settle(app, pilot)
        crops = app.screen
        for _ in range(len(names)):
            if crops.selected_name() == names[2]:
                break
            await pilot.press("tab")
        await pilot.press("x")  # remove the crop (u brings it back)
        await settle(app, pilot)
        app.flush_project()
        assert names[2] not in [c["name"] for c in on_disk(project.root)["crops"]["items"]]
        await pilot.press("2")
        await settle(app, pilot)
        listed = tags.query_one("#crop-list")
        assert [listed.get_option_at_index(i).id for i in range(listed.option_count)] == \
            [n for n in names if n != names[2]]
        assert tags.crop_name == names[3]
        before = tag_states(project.root)
        await pilot.press("enter", "space")  # refused once: the crop changed unseen
        await pilot.pause()
        app.flush_project()
        assert tag_states(project.root) == before
        await pilot.press("q")


async def test_frequency_view_opens_on_a_tag_and_x_removes_it_everywhere_then_u_undoes(project):
    tagged_project(project)
    app = OneloraApp(project.root, start_mode="tags")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("f")
        await pilot.pause()
        freq = app.screen.query_one(FrequencyList)
        assert app.focused is freq
        tag = freq.highlighted_tag()
        assert tag in TAGS  # a tag row, not the header
        await pilot.press("x")
        await pilot.pause()
        app.flush_project()
        assert all(tag not in t for t in tag_states(project.root).values())
        assert freq.highlighted_tag() is not None  # still on a tag after the rebuild
        await pilot.press("u")
        await pilot.pause()
        app.flush_project()
        assert all(tag in t for t in tag_states(project.root).values())
        await pilot.press("space")  # keep/prune on every crop
        await pilot.pause()
        app.flush_project()
        kept = {t[tag] for t in tag_states(project.root).values()}
        assert len(kept) == 1  # the same state on every crop
        await pilot.press("q")


async def test_entering_tags_focuses_the_crop_list_and_the_footer_names_the_list(project):
    tagged_project(project)
    names = [c.name for c in project.crops.items]
    app = OneloraApp(project.root)  # opens on the crops screen
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        screen = app.screen
        assert app.focused is screen.query_one("#crop-list")
        assert "⏎ Edit tags" in footer_text(app)
        await pilot.press("down")  # moves in the crops: the one the user sees highlighted
        assert screen.crop_name == names[1]
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is screen.query_one(TagChecklist)
        assert "space Toggle" in footer_text(app) and "Edit tags" not in footer_text(app)
        before = tag_states(project.root)
        tag = screen.query_one(TagChecklist).highlighted_tag()
        await pilot.press("space")
        await pilot.pause()
        app.flush_project()
        after = tag_states(project.root)
        assert after[names[1]][tag] != before[names[1]][tag]
        assert all(after[n] == before[n] for n in names if n != names[1])
        await pilot.press("left")  # back to the crops
        assert app.focused is screen.query_one("#crop-list")
        await pilot.press("q")


async def test_trigger_and_class_fields_replace_on_typing_cancel_on_escape_save_on_enter(project):
    tagged_project(project)
    app = OneloraApp(project.root, start_mode="tags")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("c")
        field = app.focused
        assert field.id == "class" and field.cursor_position == len("girl")
        await pilot.press("ctrl+a", *"woman", "enter")  # ctrl+a selects, typing replaces
        await pilot.pause()
        assert on_disk(project.root)["class_name"] == "woman"
        await pilot.press("t", *"other")  # opens selected: typing replaces the word
        assert app.focused.value == "other"
        await pilot.press("escape")  # cancels
        await pilot.pause()
        assert on_disk(project.root)["trigger"] == "zq_tester"
        assert app.screen.query_one("#trigger").value == "zq_tester"
        await pilot.press("t", "home", *"x")  # home deselects: the word stays
        assert app.focused.value == "xzq_tester"
        await pilot.press("enter")
        await pilot.pause()
        assert on_disk(project.root)["trigger"] == "xzq_tester"
        await pilot.press("q")


async def test_every_tags_footer_fits_80_columns_with_help(project):
    tagged_project(project)
    app = OneloraApp(project.root, start_mode="tags")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        seen = []
        for keys in ((), ("enter",), ("f",), ("left",)):
            await pilot.press(*keys)
            await pilot.pause(0.2)
            text = footer_text(app)
            seen.append(text)
            assert "? Help" in text and "C Caption" in text and "5 Samples" in text, text
        assert "space Toggle" in seen[2]  # the frequency view's own key
        await pilot.press("q")


async def test_tab_from_the_trigger_to_the_class_keeps_the_new_trigger(project):
    tagged_project(project)
    app = OneloraApp(project.root, start_mode="tags")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("t", *"zq_new", "tab")
        await pilot.pause()
        assert app.focused.id == "class"
        assert on_disk(project.root)["trigger"] == "zq_new"  # it was put back on leaving
        await pilot.press(*"a b", "shift+tab")  # the class word too, back to the trigger
        await pilot.pause()
        assert on_disk(project.root)["class_name"] == "a b"
        await pilot.press("ctrl+a", "backspace", "tab")  # an empty trigger is refused
        await pilot.pause()
        assert app.focused.id == "trigger"  # stays, with the reason in a toast
        assert on_disk(project.root)["trigger"] == "zq_new"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.query_one("#trigger").value == "zq_new"
        await pilot.press("q")


async def test_x_in_the_crop_list_takes_no_tag_off_until_the_user_is_in_the_tags(project):
    tagged_project(project)
    names = [c.name for c in project.crops.items]
    app = OneloraApp(project.root, start_mode="tags")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await to_crop_list(pilot)
        before = tag_states(project.root)
        await pilot.press("x", "g")  # x removes a crop on the crops screen
        await pilot.pause()
        app.flush_project()
        assert tag_states(project.root) == before
        await pilot.press("enter")
        tag = app.screen.query_one(TagChecklist).highlighted_tag()
        await pilot.press("x")
        await pilot.pause()
        app.flush_project()
        assert tag not in tag_states(project.root)[names[0]]
        await pilot.press("q")
