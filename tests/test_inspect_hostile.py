"""`onelora inspect` on malformed, crafted and diverged LoRA files (issue 13): one clear report or
one line, never a traceback, never a raw terminal control sequence."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from engine.cli import main
from engine.lora_file import printable

MODULE = "lora_unet_mid_block_attentions_0_proj_in"
UP, DOWN, ALPHA = f"{MODULE}.lora_up.weight", f"{MODULE}.lora_down.weight", f"{MODULE}.alpha"
CODES = {np.float16: "F16", np.float32: "F32"}


def write_safetensors(path, tensors: dict, metadata=None, *, header_extra: str = "") -> str:
    """A safetensors file written by hand, so a test can put in it what no library would write.
    ``tensors``: name → numpy array (float16/float32) or (code, shape, raw bytes)."""
    entries, blobs, offset = [], [], 0
    for name, t in tensors.items():
        if isinstance(t, np.ndarray):
            t = (CODES[t.dtype.type], list(t.shape), t.tobytes())
        code, shape, raw = t
        entry = {"dtype": code, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        entries.append(f"{json.dumps(name)}: {json.dumps(entry)}")
        blobs.append(raw)
        offset += len(raw)
    if metadata is not None:
        entries.insert(0, f'"__metadata__": {json.dumps(metadata)}')
    header = ("{" + ", ".join(entries) + header_extra + "}").encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"".join(blobs))
    return str(path)


def good_tensors(scale: float = 0.01, dtype=np.float16) -> dict:
    rng = np.random.default_rng(0)
    return {DOWN: (rng.standard_normal((4, 8)) * scale).astype(dtype),
            UP: (rng.standard_normal((8, 4)) * scale).astype(dtype),
            ALPHA: np.array(2.0, dtype)}


def run_inspect(capsys, *args):
    rc = main(["inspect", *map(str, args)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and rc in (0, 2), (rc, out, err)
    return rc, out, err


def test_inspect_reports_malformed_metadata_and_names_what_is_odd(tmp_path, capsys):
    md = {"ss_network_dim": 4, "ss_network_alpha": None, "ss_tag_frequency": "{not json",
          "ss_dataset_dirs": '{"5_zq": "five", "3_x": {"n_repeats": "?", "img_count": [1]}}',
          "ss_datasets": '{"not": "a list"}', "ss_output_name": "zq"}
    path = write_safetensors(tmp_path / "meta.safetensors", good_tensors(), md)
    rc, out, _ = run_inspect(capsys, path)
    assert rc == 0 and "rank / alpha   4 / 2" in out
    assert "'ss_network_dim' is a JSON int, not a string" in out
    assert "'ss_tag_frequency' looks like JSON but does not parse" in out
    assert "'ss_datasets' is not a JSON list" in out
    assert "5_zq: ? × ?" in out  # a non-object entry is shown as unknown, not crashed on
    rc, out, _ = run_inspect(capsys, path, "--json")
    info = json.loads(out)
    assert info["metadata"]["ss_network_dim"] == "4" and info["metadata"]["ss_tag_frequency"] == "{not json"


def test_inspect_survives_tag_counts_that_are_not_numbers(tmp_path, capsys):
    md = {"ss_tag_frequency": json.dumps({"5_zq": {"hat": 3, "bow": "many", "x": None}, "3_y": ["hat"]})}
    rc, out, _ = run_inspect(capsys, write_safetensors(tmp_path / "t.safetensors", good_tensors(), md))
    assert rc == 0 and "5_zq: hat (3)" in out
    assert "ss_tag_frequency['5_zq'] has 2 counts that are not numbers" in out
    assert "ss_tag_frequency['3_y'] is not an object of tag counts" in out
    assert out.count("counts that are not numbers") == 1


@pytest.mark.parametrize("length", [2**63, 10**12, 200_000_000, 64])
def test_inspect_refuses_a_huge_or_lying_header_length_in_one_line(tmp_path, capsys, length):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", length) + b'{"a": 1}')
    rc, out, err = run_inspect(capsys, path)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "huge.safetensors is not a safetensors file" in err


@pytest.mark.parametrize("raw", [b"", b"\x00\x00", struct.pack("<Q", 8) + bytes(range(248, 256)),
                                 struct.pack("<Q", 4) + b"[1] ", struct.pack("<Q", 3) + b"{{{"])
def test_inspect_refuses_garbage_in_one_line(tmp_path, capsys, raw):
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(raw)
    rc, _, err = run_inspect(capsys, path)
    assert rc == 2 and err.count("\n") == 1 and "garbage.safetensors" in err


def test_inspect_of_a_folder_says_so(tmp_path, capsys):
    (tmp_path / "lora.safetensors").mkdir()
    rc, _, err = run_inspect(capsys, tmp_path / "lora.safetensors")
    assert rc == 2 and "is a folder" in err


def test_inspect_reports_unusual_shapes_bad_entries_and_several_alphas(tmp_path, capsys):
    t = good_tensors()
    t[ALPHA] = np.array([2.0, 8.0], np.float16)                                  # several alpha values
    t["lora_unet_a.lora_down.weight"] = np.zeros((4, 8, 2), np.float16)          # 3-D
    t["lora_unet_a.lora_up.weight"] = np.zeros((8, 4), np.float16)
    t["lora_unet_b.lora_down.weight"] = np.zeros((), np.float16)                 # a scalar "matrix"
    t["lora_unet_c.lora_down.weight"] = np.zeros((4, 8), np.float16)
    t["lora_unet_c.lora_up.weight"] = np.zeros((8, 3), np.float16)               # rank mismatch
    t["lora_unet_d.lora_up.weight"] = np.zeros((8, 4), np.float16)               # no down
    t["lora_unet_e.lora_down.weight"] = ("F16", [4, 8], b"\0" * 10)              # too few bytes
    t["lora_unet_f.lora_down.weight"] = ("Q4", [4, 8], b"\0" * 64)               # unknown dtype
    path = write_safetensors(tmp_path / "shapes.safetensors", t,
                             header_extra=', "lora_unet_a.lora_up.weight": {"dtype": "F16", "shape": [8, 4], '
                                          '"data_offsets": [0, 64]}, "lora_unet_g.alpha": "nope"')
    rc, out, _ = run_inspect(capsys, path)
    assert rc == 0
    for words in ("alpha holds 2 values (2, 8); the first is used", "lora_down has shape [4, 8, 2]",
                  "'lora_unet_b': lora_down has shape []", "lora_up shape [8, 3] does not match rank 4",
                  "'lora_unet_d' has lora_up.weight but no lora_down", "10 bytes do not hold a F16",
                  "unknown dtype 'Q4'", "lists 'lora_unet_a.lora_up.weight' more than once",
                  "header entry is not an object"):
        assert words in out, words


def test_inspect_strips_terminal_control_sequences_from_everything_shown(tmp_path, capsys):
    title, clear = "\x1b]0;pwned\x07", "\x1b[2J\x1b[H"
    t = good_tensors()
    t[f"lora_unet_x{clear}.lora_down.weight"] = np.zeros((4, 8), np.float16)
    md = {"ss_output_name": f"{title}nice{clear}", "ss_learning_rate": f"1e-4{clear}\x9b31m\x00\x07",
          f"ss_evil{title}": "v", "ss_tag_frequency": json.dumps({f"5_{clear}zq": {f"hat{title}": 1}}),
          "ss_datasets": json.dumps([{"resolution": [512, 512], "subsets": [{"image_dir": f"{title}img"}]}]),
          "ss_note": "two\nlines\tand\u202etxt.exe"}
    path = write_safetensors(tmp_path / f"x{clear}.safetensors", t, md)
    rc, out, _ = run_inspect(capsys, path, "--all")
    assert rc == 0 and "nice" in out and "learning_rate" in out and "hat (1)" in out
    for bad in ("\x1b", "\x07", "\x9b", "\x00", "\u202e", "]0;", "[2J"):
        assert bad not in out, repr(bad)
    assert "lines\tand" in out  # tab and newline are kept
    rc, out, _ = run_inspect(capsys, path, "--json")
    assert "\x1b" not in out and "\x07" not in out  # JSON escapes them
    missing = tmp_path / f"gone{title}.safetensors"
    rc, out, err = run_inspect(capsys, missing)
    assert rc == 2 and "not found" in err and "\x1b" not in err and "\x07" not in err


def test_printable_removes_csi_osc_and_c1_but_keeps_text():
    assert printable("a\x1b[31mred\x1b[0m b") == "ared b"
    assert printable("x\x1b]0;title\x07y\x1b]8;;http://e\x1b\\z") == "xyz"
    assert printable("é\tü\n\x85\x9b2Jok") == "é\tü\nok"


def test_inspect_flags_implausible_and_nonfinite_weights(tmp_path, capsys):
    t = good_tensors(dtype=np.float32)
    t[UP] = t[UP] * 5e10  # ≈ 5e8: the LR 1e9 run of issue 13
    rc, out, _ = run_inspect(capsys, write_safetensors(tmp_path / "exploded.safetensors", t))
    assert rc == 0 and "implausible:" in out and "every tensor is finite" in out
    rc, out, _ = run_inspect(capsys, tmp_path / "exploded.safetensors", "--json")
    info = json.loads(out)
    assert [x["tensor"] for x in info["implausible"]] == [UP] and info["max_abs_weight"] > 1e8
    assert info["plausible"] is False
    rc, out, _ = run_inspect(capsys, write_safetensors(tmp_path / "fine.safetensors", good_tensors()))
    assert "implausible:" not in out and "(plausible)" in out


def bf16_bytes(values) -> bytes:
    return (np.asarray(values, np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()


def test_inspect_reads_bf16_values(tmp_path, capsys):
    down = np.array([[0.5, -0.25], [1.5, 2.0]], np.float32)
    t = {DOWN: ("BF16", [2, 2], bf16_bytes(down)), UP: ("BF16", [2, 2], bf16_bytes(down * 1024)),
         ALPHA: ("BF16", [], bf16_bytes([1.0]))}
    rc, out, _ = run_inspect(capsys, write_safetensors(tmp_path / "bf.safetensors", t), "--json")
    info = json.loads(out)
    assert info["dtypes"] == ["bfloat16"] and info["alpha"] == [1.0] and info["finite"]
    assert info["max_abs_weight"] == 2048.0 and info["implausible"][0]["tensor"] == UP
    t[DOWN] = ("BF16", [2, 2], bf16_bytes([0.5, float("nan"), 1.0, float("inf")]))
    t[UP] = ("BF16", [2, 2], bf16_bytes(down))
    rc, out, _ = run_inspect(capsys, write_safetensors(tmp_path / "bfnan.safetensors", t))
    assert "NO: 1 tensors hold NaN/inf" in out and "implausible:   NaN/inf" in out


def test_inspect_shows_ss_datasets_of_a_dataset_config_lora(tmp_path, capsys):
    datasets = [{"is_dreambooth": True, "batch_size_per_device": 2, "num_train_images": 40,
                 "num_reg_images": 10, "resolution": [768, 512], "enable_bucket": True,
                 "min_bucket_reso": 256, "max_bucket_reso": 1024, "tag_frequency": {},
                 "subsets": [{"img_count": 4, "num_repeats": 10, "color_aug": False, "flip_aug": True,
                              "random_crop": False, "shuffle_caption": True, "keep_tokens": 2,
                              "image_dir": "10_zq girl", "class_tokens": "zq girl", "is_reg": False},
                             {"img_count": 10, "num_repeats": 1, "color_aug": True, "flip_aug": False,
                              "keep_tokens": 0, "image_dir": "1_girl", "is_reg": True}]}]
    path = write_safetensors(tmp_path / "ds.safetensors", good_tensors(),
                             {"ss_datasets": json.dumps(datasets)})
    rc, out, _ = run_inspect(capsys, path)
    assert rc == 0
    assert "dataset 1: resolution 768×512, batch size 2, 40 train / 10 reg images, buckets 256–1024" in out
    assert ("10_zq girl: 10 × 4 images, keep_tokens 2, augment flip aug, shuffled captions, "
            "class zq girl") in out
    assert "1_girl: 1 × 10 reg images, keep_tokens 0, augment color aug" in out
    rc, out, _ = run_inspect(capsys, path, "--json")
    ds = json.loads(out)["datasets"]
    assert ds[0]["batch_size_per_device"] == 2 and ds[0]["subsets"][0]["keep_tokens"] == 2


def test_inspect_fits_80_columns_and_all_lists_every_caption_tag(tmp_path, capsys):
    """Found in a walk: `inspect` printed 90-column lines (modules, tags, metadata) that wrapped
    in an 80-column terminal, and `--all` still cut the tag frequencies at 15, so a caption
    the user made could not be found in the LoRA."""
    tags = {f"tag_{i:02d}": 20 - i for i in range(20)} | {"my_own_caption": 1}
    md = {"ss_tag_frequency": json.dumps({"2_zq girl": tags}),
          "ss_dataset_dirs": json.dumps({"2_zq girl": {"n_repeats": 2, "img_count": 7}}),
          "ss_bucket_info": json.dumps({"buckets": {str(i): {"resolution": [64, 192], "count": 6}
                                                    for i in range(9)}}),
          "modelspec.description": "trained on builtin:tiny — a pipeline check, " * 3}
    path = write_safetensors(tmp_path / "a.safetensors", good_tensors(), md)
    rc, out, _ = run_inspect(capsys, path)
    assert rc == 0
    # (the file's own path is the user's: a long one may wrap, nothing else may)
    assert [line for line in out.splitlines() if len(line) > 80 and str(path) not in line] == []
    assert "my_own_caption" not in out and "6 more (--all)" in out  # the top 15 and a count
    rc, out, _ = run_inspect(capsys, path, "--all")
    assert rc == 0 and "my_own_caption (1)" in out.replace("\n      ", " ")
    assert all(f"tag_{i:02d}" in out for i in range(20))
