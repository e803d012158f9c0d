"""Render engine: `photo` at 9x12 and 24x36 beside the bare libvips pipeline (peers.sh), and the
print lab's output profiles (issue 15) at 24x36 beside the sRGB master of the same run."""
import json
import tempfile

from benchlib import ASO, RUNS, median_of, peer, write

SOURCE = "/usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg"
# The peer is told the exact output size our auto orientation picks (landscape for this photo).
SIZES = [("9x12", "3600x2700"), ("24x36", "10800x7200")]
GOAL = 1.2

rows = []
lines = [f"| size | photo (median of {RUNS}) | peak RSS | vips-pipeline-lzw | peak RSS | ratio | goal ≤ {GOAL}× |",
         "|---|---|---|---|---|---|---|"]
for preset, pixels in SIZES:
    with tempfile.TemporaryDirectory() as out:
        ours = median_of([ASO, "render", SOURCE, "--style", "photo", "--size", preset, "--out", out])
    report = json.loads(ours.pop("last_output"))
    base = peer("vips-pipeline-lzw", SOURCE, pixels)
    ratio = round(ours["wall_s"] / base["wall_s"], 2) if base else None
    rows.append({"size": preset, "ours": ours, "peer": base, "ratio": ratio, "timings_ms": report["timings_ms"]})
    mark = "" if ratio is not None and ratio <= GOAL else " **(misses)**"
    lines.append(f"| {preset} | {ours['wall_s']:.2f} s | {ours['max_rss_mb']:.0f} MB | "
                 f"{base['wall_s']:.2f} s | {base['max_rss_mb']:.0f} MB | {ratio}×{mark} | {'yes' if ratio and ratio <= GOAL else 'no'} |")

# The output profiles: the colour transform (and CMYK's fourth band) on a 24x36 master, each
# beside the sRGB master rendered in the same run.
PROFILE_GOAL = 1.5
srgb = next(row["ours"] for row in rows if row["size"] == "24x36")
lines += ["", f"| 24x36 master | median of {RUNS} | peak RSS | × sRGB | goal ≤ {PROFILE_GOAL}× |", "|---|---|---|---|---|",
          f"| srgb | {srgb['wall_s']:.2f} s | {srgb['max_rss_mb']:.0f} MB | 1.0× | yes |"]
for profile in ("adobe-rgb", "cmyk"):
    with tempfile.TemporaryDirectory() as out:
        ours = median_of([ASO, "render", SOURCE, "--style", "photo", "--size", "24x36", "--output-profile", profile, "--out", out])
    ours.pop("last_output")
    ratio = round(ours["wall_s"] / srgb["wall_s"], 2)
    rows.append({"size": "24x36", "output_profile": profile, "ours": ours, "ratio_to_srgb": ratio})
    lines.append(f"| {profile} | {ours['wall_s']:.2f} s | {ours['max_rss_mb']:.0f} MB | {ratio}×{'' if ratio <= PROFILE_GOAL else ' **(misses)**'} | "
                 f"{'yes' if ratio <= PROFILE_GOAL else 'no'} |")
write("engine", rows, "\n".join(lines))
