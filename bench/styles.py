"""Style catalogue: every style at 9x12 and 24x36 beside the `photo` pipeline and the peer
filters of its family (../shared/bench/peers.sh), all measured in this run.

Goals (issue "The style catalogue"): every style within 3x of `photo` at both sizes, peak RSS
at 24x36 at most 1 GiB, and faster than the fastest peer filter of its family at that size.
"""
import json
import os
import statistics
import subprocess
import tempfile

from benchlib import ASO, PEERS, RUNS, median_of, write

SOURCE = "/usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg"
STYLES = ["photo", "watercolor", "oil-painting", "pencil-sketch", "charcoal", "comic", "pop-art", "pointillism", "impressionist"]
SIZES = [("9x12", "3600x2700"), ("24x36", "10800x7200")]
PEER_RUNS = {"9x12": max(1, RUNS), "24x36": int(os.environ.get("BENCH_PEER_RUNS_LARGE", "1"))}


def peers(pixels, runs):
    """Median wall time and max RSS per peer, from `runs` runs of peers.sh."""
    results = {}
    for _ in range(runs):
        out = subprocess.run(["bash", PEERS, SOURCE, pixels, "--timeout", "400"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
        for line in out.splitlines():
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            if row["rc"] != 0 or row["wall_s"] is None:
                continue
            entry = results.setdefault(row["peer"], {"family": row["family"], "walls": [], "rss": []})
            entry["walls"].append(row["wall_s"])
            entry["rss"].append(row["max_rss_kb"])
    return {name: {"family": e["family"], "wall_s": statistics.median(e["walls"]), "max_rss_mb": max(e["rss"]) / 1024}
            for name, e in results.items()}


rows = {}
lines = [f"| style | size | ours (median of {RUNS}) | peak RSS | × photo | fastest peer of its family | ours ÷ peer | goals |",
         "|---|---|---|---|---|---|---|---|"]
for preset, pixels in SIZES:
    peer_results = peers(pixels, PEER_RUNS[preset])
    ours = {}
    for style in STYLES:
        with tempfile.TemporaryDirectory() as out:
            ours[style] = median_of([ASO, "render", SOURCE, "--style", style, "--size", preset, "--seed", "1", "--out", out])
            ours[style].pop("last_output")
    photo = ours["photo"]["wall_s"]
    for style in STYLES:
        result = ours[style]
        family = [(name, p) for name, p in peer_results.items() if p["family"] == style]
        fastest = min(family, key=lambda item: item[1]["wall_s"]) if family else None
        ratio_photo = result["wall_s"] / photo
        goals = []
        if style != "photo":
            goals.append(("≤ 3× photo", ratio_photo <= 3))
        if preset == "24x36":
            goals.append(("RSS ≤ 1 GiB", result["max_rss_mb"] <= 1024))
        if fastest and style != "photo":
            goals.append(("< peer", result["wall_s"] < fastest[1]["wall_s"]))
        if fastest and style == "photo":
            goals.append(("≤ 1.2× pipeline", result["wall_s"] <= 1.2 * fastest[1]["wall_s"]))
        verdict = ", ".join(f"{name} {'yes' if ok else '**no**'}" for name, ok in goals) or "—"
        peer_text = f"{fastest[0]} {fastest[1]['wall_s']:.2f} s" if fastest else "—"
        peer_ratio = f"{result['wall_s'] / fastest[1]['wall_s']:.2f}×" if fastest else "—"
        lines.append(f"| {style} | {preset} | {result['wall_s']:.2f} s | {result['max_rss_mb']:.0f} MB | {ratio_photo:.2f}× | {peer_text} | {peer_ratio} | {verdict} |")
        rows[f"{style}@{preset}"] = {"ours": result, "photo_ratio": ratio_photo, "fastest_peer": fastest}
    rows[f"peers@{preset}"] = peer_results
    lines.append(f"| *peers at {preset}* | | " + "; ".join(f"{n} {p['wall_s']:.1f} s" for n, p in sorted(peer_results.items(), key=lambda x: x[1]['wall_s'])) + " | | | | | |")
write("styles", rows, "\n".join(lines))
