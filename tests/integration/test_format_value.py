"""The JSON item's `format` is the value imaging decided when it probed the
body (pl_item.format), for every item whose body reached the decoder: ok
items, failures of every decode kind, and formats it does not decode. It is
never read back from the failure's message: most of these messages do not
name the format at all (an image over --max-pixels, a GIF with bad data),
and the ok items have none.

    test_format_value.py CASE   (meson runs each case as format_value_CASE)
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import (FIXTURE, Fixture, Workspace, check, fetch, main_for, read,  # noqa: E402
                     source_png, tool)


def test_every_item():
    """ok, corrupt, truncated, too_many_pixels, unsupported, not an image, 404."""
    with Workspace() as ws, Fixture(FIXTURE, ws.www) as server:
        source_png(ws, "a.png")
        w = ws.www
        tool("convert", "a.png", "a.jpg", cwd=w)
        tool("cwebp", "-quiet", "-q", "80", "a.png", "-o", "a.webp", cwd=w)
        tool("convert", "a.png", "a.gif", cwd=w)
        tool("convert", "a.png", "-resize", "400x300!", "big.png", cwd=w)
        gif = read(os.path.join(w, "a.gif"))
        # The header and palette intact, the LZW data replaced: corrupt GIF.
        ws.write("bad.gif", gif[:len(gif) // 2] + b"\xff" * (len(gif) - len(gif) // 2))
        webp = read(os.path.join(w, "a.webp"))
        ws.write("cut.webp", webp[:len(webp) // 2])
        ws.write("x.jxl", b"\xff\x0a" + bytes(64))
        # A page that quotes another format's refusal: its bytes are text.
        ws.write("page.html", b"<!DOCTYPE html><p>unsupported format (PNG)</p>")
        want = {
            "a.png": ("ok", None, "PNG"),
            "a.jpg": ("ok", None, "JPEG"),
            "a.webp": ("ok", None, "WebP"),
            "a.gif": ("ok", None, "GIF"),
            "big.png": ("failed", "too_many_pixels", "PNG"),
            "bad.gif": ("failed", "corrupt", "GIF"),
            "cut.webp": ("failed", "truncated", "WebP"),
            "x.jxl": ("failed", "unsupported_format", "JPEG XL"),
            "page.html": ("failed", "not_an_image", None),
            "gone.png?status=404": ("failed", "http_status", None),
        }
        rc, err, items = fetch(ws, server, sorted(want), ["--max-pixels", "100000"])
        check(rc == 1, f"exit {rc}: {err}")
        for name, (status, kind, fmt) in want.items():
            item = items[name]
            got_kind = item["error"]["kind"] if item["error"] else None
            check((item["status"], got_kind) == (status, kind),
                  f"{name}: {item['status']} {item['error']}, want {status} {kind}")
            check(item["format"] == fmt, f"{name}: format {item['format']!r}, want {fmt!r} "
                                         f"(message {item['error'] and item['error']['message']!r})")


if __name__ == "__main__":
    sys.exit(main_for(globals()))
