"""Render engine: `photo` at 9x12 and 24x36 beside the bare libvips pipeline (peers.sh)."""
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
write("engine", rows, "\n".join(lines))
