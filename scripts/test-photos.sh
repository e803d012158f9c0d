#!/usr/bin/env bash
# The test suites' photos, made from the small copies in Tests/Fixtures/photos at the sizes the
# tests expect (the original wallpapers' sizes), so no wallpaper package is needed.
#   scripts/test-photos.sh            prints the directory holding NAME.jpg for each photo
# Made once per version of the fixtures and of this script, under $TMPDIR; each file appears
# atomically, so concurrent runs are safe.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fixtures=$root/Tests/Fixtures/photos
version=$(cat "$0" "$fixtures"/*.jpg | sha256sum | cut -c1-12)
out=${TMPDIR:-/tmp}/aso-test-photos-$version
mkdir -p "$out"

# name  source fixture  width  height  options of the JPEG written: as the originals, 4:2:0
# chroma (libvips would write 4:4:4 at this quality) and Huffman tables fitted to the image (the
# padded-file check depends on how far zero bytes decode)
photos=(
    "dune dune 1680 1050 Q=90,subsample_mode=on,optimize_coding"
    "flower flower 2560 1600 Q=90,subsample_mode=on,optimize_coding"
    "storm storm 1920 1280 Q=90,subsample_mode=on,optimize_coding"
    "ladybird ladybird 2560 1600 Q=90,subsample_mode=on,optimize_coding"
    "forest forest 2560 1600 Q=90,subsample_mode=on,optimize_coding"
    "boats boats 2560 1600 Q=90,subsample_mode=on,optimize_coding"
    "portrait portrait 1622 2880 Q=90,subsample_mode=on,optimize_coding"
    "elephants-small elephants 1920 1080 Q=90,subsample_mode=on,optimize_coding"
    # The original is a progressive JPEG, 18 Mpx: above a 10 Mpx limit, below 20 Mpx.
    "elephants elephants 5640 3172 Q=90,subsample_mode=on,optimize_coding,interlace"
)
for entry in "${photos[@]}"; do
    read -r name source width height options <<<"$entry"
    [[ -f $out/$name.jpg ]] && continue
    partial=$out/.$name.$$.jpg
    vips thumbnail "$fixtures/$source.jpg" "$partial[$options,strip]" "$width" --height "$height" --size force
    mv -f "$partial" "$out/$name.jpg"
done
echo "$out"
