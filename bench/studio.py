"""Studio style previews (issue 11): every style of a 12 MP photo, cold and cached, through the
service's HTTP API (embedded mode, release binary), beside baselines measured in the same run.

- Cold: a freshly uploaded asset, every style requested at once as the page does (6 connections,
  a browser's per-host limit); wall time until the last preview arrived. Goal: ≤ 4 s in all.
- Cached: the same requests again; median time per preview. Goal: ≤ 50 ms each.
- Baselines: `vips thumbnail` of the same photo to 600 px (decode + shrink, no style: the floor),
  and the `photo` pipeline's own preview at 600 px (the cold time of the photo style alone).

PREVIEW_CONCURRENCY is the default (half the cores) unless BENCH_PREVIEW_CONCURRENCY is set.
"""
import concurrent.futures
import json
import os
import statistics
import subprocess
import tempfile
import time
import urllib.request

from benchlib import RUNS, served, write

PORT = 18091
BASE = f"http://127.0.0.1:{PORT}"
SOURCE = "/usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg"
PHOTO_STYLE = "550e8400-e29b-41d4-a716-446655440008"


def get(path):
    start = time.monotonic()
    with urllib.request.urlopen(BASE + path, timeout=120) as response:
        body = response.read()
        assert response.status == 200, response.status
        cache = response.headers.get("Preview-Cache")
    return time.monotonic() - start, len(body), cache


def upload(photo):
    out = subprocess.run(["curl", "-fsS", "-F", f"file=@{photo}", f"{BASE}/v1/assets"], stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out)["asset_id"]


def previews(asset, styles):
    paths = [f"/v1/assets/{asset}/styles/{style['id']}/preview.jpg" for style in styles]
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(get, paths))
    return time.monotonic() - start, results


with tempfile.TemporaryDirectory() as work:
    # 12 MP: the elephants (5640x3172) scaled to 4619x2598.
    photo = f"{work}/photo12mp.jpg"
    subprocess.run(["vips", "resize", SOURCE, f"{photo}[Q=92]", "0.819"], check=True)
    pixels = subprocess.run(["vipsheader", "-f", "width", photo], stdout=subprocess.PIPE, text=True).stdout.strip(), \
        subprocess.run(["vipsheader", "-f", "height", photo], stdout=subprocess.PIPE, text=True).stdout.strip()
    settings = {}
    if os.environ.get("BENCH_PREVIEW_CONCURRENCY"):
        settings["PREVIEW_CONCURRENCY"] = os.environ["BENCH_PREVIEW_CONCURRENCY"]
    with served(work, PORT, **settings):
        styles = json.loads(urllib.request.urlopen(f"{BASE}/v1/styles").read())
        art = [style for style in styles if style["id"] != PHOTO_STYLE]

        thumbnail = []
        for _ in range(RUNS):
            start = time.monotonic()
            subprocess.run(["vips", "thumbnail", photo, f"{work}/thumb.jpg", "600"], check=True)
            thumbnail.append(time.monotonic() - start)

        cold_all, cold_art, cached, photo_alone, per_style = [], [], [], [], {}
        for _ in range(RUNS):
            # The photo style alone, cold (a new asset each time: nothing cached).
            asset = upload(photo)
            photo_alone.append(get(f"/v1/assets/{asset}/styles/{PHOTO_STYLE}/preview.jpg")[0])
            # The 8 art styles cold, together, on another new asset.
            asset = upload(photo)
            wall, results = previews(asset, art)
            cold_art.append(wall)
            assert all(cache == "miss" for _, _, cache in results)
            # Every style (9 with photo) cold, together.
            asset = upload(photo)
            wall, results = previews(asset, styles)
            cold_all.append(wall)
            for style, (seconds, _, _) in zip(styles, results):
                per_style.setdefault(style["slug"], []).append(seconds)
            # Cached: the same again, one at a time.
            for path_style in styles:
                seconds, _, cache = get(f"/v1/assets/{asset}/styles/{path_style['id']}/preview.jpg")
                assert cache == "hit"
                cached.append(seconds)

median = lambda values: round(statistics.median(values), 3)
rows = {
    "photo_pixels": f"{pixels[0]}x{pixels[1]}",
    "runs": RUNS,
    "preview_concurrency": settings.get("PREVIEW_CONCURRENCY", f"{max(1, (os.cpu_count() or 2) // 2)} (default: half of {os.cpu_count()} cores)"),
    "cold_8_art_styles_s": median(cold_art), "cold_8_art_styles_runs": [round(v, 3) for v in cold_art],
    "cold_all_9_styles_s": median(cold_all), "cold_all_9_styles_runs": [round(v, 3) for v in cold_all],
    "cached_median_ms": round(statistics.median(cached) * 1000, 1), "cached_max_ms": round(max(cached) * 1000, 1),
    "baseline_vips_thumbnail_600_s": median(thumbnail), "baseline_photo_style_preview_s": median(photo_alone),
    "per_style_s_while_all_requested": {slug: median(values) for slug, values in per_style.items()},
}
table = "\n".join(f"| {slug} | {seconds:.2f} |" for slug, seconds in rows["per_style_s_while_all_requested"].items())
markdown = f"""# Studio style previews (median of {RUNS} runs, 12 MP photo {rows['photo_pixels']}, 600 px previews, PREVIEW_CONCURRENCY {rows['preview_concurrency']})

| measure | figure | goal |
|---|---|---|
| 8 art styles, cold, requested together | {rows['cold_8_art_styles_s']:.2f} s | ≤ 4 s |
| all 9 styles (with photo), cold, together | {rows['cold_all_9_styles_s']:.2f} s | — |
| one preview from the cache (median / max) | {rows['cached_median_ms']} ms / {rows['cached_max_ms']} ms | ≤ 50 ms |
| baseline: `vips thumbnail` to 600 px | {rows['baseline_vips_thumbnail_600_s']:.2f} s | — |
| baseline: the `photo` pipeline's preview alone, cold | {rows['baseline_photo_style_preview_s']:.2f} s | — |

Time to each style's answer while all 9 were requested at once (6 connections):

| style | s |
|---|---|
{table}
"""
write("studio", rows, markdown)
