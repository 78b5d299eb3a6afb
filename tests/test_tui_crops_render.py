"""The crop editor's renderer: half-block cells rendered once, rectangles drawn as overlays,
and the --graphics choice falling back to half-block wherever Kitty/Sixel cannot work."""

from __future__ import annotations

from PIL import Image

from tui.widgets.cells import CellCanvas, Overlay, fit, overlay_patches
from tui.widgets.graphics import guess_protocol, resolve


def two_tone(w=100, h=100) -> Image.Image:
    img = Image.new("RGB", (w, h), (255, 0, 0))
    img.paste((0, 0, 255), (0, h // 2, w, h))
    return img


def text_of(strip) -> str:
    return "".join(seg.text for seg in strip)


def test_half_block_cells_carry_the_upper_and_lower_pixel_colours():
    canvas = CellCanvas(two_tone(), (0, 0, 100, 100), 50, 25)
    assert (canvas.scale, canvas.pw, canvas.ph) == (0.5, 50, 50)
    top, bottom = canvas.pixel_pair(10, 0)
    assert top == (255, 0, 0) and bottom == (255, 0, 0)
    top, bottom = canvas.pixel_pair(10, 24)
    assert top == (0, 0, 255)
    assert text_of(canvas.line(3)) == "▀" * 50
    # runs of equal cells collapse to one segment each
    assert len(list(canvas.strips[3])) == 1


def test_image_is_centred_and_keeps_its_aspect():
    scale, ox, oy, pw, ph = fit((0, 0, 1000, 2000), 80, 20)
    assert ph == 40 and pw == 20 and ox == 30 and oy == 0


def test_rectangle_overlay_draws_edges_where_the_box_is():
    canvas = CellCanvas(two_tone(), (0, 0, 100, 100), 50, 25)
    box = (20, 20, 40, 40)  # view px 10..29 wide, half-rows 10..29 -> cell rows 5..14
    patches = overlay_patches(canvas, [Overlay(box, (255, 255, 0), "crop")])
    assert sorted(patches) == list(range(5, 15))
    side = text_of(canvas.line(8, patches[8]))
    assert side[10] == "▏" and side[29] == "▕" and len(side) == 50
    top = text_of(canvas.line(5, patches[5]))
    assert top[10:30] == "▀" * 20
    bottom = text_of(canvas.line(14, patches[14]))
    assert bottom[10:30] == "▄" * 20  # the bottom edge sits in the lower half of its cell


def test_selected_crop_gets_a_label_and_thick_sides():
    canvas = CellCanvas(two_tone(), (0, 0, 100, 100), 50, 25)
    patches = overlay_patches(canvas, [Overlay((20, 20, 40, 40), (255, 255, 0), "selected",
                                               "face")])
    assert " face " in text_of(canvas.line(5, patches[5]))
    side = text_of(canvas.line(8, patches[8]))
    assert side[10] == "▌" and side[29] == "▐"


def test_overlay_cache_recomputes_only_what_moved():
    canvas = CellCanvas(two_tone(), (0, 0, 100, 100), 50, 25)
    cache: dict = {}
    still = Overlay((0, 0, 50, 50), (0, 255, 0))
    overlay_patches(canvas, [still, Overlay((20, 20, 40, 40), (255, 255, 0))], cache)
    overlay_patches(canvas, [still, Overlay((22, 20, 40, 40), (255, 255, 0))], cache)
    assert len(cache) == 3 and still in cache


def test_graphics_auto_uses_halfblock_inside_tmux_and_on_plain_terminals():
    assert guess_protocol({"TMUX": "/tmp/tmux-0/default,1,0", "TERM": "xterm-kitty"}) == "halfblock"
    assert guess_protocol({"TERM": "xterm-256color"}) == "halfblock"
    assert guess_protocol({"TERM": "xterm-kitty"}) == "kitty"
    assert guess_protocol({"TERM_PROGRAM": "iTerm.app"}) == "sixel"


def test_graphics_override_falls_back_to_halfblock_with_a_reason():
    assert resolve("halfblock") == ("halfblock", "")
    protocol, note = resolve("kitty", interactive=False)
    assert protocol == "halfblock" and "not a terminal" in note
    assert resolve("auto", env={"TMUX": "1"}, interactive=True) == ("halfblock", "")
