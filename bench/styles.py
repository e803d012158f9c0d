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

from benchlib import ASO, PEERS, RUNS, timed, write

SOURCE = "/usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg"
STYLES = ["photo", "watercolor", "oil-painting", "pencil-sketch", "charcoal", "comic", "pop-art", "pointillism", "impressionist"]
SIZES = [("9x12", "3600x2700"), ("24x36", "10800x7200")]
PEER_RUNS = {"9x12": max(1, RUNS), "24x36": min(RUNS, int(os.environ.get("BENCH_PEER_RUNS_LARGE", "1")))}
# Peers slower than this are reported as "> limit": already slower than any of our styles.
PEER_TIMEOUT = {"9x12": 400, "24x36": int(os.environ.get("BENCH_PEER_TIMEOUT_LARGE", "150"))}


def peer_pass(pixels, timeout, results):
    """One run of peers.sh, its wall times and max RSS added to `results` (name → entry). A peer
    cut off by the timeout counts as taking the timeout (a lower bound)."""
    out = subprocess.run(["bash", PEERS, SOURCE, pixels, "--timeout", str(timeout)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True).stdout
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        row = json.loads(line)
        if row["rc"] == 124:
            row["wall_s"], row["max_rss_kb"] = float(timeout), row["max_rss_kb"] or 0
            results.setdefault(row["peer"], {"family": row["family"], "walls": [], "rss": [], "timed_out": True})
        elif row["rc"] != 0 or row["wall_s"] is None:
            continue
        entry = results.setdefault(row["peer"], {"family": row["family"], "walls": [], "rss": [], "timed_out": False})
        entry["walls"].append(row["wall_s"])
        entry["rss"].append(row["max_rss_kb"])


def peer_medians(results):
    return {name: {"family": e["family"], "wall_s": statistics.median(e["walls"]), "max_rss_mb": max(e["rss"]) / 1024,
                   "timed_out": e["timed_out"]}
            for name, e in results.items()}


def seconds(peer):
    return f"> {peer['wall_s']:.0f} s" if peer["timed_out"] else f"{peer['wall_s']:.2f} s"


rows = {}
lines = [f"| style | size | ours (median of {RUNS}) | peak RSS | × photo | fastest peer of its family | ours ÷ peer | goals |",
         "|---|---|---|---|---|---|---|---|"]
for preset, pixels in SIZES:
    # Runs are interleaved (a pass of the peers, then one run of each style, again), so a
    # machine that speeds up or slows down during the suite moves both sides of each ratio
    # alike, instead of only the side measured while it did.
    raw_peers, walls, rss = {}, {style: [] for style in STYLES}, {style: [] for style in STYLES}
    for run in range(RUNS):
        if run < PEER_RUNS[preset]:
            peer_pass(pixels, PEER_TIMEOUT[preset], raw_peers)
        for style in STYLES:
            with tempfile.TemporaryDirectory() as out:
                wall, peak, _ = timed([ASO, "render", SOURCE, "--style", style, "--size", preset, "--seed", "1", "--out", out])
            walls[style].append(wall)
            rss[style].append(peak)
    peer_results = peer_medians(raw_peers)
    ours = {style: {"wall_s": round(statistics.median(walls[style]), 3), "walls": [round(w, 3) for w in walls[style]],
                    "max_rss_mb": round(max(rss[style]) / 1024, 1)} for style in STYLES}
    photo = ours["photo"]["wall_s"]
    for style in STYLES:
        result = ours[style]
        # photo is held to the same pipeline with LZW (what our master is); styles to their family.
        family = [(name, p) for name, p in peer_results.items()
                  if (p["family"] == style and style != "photo") or (style == "photo" and name == "vips-pipeline-lzw")]
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
        peer_text = f"{fastest[0]} {seconds(fastest[1])}" if fastest else "—"
        peer_ratio = f"{result['wall_s'] / fastest[1]['wall_s']:.2f}×" if fastest else "—"
        lines.append(f"| {style} | {preset} | {result['wall_s']:.2f} s | {result['max_rss_mb']:.0f} MB | {ratio_photo:.2f}× | {peer_text} | {peer_ratio} | {verdict} |")
        rows[f"{style}@{preset}"] = {"ours": result, "photo_ratio": ratio_photo, "fastest_peer": fastest}
    rows[f"peers@{preset}"] = peer_results
    lines.append(f"| *peers at {preset}* | | " + "; ".join(f"{n} {seconds(p)}" for n, p in sorted(peer_results.items(), key=lambda x: x[1]['wall_s'])) + " | | | | | |")
write("styles", rows, "\n".join(lines))
